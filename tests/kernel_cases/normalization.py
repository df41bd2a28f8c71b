from kernel_check import KernelCase

# Shapes by kind, so every kind runs under every seed: layer norm's (*, D), batch norm's (N, C, *).
ROWS = {
    "odd": lambda rng: (int(rng.integers(1, 20)), int(rng.integers(1, 40))),
    "one-row": lambda rng: (int(rng.integers(1, 40)),),
    "3d": lambda rng: (int(rng.integers(1, 5)), int(rng.integers(1, 5)), int(rng.integers(1, 30))),
    "wide": lambda rng: (int(rng.integers(1, 4)), int(rng.integers(1030, 2100))),  # rows of several chunks
    "parallel": lambda rng: (int(rng.integers(400, 700)), int(rng.integers(90, 130))),  # the OpenMP path
}
CHANNELS = {
    "odd": lambda rng: (int(rng.integers(2, 6)), int(rng.integers(1, 6)), int(rng.integers(2, 12))),
    "batch1": lambda rng: (1, int(rng.integers(1, 6)), int(rng.integers(2, 30))),
    "2d": lambda rng: (int(rng.integers(2, 70)), int(rng.integers(1, 9))),
    "4d": lambda rng: (int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 9)),
                       int(rng.integers(4, 12))),
    "long": lambda rng: (int(rng.integers(2, 5)), int(rng.integers(1, 4)), int(rng.integers(1030, 2100))),  # chunks
    # the OpenMP paths, for channels shorter and longer than the kernel's switch between layouts
    "parallel-short": lambda rng: (int(rng.integers(400, 600)), int(rng.integers(30, 40)), int(rng.integers(3, 5))),
    "parallel-long": lambda rng: (int(rng.integers(20, 40)), int(rng.integers(3, 7)), int(rng.integers(600, 900))),
}


def _parameters(rng, dtype, size):
    """weight and bias, each present or None (every combination turns up across seeds)."""
    weight = rng.standard_normal(size).astype(dtype) if rng.random() < 0.7 else None
    bias = rng.standard_normal(size).astype(dtype) if rng.random() < 0.7 else None
    return weight, bias


def _input(rng, dtype, shape):
    # an offset mean and a spread that is not 1: the variance must be of the centered values
    return (rng.standard_normal(shape) * rng.uniform(0.5, 3) + rng.uniform(-5, 5)).astype(dtype)


def _forward_args(shape, parameter_axis):
    """(x, weight, bias, eps) of a forward kernel; the parameters are sized by x's last dim (layer
    norm's D) or dim 1 (batch norm's C)."""
    def make(rng, dtype):
        x = _input(rng, dtype, shape(rng))
        return (x, *_parameters(rng, dtype, x.shape[parameter_axis]), float(rng.choice([1e-5, 0.1])))
    return make


def _backward_args(shape, parameter_axis, statistics_axes):
    """(grad, x, mean, rstd, weight, has_bias) of a backward kernel; ``statistics_axes(ndim)``:
    the axes the statistics are over."""
    def make(rng, dtype):
        x, weight, bias, eps = _forward_args(shape, parameter_axis)(rng, dtype)
        axes = statistics_axes(x.ndim)
        mean, rstd = x.mean(axes).reshape(-1), (1 / (x.var(axes) + eps) ** 0.5).astype(dtype).reshape(-1)
        return rng.standard_normal(x.shape).astype(dtype), x, mean, rstd, weight, bias is not None
    return make


def _layer_norm_axes(ndim):
    return ndim - 1


def _batch_norm_axes(ndim):
    return (0,) + tuple(range(2, ndim))


def _update_running_args(shape):
    """(running_mean, running_var, mean, rstd, momentum, eps, correction) of batch norm's running-stat
    update: the statistics of a batch of ``shape`` (N, C, *), and some constant channels (a variance
    of 0 that rounding in rstd must not make negative)."""
    def make(rng, dtype):
        x = _input(rng, dtype, shape(rng))
        x[:, : int(rng.integers(0, 2))] = 1.5
        axes, eps = _batch_norm_axes(x.ndim), float(rng.choice([1e-5, 0.1]))
        mean, rstd = x.mean(axes).astype(dtype), (1 / (x.var(axes) + eps) ** 0.5).astype(dtype)
        running = [rng.standard_normal(mean.shape).astype(dtype), rng.uniform(0.5, 2, mean.shape).astype(dtype)]
        per_channel = x.size // x.shape[1]
        return (*running, mean, rstd, float(rng.choice([0.1, 0.5, 1.0])), eps, per_channel / max(per_channel - 1, 1))
    return make


CASES = (
    [KernelCase("layer_norm_forward", _forward_args(shape, -1), kind) for kind, shape in ROWS.items()]
    + [KernelCase("layer_norm_backward", _backward_args(shape, -1, _layer_norm_axes), kind)
       for kind, shape in ROWS.items()]
    + [KernelCase("batch_norm_forward", _forward_args(shape, 1), kind) for kind, shape in CHANNELS.items()]
    + [KernelCase("batch_norm_backward", _backward_args(shape, 1, _batch_norm_axes), kind)
       for kind, shape in CHANNELS.items()]
    + [KernelCase("update_running_stats", _update_running_args(CHANNELS[kind]), kind, inplace=(0, 1))
       for kind in ("odd", "2d", "4d")]
)
