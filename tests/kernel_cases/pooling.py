"""2-D max and avg pools: random geometries (kernel, stride, padding, dilation, ceil_mode output
sizes, odd and tiny planes, batch 1), the 2x2 stride-2 layer with even and odd planes, and batches
big enough for the OpenMP path. Max pool inputs are full of ties, NaN and -inf."""
import numpy as np

from kernel_check import KernelCase


def _output(size, kernel, stride, padding, dilation, ceil_mode):
    """PyTorch's pool output size along one dim."""
    out = (size + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)) // stride + 1
    return out - 1 if ceil_mode and (out - 1) * stride >= size + padding else out


def _geometry(rng, style, dilated):
    """(batch shape, input size, kernel, stride, padding, dilation, output size) of a valid pool."""
    while True:
        if style == "2x2":
            kernel, stride, padding, dilation = (2, 2), (2, 2), (0, 0), (1, 1)
            ceil_mode = bool(rng.random() < 0.5)  # with odd sizes, a last window half outside
        else:
            kernel = tuple(int(k) for k in rng.integers(1, 5, 2))
            stride = tuple(int(s) for s in rng.integers(1, 4, 2))
            dilation = tuple(int(d) for d in rng.integers(1, 4, 2)) if dilated else (1, 1)
            padding = tuple(int(rng.integers(0, (d * (k - 1) + 1) // 2 + 1)) for k, d in zip(kernel, dilation))
            ceil_mode = bool(rng.random() < 0.5)
        size = tuple(int(s) for s in rng.integers(1, 14, 2))
        batch = tuple(int(b) for b in rng.integers(1, 5, int(rng.integers(1, 4))))  # (*, H, W)
        if style == "big":  # past ember.kernels' OpenMP threshold
            batch, size = (int(rng.integers(2, 5)), 33), (int(rng.integers(40, 61)), int(rng.integers(40, 61)))
        output = tuple(_output(*dim, ceil_mode) for dim in zip(size, kernel, stride, padding, dilation))
        if min(output) >= 1:
            return batch, size, kernel, stride, padding, dilation, output


def _max_input(rng, shape, dtype):
    """Small integers (so windows tie), with some NaN and -inf."""
    x = rng.integers(-3, 4, shape).astype(dtype)
    x[rng.random(shape) < 0.05] = np.nan
    x[rng.random(shape) < 0.1] = -np.inf
    return x


def _max_forward(style, dilated=True):
    def make(rng, dtype):
        batch, size, kernel, stride, padding, dilation, output = _geometry(rng, style, dilated)
        return _max_input(rng, batch + size, dtype), kernel, stride, padding, dilation, output
    return KernelCase("max_pool2d_forward", make, style)


def _max_backward(style):
    def make(rng, dtype):
        batch, size, _, _, _, _, output = _geometry(rng, style, True)
        indices = rng.integers(0, size[0] * size[1], batch + output)  # repeats: overlapping windows
        return rng.standard_normal(batch + output).astype(dtype), indices, size
    return KernelCase("max_pool2d_backward", make, style)


def _avg_rule(rng):
    return bool(rng.random() < 0.5), None if rng.random() < 0.6 else int(rng.integers(1, 10))


def _avg_forward(style):
    def make(rng, dtype):
        batch, size, kernel, stride, padding, _, output = _geometry(rng, style, False)
        return (rng.standard_normal(batch + size).astype(dtype), kernel, stride, padding, output) + _avg_rule(rng)
    return KernelCase("avg_pool2d_forward", make, style)


def _avg_backward(style):
    def make(rng, dtype):
        batch, size, kernel, stride, padding, _, output = _geometry(rng, style, False)
        return (rng.standard_normal(batch + output).astype(dtype), size, kernel, stride, padding) + _avg_rule(rng)
    return KernelCase("avg_pool2d_backward", make, style)


def _max_of_planes_inside_dilation():
    """Dilated windows that step over a whole thin input: -inf, at a position kept inside."""
    def make(rng, dtype):
        return (_max_input(rng, (2, 3, 1, int(rng.integers(4, 7))), dtype), (2, 2), (3, 2), (1, 0), (2, 1),
                (1, 2))
    return KernelCase("max_pool2d_forward", make, "window-reads-nothing")


STYLES = ("any", "2x2", "big")
CASES = ([_max_forward(style) for style in STYLES] + [_max_forward("undilated", dilated=False)]
         + [_max_of_planes_inside_dilation()] + [_max_backward(style) for style in STYLES]
         + [_avg_forward(style) for style in STYLES] + [_avg_backward(style) for style in STYLES])
