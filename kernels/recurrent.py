"""(being written: kernels of the recurrent family)"""
