"""conv2d_forward, conv2d_backward_input and conv2d_backward_weight: random geometries (odd sizes,
asymmetric padding, stride, dilation, groups, batch 1), an empty batch, 1x1 kernels (which skip im2col), height-1
inputs (conv1d), inputs bigger than the windows reach (conv_transpose's output_padding), and one big
enough for the OpenMP path."""
from kernel_check import KernelCase


def _geometry(rng, kind):
    """(batch, groups, in/out channels per group, input size, kernel, stride, padding, dilation)."""
    batch, groups = int(rng.integers(1, 4)), int(rng.choice([1, 1, 2, 3]))
    per_in, per_out = (int(c) for c in rng.integers(1, 4, 2))
    if kind == "pointwise":
        kernel, padding, dilation = (1, 1), ((0, 0), (0, 0)), (1, 1)
    else:
        kernel = tuple(int(k) for k in rng.integers(1, 5, 2))
        padding = tuple((int(b), int(a)) for b, a in rng.integers(0, 4, (2, 2)))
        dilation = tuple(int(d) for d in rng.integers(1, 4, 2))
    stride = tuple(int(s) for s in rng.integers(1, 4, 2))
    if kind == "empty":
        batch = 0
    if kind == "1d":
        kernel, padding, dilation, stride = (1, kernel[1]), ((0, 0), padding[1]), (1, dilation[1]), (1, stride[1])
    if kind == "big":
        batch, groups, per_in, per_out = 4, 1, 8, 5
        kernel, stride, dilation, padding = (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1))
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    # at least one output position: the padded input covers the dilated kernel
    size = [max(int(rng.integers(1, 10)), s - b - a) for s, (b, a) in zip(span, padding)]
    if kind == "1d":
        size[0] = 1
    if kind == "big":
        size = [17, 16]
    output = tuple((n + b + a - s) // st + 1 for n, (b, a), s, st in zip(size, padding, span, stride))
    return batch, groups, per_in, per_out, tuple(size), kernel, stride, padding, dilation, output


def _forward(kind):
    def make(rng, dtype):
        n, g, per_in, per_out, size, kernel, stride, padding, dilation, _ = _geometry(rng, kind)
        x = rng.standard_normal((n, g * per_in, *size)).astype(dtype)
        weight = rng.standard_normal((g * per_out, per_in, *kernel)).astype(dtype)
        bias = rng.standard_normal(g * per_out).astype(dtype) if rng.random() < 0.7 else None
        return x, weight, bias, stride, padding, dilation, g
    return make


def _backward_input(kind):
    def make(rng, dtype):
        n, g, per_in, per_out, size, kernel, stride, padding, dilation, output = _geometry(rng, kind)
        if rng.random() < 0.3:  # rows and columns past the last window's reach get no gradient
            size = tuple(s + int(e) for s, e in zip(size, rng.integers(0, 3, 2)))
        grad = rng.standard_normal((n, g * per_out, *output)).astype(dtype)
        weight = rng.standard_normal((g * per_out, per_in, *kernel)).astype(dtype)
        return grad, weight, size, stride, padding, dilation, g
    return make


def _backward_weight(kind):
    def make(rng, dtype):
        n, g, per_in, per_out, size, kernel, stride, padding, dilation, output = _geometry(rng, kind)
        if rng.random() < 0.3:  # an input bigger than the windows reach
            size = tuple(s + int(e) for s, e in zip(size, rng.integers(0, 3, 2)))
        x = rng.standard_normal((n, g * per_in, *size)).astype(dtype)
        grad = rng.standard_normal((n, g * per_out, *output)).astype(dtype)
        return x, grad, kernel, stride, padding, dilation, g
    return make


# "big" sums about a thousand float32 products per output (magnitudes near 30): an implementation
# summing in another order (cuBLAS, per-sample GEMMs) differs from the reference by up to ~1e-4 there
CASES = [KernelCase(op, make(kind), name=kind, atol=1e-4 if kind == "big" else None)
         for op, make in (("conv2d_forward", _forward), ("conv2d_backward_input", _backward_input),
                          ("conv2d_backward_weight", _backward_weight))
         for kind in ("general", "pointwise", "1d", "empty", "big")]
