"""ember's engine end to end on an emulated cuda device, without a GPU: tests/test_cuda.py runs in a
subprocess under EMBER_EMULATE_CUDA=1 (tests/conftest.py), where device cuda computes with
tests/cuda_emulator/'s fake CuPy and its kernels run in the CUDA host emulator. Every op's OpCase runs on
cuda against PyTorch on the cpu (forward and input gradients, float32 and float64, contiguous and not),
the cupy kernels against their NumPy references, and LeNet trains on cuda as on the cpu and saves a
state_dict that loads on the cpu.

What this finds: engine and glue code that works on NumPy only (NumPy arrays made for device
tensors, implicit conversions of device arrays, NumPy keywords CuPy lacks, 0-d device arrays where
NumPy gives scalars), before a GPU session does. What it cannot: see tests/test_cuda_emulator.py (the
emulator's limits) and cuda_emulator/cupy_rules.py (which CuPy rules the fake knows).
"""
import os
import pathlib
import re
import subprocess
import sys

import pytest

from cuda_emulator import build

REASON = build.unavailable_reason() or (None if sys.platform.startswith("linux") else
                                        "the CUDA host emulator needs Linux (ucontext fibers, ELF symbols)")
TEST_CUDA = pathlib.Path(__file__).parent / "test_cuda.py"
TEST_GRAPHS = pathlib.Path(__file__).parent / "test_cuda_graphs.py"  # captured training steps

# What the emulated run leaves out, by -k pattern, and why.
EXCLUDED = {
    # kernels against references on arrays that take the emulator's fiber per thread 5 to 40 s each;
    # tests/test_cuda_emulator.py runs these kernels on the cases' smaller seeds
    "softmax_forward-last-dim": "too big to emulate in CI time",
    "softmax_backward-last-dim": "too big to emulate in CI time",
    "layer_norm_forward-parallel": "too big to emulate in CI time",
    "layer_norm_backward-parallel": "too big to emulate in CI time",
    "batch_norm_forward-parallel-short": "too big to emulate in CI time",
    "batch_norm_backward-parallel-short": "too big to emulate in CI time",
}
MIN_PASSED = 1500  # the selection's tests that pass (about 1680): far fewer means the emulation broke


@pytest.mark.slow
@pytest.mark.skipif(REASON is not None, reason=REASON or "")
def test_engine_runs_on_the_emulated_cuda_device(request, tmp_path_factory):
    cache = getattr(request.config, "cache", None)  # kernels built once, kept between runs
    folder = cache.mkdir("cuda_emulator") if cache is not None else tmp_path_factory.mktemp("cuda_emulator")
    selection = " or ".join(EXCLUDED)
    env = dict(os.environ, EMBER_EMULATE_CUDA="1", EMBER_EMULATOR_CACHE=str(folder))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "--tb=short",
                           str(TEST_CUDA), str(TEST_GRAPHS), "-k", f"not ({selection})"],
                          cwd=TEST_CUDA.parent.parent, env=env, capture_output=True, text=True, timeout=900)
    report = done.stdout[-12000:] + done.stderr[-3000:]
    assert done.returncode == 0, f"tests/test_cuda.py and test_cuda_graphs.py on the emulated device failed:\n{report}"
    assert "needs a CUDA GPU" not in done.stdout, f"the emulated device was not installed:\n{report}"
    passed = re.search(r"(\d+) passed", done.stdout)
    assert passed and int(passed.group(1)) >= MIN_PASSED, f"too few tests ran on the emulated device:\n{report}"
