"""(being written: kernels of the softmax family)"""
