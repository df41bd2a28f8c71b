"""ember's Numba-CUDA kernels (ember.kernels.numba_cuda) against their NumPy references, run by
Numba's CUDA simulator on NumPy arrays: the cases of tests/kernel_cases/ at the seeds that draw
small arguments, contiguous and not, float32 and float64. tests/test_numba_simulator.py runs this
file in a process with NUMBA_ENABLE_CUDASIM=1, which must be set before numba.cuda is first
imported."""
import itertools
import os
import pathlib
import sys

import numpy as np
import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
    pytest.skip("run by tests/test_numba_simulator.py, with NUMBA_ENABLE_CUDASIM=1", allow_module_level=True)

sys.path.insert(0, str(pathlib.Path(__file__).parents[1]))  # the harness, in tests/
from kernel_check import check_against_reference, load_cases  # noqa: E402

from ember.kernels import registry  # noqa: E402
from ember.kernels.numba_cuda import KERNELS  # noqa: E402
from ember.kernels.numba_cuda.arrays import block, row_threads  # noqa: E402

# The simulator runs every GPU thread as a Python thread, and its block manager polls them for
# syncthreads() holding the GIL: switching every 0.5 ms instead of 5 ms runs the row reductions
# several times faster.
sys.setswitchinterval(5e-4)

# small seeds per case: 6 to meet the pools' geometries (padding, ceil_mode, divisors), 2 for the
# row reductions, whose synchronising threads cost the simulator ten times more
SEEDS, ROW_SEEDS = 6, 2
SEARCHED = 50      # seeds tried to find them


def _small(op, args):
    """Cheap to simulate: at most 512 array elements, and for the row reductions (a synchronising
    block per row) at most 256 threads in all."""
    arrays = [a for a in args if isinstance(a, np.ndarray)]
    if sum(a.size for a in arrays) > 512:
        return False
    if "softmax" in op:
        x, dim = arrays[0], args[-1]
        return x.size // x.shape[dim] * row_threads(x.shape[dim]) <= 256
    return True


def _small_seeds(case):
    """The first seeds at which ``case`` draws small arguments in every dtype."""
    seeds = (seed for seed in range(SEARCHED)
             if all(_small(case.op, case.make(np.random.default_rng(seed), dtype)) for dtype in case.dtypes))
    return list(itertools.islice(seeds, ROW_SEEDS if "softmax" in case.op else SEEDS))


def _simulated():
    """(case, its small seeds) for every case of a Numba kernel that has some ('big' cases have none)."""
    with_seeds = [(case, _small_seeds(case)) for case in load_cases() if case.op in KERNELS]
    return [(case, seeds) for case, seeds in with_seeds if seeds]


SIMULATED = _simulated()


def test_every_numba_kernel_has_small_cases():
    assert {case.op for case, _ in SIMULATED} == set(KERNELS)


@pytest.mark.parametrize("case,seeds", SIMULATED, ids=[case.id for case, _ in SIMULATED])
@pytest.mark.parametrize("layout", ["contiguous", "noncontiguous"])
def test_kernel_matches_reference(case, seeds, layout):
    check_against_reference(case, KERNELS[case.op], registry.implementation(case.op, "cpu", "numpy"), layout,
                            seeds, "numba simulated")


@pytest.mark.parametrize("op", ["softmax_forward", "log_softmax_forward", "softmax_backward", "log_softmax_backward"])
def test_row_reductions_of_rows_longer_than_a_block(op):
    """Each thread strides over several elements of its row (the cases' rows fit in a block here)."""
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((2, 2 * block() + 3)) for _ in range(1 if op.endswith("forward") else 2)]
    expected = registry.implementation(op, "cpu", "numpy")(*arrays, 1)
    np.testing.assert_allclose(KERNELS[op](*arrays, 1), expected, rtol=1e-10, atol=1e-12)


def test_simulated_kernels_do_not_serve_ember():
    for op in KERNELS:
        with pytest.raises(RuntimeError, match="simulator"):
            registry.implementation(op, "cuda", "numba")
