"""pytest-benchmark suite over the same cases as ``ember bench``: every kernel (each of ember's
available implementations, and PyTorch), the zoo models' training steps and single ops, grouped per
case so the report puts ember and PyTorch side by side.

    pytest bench/ --benchmark-enable --benchmark-group-by=group --benchmark-columns=median,ops
    pytest bench/ --benchmark-enable -k "conv2d and fwd+bwd"

Both libraries run in this one process (``ember bench`` separates them): pass ``-k ember`` or
``-k torch`` to time one library without the other's thread pools in the way.
"""
import contextlib

import numpy as np
import pytest

import ember
from ember.bench.race import implementations, suites, tensors, timed_function

torch = pytest.importorskip("torch")


def _params():
    for case in [case for cases in suites().values() for case in cases]:
        for mode in case.modes:
            for name in implementations(case.kernel) + ["torch"]:
                yield pytest.param(case, mode, name, id=f"{case.key}-{mode}-{name}")


@pytest.mark.parametrize("case,mode,implementation", _params())
def test_benchmark(benchmark, case, mode, implementation):
    lib = torch if implementation == "torch" else ember
    inputs = tensors(lib, case.make(np.random.default_rng(0)))
    forced = lib is ember and case.kernel is not None
    benchmark.group = f"{case.key} {mode}"
    with ember.kernels.use(**{case.kernel: implementation}) if forced else contextlib.nullcontext():
        benchmark(timed_function(lib, case.build(lib, *inputs), mode, inputs))
