"""EMBER_EMULATE_CUDA=1 runs the session with the CUDA host emulator as ember's cuda device
(tests/cuda_emulator/): tests/test_cuda.py then runs the engine end to end on it, without a GPU, with
PyTorch on the cpu as the reference (tests/test_emulated_device.py does, in CI). Kernels are built into
EMBER_EMULATOR_CACHE, or pytest's cache, or a temporary folder."""
import os
import tempfile

import pytest

_patch = pytest.MonkeyPatch()


def pytest_configure(config):
    if os.environ.get("EMBER_EMULATE_CUDA") != "1":
        return
    import cuda_emulator
    cache = getattr(config, "cache", None)  # None under -p no:cacheprovider
    folder = os.environ.get("EMBER_EMULATOR_CACHE") or (
        cache.mkdir("cuda_emulator") if cache is not None else tempfile.mkdtemp(prefix="ember-cuda-emulator-"))
    cuda_emulator.emulate_device(_patch, folder)


def pytest_unconfigure(config):
    _patch.undo()
