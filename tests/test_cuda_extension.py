"""The C++/CUDA extension ember.kernels._cuda: built wherever nvcc is (unless EMBER_CUDA=OFF), importable
on a machine without a GPU or driver, failing there with a RuntimeError that names the CUDA error; on a
GPU, its GEMM matches NumPy and can be recorded in a CUDA graph."""
import importlib
import os
import shutil

import numpy as np
import pytest

NVCC = shutil.which("nvcc") or os.environ.get("CUDACXX")
SKIPPED_BY_BUILD = os.environ.get("EMBER_CUDA", "AUTO").upper() == "OFF"


@pytest.fixture(scope="module")
def extension():
    if not NVCC:
        pytest.skip("nvcc is not installed here, so ember.kernels._cuda is not built")
    if SKIPPED_BY_BUILD:
        pytest.skip("EMBER_CUDA=OFF: ember.kernels._cuda is not built")
    # where nvcc is, a missing module is a broken build: import it bare, so the test fails
    return importlib.import_module("ember.kernels._cuda")


@pytest.fixture(scope="module")
def cp(extension):
    from ember.kernels.cuda import runtime
    if extension.device_count() == 0 or not runtime.gpu_available():
        pytest.skip("no CUDA GPU here")
    return runtime.cupy()


def test_extension_is_built_where_nvcc_is(extension):
    assert callable(extension.gemm)
    assert extension.runtime_version >= 12000


def test_device_count_never_raises(extension):
    count = extension.device_count()
    assert isinstance(count, int) and count >= 0


def test_launch_without_a_gpu_raises_runtime_error_naming_the_cuda_error(extension):
    if extension.device_count() > 0:
        pytest.skip("a GPU is present: null pointers would fault on it")
    with pytest.raises(RuntimeError, match=r"^gemm: .+ \(cudaError\w+\)$"):
        extension.gemm("float32", 0, 0, 0, 1, 2, 2, 2, 0, 0, 2, 1, 2, 1, 0)


def test_launcher_rejects_other_dtypes(extension):
    with pytest.raises(TypeError, match="gemm: expected dtype float32 or float64, got float16"):
        extension.gemm("float16", 0, 0, 0, 1, 2, 2, 2, 0, 0, 2, 1, 2, 1, 0)


def test_empty_product_launches_nothing(extension):
    extension.gemm("float32", 0, 0, 0, 0, 2, 2, 2, 0, 0, 2, 1, 2, 1, 0)  # batch 0: nothing to do, no device needed


def test_glue_reports_why_it_is_unavailable_without_a_gpu(extension):
    from ember.kernels.cuda import native, runtime
    if runtime.gpu_available():
        pytest.skip("a GPU is present")
    # no CuPy (CI installs none), or CuPy without a GPU or driver
    with pytest.raises(RuntimeError, match="CuPy is not installed|CUDA"):
        native.loader(native.matmul)()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes", [((65, 130), (130, 7)), ((3, 17, 40), (40, 129)), ((2, 1, 5, 9), (3, 9, 4))])
def test_gemm_matches_numpy_on_the_gpu(cp, shapes, dtype):
    from ember.kernels.cuda import native
    rng = np.random.default_rng(0)
    a, b = (rng.uniform(-1, 1, shape).astype(dtype) for shape in shapes)
    out = native.matmul(cp.asarray(a), cp.asarray(b))
    rtol, atol = (1e-4, 1e-5) if dtype == np.float32 else (1e-12, 1e-12)
    np.testing.assert_allclose(cp.asnumpy(out), np.matmul(a, b), rtol=rtol, atol=atol)


def test_gemm_runs_inside_a_cuda_graph(cp):
    """The reason the extension's GEMM exists: CuPy refuses cuBLAS during stream capture."""
    from ember.kernels.cuda import native
    rng = np.random.default_rng(1)
    a, b = cp.asarray(rng.standard_normal((70, 33))), cp.asarray(rng.standard_normal((33, 90)))
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        # a first run outside the capture loads the kernel, and its output, freed at once, leaves the
        # memory pool a block for the captured allocation
        native.matmul(a, b)
        stream.begin_capture()
        out = native.matmul(a, b)
        graph = stream.end_capture()
        out.fill(0)  # the capture recorded the product without running it: the graph must write it
        graph.launch(stream)
    stream.synchronize()
    np.testing.assert_allclose(cp.asnumpy(out), cp.asnumpy(a) @ cp.asnumpy(b), rtol=1e-12, atol=1e-12)
