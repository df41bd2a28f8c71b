"""(being written: kernels of the embedding family)"""
