"""ember's Numba-CUDA kernels (``@numba.cuda.jit``): elementwise activations and erf, softmax and
log_softmax, 2-D max and avg pools. They take CuPy arrays on a GPU, and NumPy arrays under Numba's
CUDA simulator (NUMBA_ENABLE_CUDASIM=1), where tests run them; they serve ember only on a real GPU.

Importing registers them on device ``cuda`` as implementation ``numba``; numba.cuda is imported,
and each kernel compiled, on first use.
"""
from . import elementwise, pooling, softmax

# op -> the glue function, callable without the registry (the simulator tests call these)
KERNELS = {**elementwise.KERNELS, **softmax.KERNELS, **pooling.KERNELS}
