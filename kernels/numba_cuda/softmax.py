"""Numba-CUDA kernels of softmax and log_softmax, forward and backward, along any dim: the glue moves
``dim`` last and makes the arrays C-contiguous (rows, n); one block per row then reduces it with a
shared-memory tree. Each takes and returns what its NumPy reference does (kernels/softmax.py)."""
import functools
import math

from ..registry import register
from . import arrays


# numba.cuda, imported by _kernels on first use (ember imports without it). The kernels name it as
# a module global because Numba's simulator runs them by swapping a fake module into that global.
cuda = None


@functools.cache
def _kernels(dtype):
    """The forward and backward kernels, ``(out, *inputs, log)`` on (rows, n) arrays of ``dtype``
    (log_softmax's when ``log``, else softmax's), launched with one block per row and a power of
    two of threads, at most ``arrays.block()``."""
    import numba
    global cuda
    from numba import cuda

    scalar, width = numba.from_dtype(dtype), arrays.block()
    zero, minus_inf = dtype.type(0), dtype.type(-math.inf)

    @cuda.jit(device=True)
    def larger(a, b):
        return b if b > a or b != b else a  # a NaN wins, as in NumPy's max

    @cuda.jit(device=True)
    def add(a, b):
        return a + b

    def block_reduction(combine):
        @cuda.jit(device=True)
        def reduce(value, shared):
            """``combine`` of every thread's ``value``, returned to every thread of the block."""
            t = cuda.threadIdx.x
            shared[t] = value
            cuda.syncthreads()
            step = cuda.blockDim.x // 2
            while step > 0:
                if t < step:
                    shared[t] = combine(shared[t], shared[t + step])
                cuda.syncthreads()
                step //= 2
            result = shared[0]
            cuda.syncthreads()  # all have read shared[0] before the next reduction writes it
            return result
        return reduce

    block_max, block_sum = block_reduction(larger), block_reduction(add)

    @cuda.jit(device=True)
    def max_and_exp_sum(x, row, shared):
        """m = max(x[row]) and sum(exp(x[row] - m)): exp cannot overflow. A row that is all -inf
        or holds +inf gives NaN, as in PyTorch."""
        best = minus_inf
        for i in range(cuda.threadIdx.x, x.shape[1], cuda.blockDim.x):
            best = larger(best, x[row, i])
        best = block_max(best, shared)
        total = zero
        for i in range(cuda.threadIdx.x, x.shape[1], cuda.blockDim.x):
            total += math.exp(x[row, i] - best)
        return best, block_sum(total, shared)

    @cuda.jit
    def forward(out, x, log):
        # softmax: exp(x - m) / sum(exp(x - m)); log_softmax: x - m - log(sum(exp(x - m))), m = max(x)
        row = cuda.blockIdx.x
        shared = cuda.shared.array(width, scalar)
        best, total = max_and_exp_sum(x, row, shared)
        log_total = math.log(total)
        for i in range(cuda.threadIdx.x, x.shape[1], cuda.blockDim.x):
            out[row, i] = (x[row, i] - best) - log_total if log else math.exp(x[row, i] - best) / total

    @cuda.jit
    def backward(out, y, grad, log):
        # d softmax: y * (grad - sum(grad * y)); d log_softmax: grad - exp(y) * sum(grad)
        row = cuda.blockIdx.x
        shared = cuda.shared.array(width, scalar)
        total = zero
        for i in range(cuda.threadIdx.x, y.shape[1], cuda.blockDim.x):
            total += grad[row, i] if log else grad[row, i] * y[row, i]
        total = block_sum(total, shared)
        for i in range(cuda.threadIdx.x, y.shape[1], cuda.blockDim.x):
            out[row, i] = grad[row, i] - math.exp(y[row, i]) * total if log else y[row, i] * (grad[row, i] - total)

    return {"forward": forward, "backward": backward}


def _along_dim(op, kernel, log):
    """The glue of ``op``: ``(*arrays, dim)`` as its reference takes them -> a new C-contiguous
    array of the arrays' shape and dtype. ``kernel`` ('forward' or 'backward') sees them as
    C-contiguous (rows, n) arrays with ``dim`` moved last."""
    def run(*args):
        *inputs, dim = args
        dtype = arrays.float_dtype(inputs[0], op)
        xp = arrays.library(inputs[0])
        moved = [xp.moveaxis(a, dim, -1) for a in inputs]
        shape = moved[0].shape
        count, n = math.prod(shape[:-1]), shape[-1]
        rows = [xp.ascontiguousarray(a).reshape(count, n) for a in moved]
        out = xp.empty((count, n), dtype)
        if out.size:
            _kernels(dtype)[kernel][count, arrays.row_threads(n)](out, *rows, log)
        return xp.ascontiguousarray(xp.moveaxis(out.reshape(shape), -1, dim))
    return run


KERNELS = {f"{name}_{kernel}": _along_dim(f"{name}_{kernel}", kernel, name == "log_softmax")
           for name in ("softmax", "log_softmax") for kernel in ("forward", "backward")}

for _op, _function in KERNELS.items():
    register(_op, "cuda", "numba", arrays.loader(_function))
