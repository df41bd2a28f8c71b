"""ember's Numba-CUDA kernels match their NumPy references without a GPU: tests/numba_sim/ runs them
under Numba's CUDA simulator, in a fresh process, since NUMBA_ENABLE_CUDASIM must be set before
numba.cuda is first imported. On a real GPU, tests/test_cuda.py runs them through the registry."""
import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("numba_cuda") is None,
                    reason="numba-cuda is not installed (pip install numba-cuda)")
def test_numba_kernels_match_references_in_the_simulator():
    here = pathlib.Path(__file__).parent
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
                           str(here.parent), str(here / "numba_sim" / "simulated_kernels.py")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and " skipped" not in done.stdout, done.stdout[-2000:]
