"""pytest-benchmark suite: each op's forward+backward in ember and in PyTorch, grouped per op so
the report puts them side by side.

    pytest bench/ --benchmark-enable --benchmark-group-by=param:name --benchmark-columns=median,ops
"""
import numpy as np
import pytest

import ember
from ember.bench.ops import SIZES, op_table

torch = pytest.importorskip("torch")
LIBS = {"ember": ember, "torch": torch}
TABLE = op_table()


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lib", list(LIBS))
@pytest.mark.parametrize("name", list(TABLE))
def test_forward_backward(benchmark, name, lib, size):
    make, fn = TABLE[name]
    module = LIBS[lib]
    inputs = [module.tensor(a, requires_grad=True) for a in make(SIZES[size], np.random.default_rng(0))]
    seed = module.ones_like(fn(module, *inputs))
    benchmark.group = f"{name}-{size}"

    def step():
        fn(module, *inputs).backward(seed)
        for t in inputs:
            t.grad = None

    benchmark(step)


@pytest.mark.parametrize("lib", list(LIBS))
def test_autograd_chain_overhead(benchmark, lib):
    """A chain of 100 mul/add ops on 8x8 tensors: the framework's per-op cost."""
    module = LIBS[lib]
    x = module.tensor(np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32),
                      requires_grad=True)
    w = module.tensor(np.full((8, 8), 0.5, np.float32), requires_grad=True)
    benchmark.group = "chain-100-ops-8x8"

    def step():
        y = x
        for _ in range(50):
            y = y * w + x
        y.sum().backward()
        x.grad = w.grad = None

    benchmark(step)
