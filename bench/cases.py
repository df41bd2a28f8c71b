"""What ``ember bench`` times: kernels at sizes typical of small CNNs and RNNs, and single ops; on
cuda also elementwise and reduction kernels at sizes far beyond the GPU's L2 cache, whose effective
bandwidth is set against the device's copy bandwidth.

A ``Case`` is written once for both libraries and both devices: ``build(lib, *tensors)`` gets
``ember`` or ``torch`` and the inputs as that library's tensors on the benchmarked device, and
returns the function to time (it returns the output); modules it makes go to its inputs' device.
Float inputs require grad, so forward+backward times the backward kernels too; integer inputs
(class indices, token ids) do not.
"""
import dataclasses
from typing import Callable, Optional

import numpy as np


@dataclasses.dataclass
class Case:
    """One timed computation. ``kernel``: the registry kernel name whose implementations are raced
    (``ember.kernels.use(kernel=name)``); None where ember has one path (e.g. NumPy's GEMM).
    ``memory_bound``: an elementwise or reduction computation, whose forward's speed is its bytes
    read and written per second (reported on cuda, next to the copy bandwidth). ``cuda_variants``:
    other ways ember runs the case on cuda, name -> build (a model step replayed from a CUDA graph)."""
    group: str
    shape: str
    make: Callable        # rng -> list of numpy arrays
    build: Callable       # (lib, *tensors) -> () -> output tensor
    kernel: Optional[str] = None
    modes: tuple = ("fwd", "fwd+bwd")
    memory_bound: bool = False
    cuda_variants: dict = dataclasses.field(default_factory=dict)

    @property
    def key(self):
        return f"{self.group} {self.shape}"


def normal(*shape):
    return lambda rng: rng.standard_normal(shape).astype(np.float32)


def arrays(*makers):
    return lambda rng: [make(rng) for make in makers]


def labels(classes, *shape):
    return lambda rng: rng.integers(0, classes, shape)


def functional(lib):
    return lib.nn.functional


def _conv2d(x_shape, w_shape, **options):
    return Case("conv2d", f"x{x_shape} w{w_shape}" + "".join(f" {k}={v}" for k, v in options.items()),
                arrays(normal(*x_shape), normal(*w_shape), normal(w_shape[0])),
                lambda lib, x, w, b: lambda: functional(lib).conv2d(x, w, b, **options), "conv2d")


def _conv1d(x_shape, w_shape, **options):
    return Case("conv1d", f"x{x_shape} w{w_shape}" + "".join(f" {k}={v}" for k, v in options.items()),
                arrays(normal(*x_shape), normal(*w_shape), normal(w_shape[0])),
                lambda lib, x, w, b: lambda: functional(lib).conv1d(x, w, b, **options), "conv2d")


def _pool(kind, x_shape, kernel_size, **options):
    op = f"{kind}_pool2d"
    return Case(op, f"x{x_shape} k={kernel_size}" + "".join(f" {k}={v}" for k, v in options.items()),
                arrays(normal(*x_shape)),
                lambda lib, x: lambda: getattr(functional(lib), op)(x, kernel_size, **options), op)


def _rowwise(op, shape):
    return Case(op, f"x{shape} dim=-1", arrays(normal(*shape)),
                lambda lib, x: lambda: getattr(functional(lib), op)(x, dim=-1), op, memory_bound=True)


def _cross_entropy(rows, classes):
    return Case("cross_entropy", f"logits({rows}, {classes})",
                arrays(normal(rows, classes), labels(classes, rows)),
                lambda lib, x, t: lambda: functional(lib).cross_entropy(x, t), "cross_entropy", memory_bound=True)


def _layer_norm(shape):
    d = shape[-1]
    return Case("layer_norm", f"x{shape} over {d}", arrays(normal(*shape), normal(d), normal(d)),
                lambda lib, x, w, b: lambda: functional(lib).layer_norm(x, (d,), w, b), "layer_norm",
                memory_bound=True)


def _batch_norm(shape):
    c = shape[1]
    return Case("batch_norm", f"x{shape} train", arrays(normal(*shape), normal(c), normal(c)),
                lambda lib, x, w, b: lambda: functional(lib).batch_norm(x, None, None, w, b, training=True),
                "batch_norm", memory_bound=True)


def _cell(kind, batch, inputs, hidden):
    cell_class = {"lstm": "LSTMCell", "gru": "GRUCell"}[kind]

    def build(lib, x, h, c):
        lib.manual_seed(0)
        cell = getattr(lib.nn, cell_class)(inputs, hidden).to(x.device)
        return (lambda: sum(cell(x, (h, c)))) if kind == "lstm" else (lambda: cell(x, h))
    return Case(f"{kind}_cell", f"N={batch} I={inputs} H={hidden}",
                arrays(normal(batch, inputs), normal(batch, hidden), normal(batch, hidden)), build,
                f"{kind}_cell")


def _embedding(vocab, dim, ids_shape):
    return Case("embedding", f"weight({vocab}, {dim}) ids{ids_shape}",
                arrays(normal(vocab, dim), labels(vocab, *ids_shape)),
                lambda lib, w, ids: lambda: functional(lib).embedding(ids, w), "embedding")


def _activation(op, shape):
    return Case(op, f"x{shape}", arrays(normal(*shape)),
                lambda lib, x: lambda: getattr(functional(lib), op)(x), op, memory_bound=True)


def _matmul(m, k, n):
    return Case("matmul", f"({m}, {k}) @ ({k}, {n})", arrays(normal(m, k), normal(k, n)),
                lambda lib, a, b: lambda: a @ b)


# Elementwise and reduction sizes for the GPU: 32M float32 elements, 128 MB an array, so the traffic
# streams from device memory (an H100 has 50 MB of L2) and the launch cost is negligible.
LARGE = (8192, 4096)


def kernel_cases(device="cpu"):
    """Every kernel ember has its own implementations of, plus the GEMM everything else rests on; on
    cuda also the memory-bound ones at ``LARGE`` sizes and bigger GEMMs."""
    large = [
        _matmul(4096, 4096, 4096), _matmul(8192, 8192, 8192),
        _activation("relu", LARGE), _activation("gelu", LARGE),
        _rowwise("softmax", LARGE), _rowwise("log_softmax", LARGE), _cross_entropy(*LARGE),
        _layer_norm(LARGE), _batch_norm((128, 64, 64, 64)),
    ] if device == "cuda" else []
    return [
        _matmul(64, 784, 256), _matmul(256, 256, 256), _matmul(1024, 1024, 1024),
        _conv2d((64, 1, 28, 28), (6, 1, 5, 5), padding=2),
        _conv2d((64, 6, 14, 14), (16, 6, 5, 5)),
        _conv2d((64, 3, 32, 32), (32, 3, 3, 3), padding=1),
        _conv2d((64, 32, 16, 16), (64, 32, 3, 3), padding=1),
        _conv2d((32, 64, 16, 16), (128, 64, 3, 3), stride=2, padding=1),
        _conv1d((32, 64, 128), (64, 64, 3), padding=1),
        _pool("max", (64, 6, 28, 28), 2), _pool("max", (64, 32, 32, 32), 2),
        _pool("max", (32, 64, 56, 56), 3, stride=2, padding=1),
        _pool("avg", (64, 16, 10, 10), 2), _pool("avg", (64, 32, 32, 32), 2),
        _rowwise("softmax", (256, 1000)), _rowwise("softmax", (64, 128, 256)),
        _rowwise("log_softmax", (256, 1000)), _rowwise("log_softmax", (64, 128, 256)),
        _cross_entropy(64, 10), _cross_entropy(256, 1000), _cross_entropy(2048, 65),
        _layer_norm((32, 64, 128)), _layer_norm((64, 128, 256)),
        _batch_norm((64, 128)), _batch_norm((64, 6, 28, 28)), _batch_norm((64, 32, 32, 32)),
        _cell("lstm", 32, 64, 128), _cell("lstm", 64, 512, 512),
        _cell("gru", 32, 64, 128), _cell("gru", 64, 512, 512),
        _embedding(65, 64, (32, 64)), _embedding(10000, 128, (64, 128)),
        _activation("relu", (64, 256)), _activation("relu", (1024, 1024)),
        _activation("gelu", (64, 256)), _activation("gelu", (1024, 1024)),
    ] + large


def _op(group, make, run, shape, memory_bound=True):
    return Case(group, str(shape), make, run, memory_bound=memory_bound)


def op_cases(device="cpu"):
    """Single ops at a small and a medium size (on cuda also at ``LARGE``), and a chain of 100 tiny
    ops (the per-op cost of the autograd machinery itself)."""
    cases = []
    for shape in ((64, 64), (1024, 1024)) + ((LARGE,) if device == "cuda" else ()):
        x, y, positive = normal(*shape), normal(*shape), lambda rng, shape=shape: np.abs(normal(*shape)(rng)) + 0.5
        unary = {"exp": lambda a: a.exp(), "tanh": lambda a: a.tanh(), "sigmoid": lambda a: a.sigmoid(),
                 "sum": lambda a: a.sum(), "sum_dim": lambda a: a.sum(dim=1), "mean": lambda a: a.mean(dim=0),
                 "max_dim": lambda a: a.max(dim=1)[0], "var": lambda a: a.var(dim=1),
                 "logsumexp": lambda a: a.logsumexp(dim=1), "pow2": lambda a: a ** 2}
        copies = {"transpose": lambda a: a.transpose(0, 1).contiguous(), "getitem": lambda a: a[1::2]}
        binary = {"add": lambda a, b: a + b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b}
        for name, fn in unary.items():
            cases.append(_op(name, arrays(x), lambda lib, a, fn=fn: lambda: fn(a), shape))
        for name, fn in copies.items():
            cases.append(_op(name, arrays(x), lambda lib, a, fn=fn: lambda: fn(a), shape, memory_bound=False))
        cases.append(_op("log", lambda rng: [positive(rng)], lambda lib, a: lambda: a.log(), shape))
        for name, fn in binary.items():
            cases.append(_op(name, arrays(x, positive), lambda lib, a, b, fn=fn: lambda: fn(a, b), shape))
        cases.append(_op("add_broadcast", arrays(x, normal(shape[-1])), lambda lib, a, b: lambda: a + b, shape))
        cases.append(_op("cat", arrays(x, y), lambda lib, a, b: lambda: lib.cat([a, b], dim=0), shape,
                         memory_bound=False))
        cases.append(_op("mse_loss", arrays(x, y),
                         lambda lib, a, b: lambda: functional(lib).mse_loss(a, b), shape))
    cases.append(Case("chain", "100 mul/add on (8, 8)", arrays(normal(8, 8), lambda rng: np.full((8, 8), 0.5, np.float32)),
                      _chain))
    return cases


def _chain(lib, x, w):
    def run():
        y = x
        for _ in range(50):
            y = y * w + x
        return y
    return run
