"""The CUDA pools (pooling.cu) through CuPy: 2-D max and avg pools over the (H, W) planes of (*, H, W)
arrays, forward and backward, with the signatures and semantics of the NumPy references in
kernels/pooling.py. One thread per output element, except avg_pool2d_backward: one per input element,
summing the windows that cover it (a gather, no atomics).

max_pool2d_backward scatters with atomicAdd instead: it gets only the indices, which repeat where
windows overlap, and no geometry to gather over; the order of the adds varies from run to run, so
float32 gradients may differ in their last bits (the reference sums in float64).
"""
import math


from ..registry import register
from . import runtime

_INSTANTIATIONS = runtime.instantiations("max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward",
                                          "avg_pool2d_backward")


def _launch(kernel, count, *args):
    """pooling.cu's ``kernel`` on ``count`` threads (see ``runtime.launch``)."""
    runtime.launch("pooling", _INSTANTIATIONS, kernel, count, *args)


def _check_geometry(op, kernel, stride, padding, dilation=(1, 1)):
    """The engine checks pool arguments; this keeps a bad direct call from indexing out of bounds."""
    if min(*kernel, *stride, *dilation) < 1 or min(padding) < 0:
        raise ValueError(f"{op}: kernel, stride and dilation must be positive and padding non-negative, got "
                         f"kernel={kernel}, stride={stride}, padding={padding}, dilation={dilation}")


def _planes(array):
    """How many (H, W) planes a (*, H, W) array holds."""
    return math.prod(array.shape[:-2])


def max_pool2d_forward(x, kernel, stride, padding, dilation, output_size):
    """Max pool: x (*, H, W) -> (values (*, Ho, Wo), int64 indices (*, Ho, Wo) into each H * W
    plane). kernel, stride, padding, dilation, output_size: (h, w) pairs."""
    cp = runtime.cupy()
    _check_geometry("max_pool2d_forward", kernel, stride, padding, dilation)
    x = cp.ascontiguousarray(x)
    shape = x.shape[:-2] + tuple(output_size)
    values, indices = cp.empty(shape, x.dtype), cp.empty(shape, cp.int64)
    _launch("max_pool2d_forward", values.size, x, values, indices, _planes(x), *x.shape[-2:], *output_size, *kernel,
            *stride, *padding, *dilation)
    return values, indices


def max_pool2d_backward(grad, indices, input_size):
    """Gradient of max_pool2d_forward: grad (*, Ho, Wo) added at ``indices`` (*, Ho, Wo) into zeros
    (*, H, W), input_size = (H, W); repeated indices (overlapping windows) sum. Indices outside the
    plane (never from max_pool2d_forward) are skipped."""
    cp = runtime.cupy()
    if indices.shape != grad.shape:
        raise ValueError(f"max_pool2d_backward: indices {indices.shape} must have grad's shape {grad.shape}")
    grad, indices = cp.ascontiguousarray(grad), cp.ascontiguousarray(indices, dtype=cp.int64)
    out = cp.zeros(grad.shape[:-2] + tuple(input_size), grad.dtype)
    _launch("max_pool2d_backward", grad.size, grad, indices, out, _planes(grad), math.prod(grad.shape[-2:]),
            math.prod(input_size))
    return out


def avg_pool2d_forward(x, kernel, stride, padding, output_size, count_include_pad, divisor_override):
    """Average pool: x (*, H, W) -> (*, Ho, Wo). kernel, stride, padding, output_size: (h, w)
    pairs; divisor_override: None or a positive int."""
    cp = runtime.cupy()
    _check_geometry("avg_pool2d_forward", kernel, stride, padding)
    x = cp.ascontiguousarray(x)
    out = cp.empty(x.shape[:-2] + tuple(output_size), x.dtype)
    _launch("avg_pool2d_forward", out.size, x, out, _planes(x), *x.shape[-2:], *output_size, *kernel, *stride,
            *padding, int(count_include_pad), divisor_override or 0)
    return out


def avg_pool2d_backward(grad, input_size, kernel, stride, padding, count_include_pad, divisor_override):
    """Gradient of avg_pool2d_forward: each window's grad (*, Ho, Wo) / divisor spread over the
    window, summed into (*, H, W), input_size = (H, W)."""
    cp = runtime.cupy()
    _check_geometry("avg_pool2d_backward", kernel, stride, padding)
    grad = cp.ascontiguousarray(grad)
    out = cp.empty(grad.shape[:-2] + tuple(input_size), grad.dtype)
    _launch("avg_pool2d_backward", out.size, grad, out, _planes(grad), *input_size, *grad.shape[-2:], *kernel,
            *stride, *padding, int(count_include_pad), divisor_override or 0)
    return out


for _op, _function in (("max_pool2d_forward", max_pool2d_forward), ("max_pool2d_backward", max_pool2d_backward),
                       ("avg_pool2d_forward", avg_pool2d_forward), ("avg_pool2d_backward", avg_pool2d_backward)):
    register(_op, "cuda", "cupy", runtime.loader(_function))
