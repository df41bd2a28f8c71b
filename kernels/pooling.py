"""(being written: kernels of the pooling family)"""
