"""(being written: kernels of the conv family)"""
