"""(being written: kernels of the activation family)"""
