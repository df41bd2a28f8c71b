"""(being written: kernels of the normalization family)"""
