"""The engine ops that have C++ kernels pass their tests on the NumPy kernels alone too, as on a
machine without a compiler (EMBER_DISABLE_EXTENSION=1, in a fresh process: the choice is made at
import)."""
import os
import pathlib
import subprocess
import sys

import pytest

# the test modules of every op family that dispatches to kernels with a C++ implementation
KERNEL_BACKED = ["test_kernels.py", "test_conv.py", "test_pooling.py", "test_nn_ops.py", "test_losses.py",
                 "test_normalization.py", "test_rnn.py", "test_activations.py", "test_optim.py", "test_quantize.py"]


@pytest.mark.slow
def test_kernel_backed_ops_pass_on_numpy_kernels_alone():
    here = pathlib.Path(__file__).parent
    env = {k: v for k, v in os.environ.items() if k != "EMBER_REQUIRE_EXTENSION"}
    env["EMBER_DISABLE_EXTENSION"] = "1"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "--rootdir",
                           str(here.parent), *[str(here / name) for name in KERNEL_BACKED]],
                          env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
