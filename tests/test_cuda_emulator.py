"""ember's CUDA kernels without a GPU: the CUDA host emulator (tests/cuda_emulator/) runs every cupy
implementation of every op on device cuda (the RawModule kernels of kernels/cuda/<family>.cu and the
ElementwiseKernels and ReductionKernels of activation.py, optim.py, reduction.py) through the real
glue, as the registry loads it, against the NumPy references, on the cases of tests/kernel_cases/ (the
ones small enough to emulate), in float32 and float64, with contiguous and non-contiguous inputs.

What it proves. Each kernel source, exactly as CuPy hands it to NVRTC, compiles as C++ behind a shim
of CUDA's builtins (shim.h), and computes the reference's results when launched as the glue launches
it: index math, bounds, strides, dtypes, grid and block sizes, shared memory, block reductions, warp
shuffles, atomics. The emulator is stricter than a GPU where a GPU fails silently (emulator.cpp,
raw_kernels.py, fake_cupy.py): every kernel argument must have its parameter's exact type (CuPy passes
a Python int as an int64 and a float as a float64, whatever the kernel takes), every array must be
C-contiguous and of its pointer's dtype, launches must fit CUDA's limits; a write past an array's end,
a __syncthreads that not every thread reaches, a shuffle that a lane of its mask misses, and a
deadlock are errors; fresh device memory and each block's shared memory start as NaN, so an unwritten
output or an uninitialised read shows. A block's threads run in a random order of priority, so that
one thread may lag far behind the others as a stalled warp can, and a missing __syncthreads gives
wrong results; blocks run in a random order too. The glue runs on a fake CuPy that refuses NumPy
arrays and implicit conversions, as CuPy does. The tests at the end check that the emulator reports
each of these faults (tests/cuda_emulator/faults.cu).

What it cannot. Threads run one at a time and switch only at __syncthreads, shuffles and returns, so
nothing here measures speed, and races within the code between two synchronisation points go unseen:
a plain `+=` where two threads need atomicAdd passes, as do memory-ordering and fence bugs. Host math
(glibc's expf, an exact rsqrt) differs in the last bits from the GPU's, and fast-math intrinsics would
be exact here. NVRTC's own quirks (its C++ dialect: g++ compiles the kernels as C++20; missing headers,
register and shared-memory limits, its compile errors) need a compile by nvcc or NVRTC. Dynamic
shared memory is not emulated, nor __syncwarp or the builtins no kernel uses yet (a kernel that calls
one does not compile here until shim.h has it). cuBLAS (the convolutions' GEMMs) is NumPy's matmul.
Cases whose arrays are too big to emulate are skipped. tests/test_cuda.py runs every case on a GPU.
"""
import concurrent.futures
import functools
import importlib
import pathlib
import pkgutil
import sys

import numpy as np
import pytest

import ember.kernels.cuda
from ember.kernels import registry
from ember.kernels.cuda import runtime
from kernel_check import KernelCase, check_against_reference, load_cases

import cuda_emulator
from cuda_emulator import build, fake_cupy, raw_kernels

REASON = build.unavailable_reason() or (None if sys.platform.startswith("linux") else
                                        "the CUDA host emulator needs Linux (ucontext fibers, ELF symbols)")
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

SIZE_LIMIT = 4096  # elements in a case's largest array: every CUDA thread is a fiber here
SEED_POOL = 12     # seeds drawn per case; of those within SIZE_LIMIT, the first and the largest run


def _families():
    """{family: glue module} for every module of ember.kernels.cuda that launches RawModule kernels."""
    modules = (importlib.import_module(f"ember.kernels.cuda.{info.name}")
               for info in pkgutil.iter_modules(ember.kernels.cuda.__path__))
    return {module.__name__.rsplit(".", 1)[1]: module for module in modules if hasattr(module, "_INSTANTIATIONS")}


FAMILIES = _families()
# cupy implementations that are CuPy's own functions: no kernel of ember's to emulate
NOT_EMBER_KERNELS = {"matmul": "cupy.matmul, i.e. cuBLAS"}
OPS = sorted({op for (op, device), implementations in registry._implementations.items() if device == "cuda"
              and any(implementation.name == "cupy" for implementation in implementations)} - set(NOT_EMBER_KERNELS))


# ---- launch shapes the shared cases reach only in arrays too big to emulate ---------------------

def _long_rows(rng):
    """A few rows longer than a block (256 threads): each thread takes several elements of a row."""
    return int(rng.integers(1, 4)), int(rng.integers(257, 700))


def _softmax_long_rows(rng, dtype):
    return (rng.standard_normal(_long_rows(rng)) * 4).astype(dtype), -1


def _softmax_backward_long_rows(log):
    def make(rng, dtype):
        x = rng.standard_normal(_long_rows(rng)) * 3
        y = x - np.log(np.exp(x).sum(axis=-1, keepdims=True))
        return (y if log else np.exp(y)).astype(dtype), rng.standard_normal(x.shape).astype(dtype), -1
    return make


def _layer_norm_backward_chunks(rng, dtype):
    """More than 64 rows and 32 columns: the parameters' gradients in several chunks and column tiles."""
    x = rng.standard_normal((int(rng.integers(65, 100)), int(rng.integers(33, 45)))) * 2 + 1
    rstd = 1 / np.sqrt(x.var(axis=-1) + 1e-5)
    weight = rng.standard_normal(x.shape[1])
    return tuple(a.astype(dtype) for a in (rng.standard_normal(x.shape), x, x.mean(axis=-1), rstd, weight)) + (True,)


EXTRA_CASES = [KernelCase("softmax_forward", _softmax_long_rows, "long-rows"),
               KernelCase("log_softmax_forward", _softmax_long_rows, "long-rows"),
               KernelCase("softmax_backward", _softmax_backward_long_rows(False), "long-rows"),
               KernelCase("log_softmax_backward", _softmax_backward_long_rows(True), "long-rows"),
               KernelCase("layer_norm_backward", _layer_norm_backward_chunks, "chunks")]


# ---- every case of every emulated op against its reference --------------------------------------

@functools.cache
def _seeds(case_id):
    """The seeds ``case_id`` runs with: of the first SEED_POOL whose arrays have at most SIZE_LIMIT
    elements, the first and the one with the largest array (shapes do not depend on the dtype)."""
    case = CASES[case_id]
    if case in EXTRA_CASES:
        return [0]
    sizes = {}
    for seed in range(SEED_POOL):
        arrays = [a for a in case.make(np.random.default_rng(seed), np.float32) if isinstance(a, np.ndarray)]
        largest = max((a.size for a in arrays), default=0)
        if largest <= SIZE_LIMIT:
            sizes[seed] = largest
    return sorted({min(sizes), max(sizes, key=sizes.get)}) if sizes else []


CASES = {case.id: case for case in load_cases() + EXTRA_CASES if case.op in OPS}


@pytest.fixture(scope="module")
def cache_dir(request, tmp_path_factory):
    """Where the libraries are built: pytest's cache (kept between runs; builds are keyed by their
    sources' hash) or a temporary folder. Every family is built first, two compilers at a time."""
    cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    folder = cache.mkdir("cuda_emulator") if cache is not None else tmp_path_factory.mktemp("cuda_emulator")
    build.build("faults", FAULTS, folder, FAULTS_SOURCE)  # builds emulator.cpp once, before the families
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda item: build.build(item[0], item[1]._INSTANTIATIONS, folder), FAMILIES.items()))
    return folder


@pytest.fixture
def emulated(monkeypatch, cache_dir):
    cuda_emulator.install(monkeypatch, cache_dir)
    yield
    cuda_emulator.clear_glue_caches()


def _registered(op):
    """The cupy implementation of ``op`` on cuda, from its registry loader (under the emulator the
    GPU check passes), without caching it in the registry."""
    implementation = next(impl for impl in registry._implementations[(op, "cuda")] if impl.name == "cupy")
    return implementation.loader()


def test_every_family_has_its_source_and_every_op_cases():
    assert {"pooling", "conv", "recurrent"} <= set(FAMILIES), FAMILIES
    for family, module in FAMILIES.items():
        assert (runtime.SOURCE_DIR / f"{family}.cu").exists(), f"{module.__name__} has no {family}.cu"
    assert {"relu_forward", "sgd_step", "sum_of_squares", "max_pool2d_forward"} <= set(OPS), OPS
    assert set(OPS) <= {case.op for case in CASES.values()}, "cuda ops without cases"


@pytest.mark.parametrize("layout", ["contiguous", "noncontiguous"])
@pytest.mark.parametrize("case_id", list(CASES))
def test_emulated_kernel_matches_reference(case_id, layout, emulated):
    case, seeds = CASES[case_id], _seeds(case_id)
    if not seeds:
        FINISHED.add((case_id, layout))
        pytest.skip(f"no seed of {SEED_POOL} makes arrays of at most {SIZE_LIMIT} elements: too big to emulate")
    reference = registry.implementation(case.op, "cpu", "numpy")
    check_against_reference(case, _registered(case.op), reference, layout, seeds, "emulated cuda", xp=fake_cupy)
    FINISHED.add((case_id, layout))


FINISHED = set()  # (case id, layout) of the tests above that passed or skipped


def test_every_kernel_ran():
    """Every instantiation a glue module compiles was launched by the cases above."""
    if len(FINISHED) < 2 * len(CASES):
        pytest.skip("judges what all the cases above launched: needs them all run and passed")
    expected = {(family, name) for family, module in FAMILIES.items() for name in module._INSTANTIATIONS}
    missing = expected - raw_kernels.launched
    assert not missing, f"kernels no case launched: {sorted(missing)}"


# ---- the emulator finds faults (tests/cuda_emulator/faults.cu) ----------------------------------

FAULTS_SOURCE = (pathlib.Path(cuda_emulator.__file__).parent / "faults.cu").read_text()
FAULTS = tuple(f"{kernel}<float>" for kernel in ("return_before_sync", "unsynchronised_sum", "write_every_thread",
                                                 "warp_sums", "shuffle_or_sync", "read_unwritten_shared",
                                                 "count_threads"))


@pytest.fixture
def faults(cache_dir):
    """faults.cu's kernel ``name<float>``, launched as CuPy launches a RawModule's."""
    module = raw_kernels.raw_module("faults", FAULTS, cache_dir=cache_dir, source=FAULTS_SOURCE)
    raw_kernels.restart_schedules()
    return lambda name: module.get_function(f"{name}<float>")


def test_a_return_before_a_syncthreads_is_an_error(faults):
    with pytest.raises(RuntimeError, match=r"24 threads returned while the other 40 wait at the __syncthreads"):
        faults("return_before_sync")((1,), (64,), (fake_cupy.zeros(64, np.float32), np.int32(40)))
    out = fake_cupy.zeros(64, np.float32)
    faults("return_before_sync")((1,), (64,), (out, np.int32(64)))  # every thread reaches it
    assert (out.get() == 1).all()


def test_a_missing_syncthreads_gives_wrong_sums(faults):
    """Thread 0 sums shared memory that the others may not have written yet: in a random order of the
    threads, they have not in most launches."""
    x, sums = fake_cupy.asarray(np.ones(64, np.float32)), []
    for _ in range(5):
        out = fake_cupy.zeros(1, np.float32)
        faults("unsynchronised_sum")((1,), (64,), (x, out))
        sums.append(out.get()[0])
    assert any(total != 64 for total in sums), sums


def test_a_write_past_an_array_is_an_error(faults):
    with pytest.raises(AssertionError, match=r"write_every_thread<float> \(argument 0\) wrote outside its array: "
                                             r"0 bytes changed before its start, 112 after its end"):
        faults("write_every_thread")((1,), (128,), (fake_cupy.empty(100, np.float32),))


def test_full_mask_shuffles_need_whole_warps(faults):
    x = np.arange(64, dtype=np.float32)
    out = fake_cupy.empty(64, np.float32)
    faults("warp_sums")((1,), (64,), (fake_cupy.asarray(x), out))
    np.testing.assert_array_equal(out.get(), np.repeat(x.reshape(2, 32).sum(axis=1), 32))
    with pytest.raises(RuntimeError, match="shuffles with lanes the block does not have"):
        faults("warp_sums")((1,), (48,), (fake_cupy.asarray(x), out))


def test_a_deadlock_is_an_error_not_a_hang(faults):
    with pytest.raises(RuntimeError, match=r"deadlock: 16 threads wait at a __syncthreads, 16 in shuffles"):
        faults("shuffle_or_sync")((1,), (32,), (fake_cupy.empty(32, np.float32),))


def test_shared_memory_and_fresh_memory_start_as_nan(faults):
    out = fake_cupy.zeros(32, np.float32)
    faults("read_unwritten_shared")((2,), (32,), (out,))
    assert np.isnan(out.get()).all()
    assert np.isnan(fake_cupy.empty((3, 2), np.float64).get()).all()


def test_atomic_adds_from_every_block_and_thread(faults):
    total = fake_cupy.zeros(1, np.float32)
    faults("count_threads")((3, 2), (64, 2), (total,))
    assert total.get()[0] == 3 * 2 * 64 * 2


@pytest.mark.parametrize("args,message", [
    ((fake_cupy.zeros(64, np.float32), 40), r"parameter 1, int: it is a Python int, which CuPy passes as int64"),
    ((fake_cupy.zeros(64, np.float32), np.int64(40)), r"parameter 1, int: it is a scalar of int64"),
    ((fake_cupy.zeros(64, np.float64), np.int32(40)), r"parameter 0, float\*: it is an array of float64"),
    ((fake_cupy.zeros((64, 2), np.float32)[:, 0], np.int32(40)), r"parameter 0, float\*: it is not C-contiguous"),
    ((np.zeros(64, np.float32), np.int32(40)), r"Unsupported type <class 'numpy.ndarray'>"),
    ((fake_cupy.zeros(64, np.float32),), r"takes 2 arguments \(float\*, int\), got 1"),
], ids=["python-int", "int64", "dtype", "strided", "host-array", "count"])
def test_arguments_must_match_the_kernel_parameters(faults, args, message):
    with pytest.raises(TypeError, match=message):
        faults("return_before_sync")((1,), (64,), args)


def test_launches_must_fit_cuda_limits(faults):
    out = (fake_cupy.zeros(64, np.float32), np.int32(1))
    with pytest.raises(ValueError, match="exceeds CUDA's limits"):
        faults("return_before_sync")((1,), (2048,), out)
    with pytest.raises(ValueError, match="exceeds CUDA's limits"):
        faults("return_before_sync")((1, 65536), (32,), out)
    with pytest.raises(TypeError, match="expected tuple"):
        faults("return_before_sync")([1], (32,), out)


def test_the_fake_cupy_refuses_host_arrays():
    device = fake_cupy.asarray(np.arange(3.0))
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array"):
        np.asarray(device)
    with pytest.raises(TypeError, match="expects a cupy.ndarray"):
        fake_cupy.ascontiguousarray(np.arange(3.0))
    with pytest.raises(TypeError, match="Unsupported type"):
        device + np.arange(3.0)


def test_elementwise_kernels_type_and_shape_their_arguments_as_cupy(emulated):
    add = fake_cupy.ElementwiseKernel("T x, T y", "T z", "z = x + y", "add")
    f32 = fake_cupy.asarray(np.arange(3, dtype=np.float32))
    np.testing.assert_array_equal(add(f32, 1.5).get(), [1.5, 2.5, 3.5])  # the scalar is cast to T
    with pytest.raises(TypeError, match="Type is mismatched"):
        add(f32, fake_cupy.zeros(3, np.float64))
    with pytest.raises(ValueError, match="Out shape is mismatched"):  # an output does not broadcast
        add(f32, fake_cupy.zeros((2, 3), np.float32), fake_cupy.zeros((1, 3), np.float32))
    with pytest.raises(TypeError, match="Unsupported type"):
        add(f32, np.zeros(3, np.float32))


def test_elementwise_inputs_overlapping_outputs_are_read_before_written(emulated):
    shift = fake_cupy.ElementwiseKernel("T x", "T y", "y = x", "shift")
    a = fake_cupy.asarray(np.arange(5.0))
    shift(a[:-1], a[1:])  # CuPy copies the input first: not a running copy of a[0]
    np.testing.assert_array_equal(a.get(), [0, 0, 1, 2, 3])


# ---- the tiled GEMM (kernels/cuda/gemm.py), which CUDA-graph captures use instead of cuBLAS ---------

def _transposed(x):
    """A (*, rows, cols) array as the transposed view of a C-contiguous (*, cols, rows) one."""
    return fake_cupy.ascontiguousarray(fake_cupy.asarray(np.swapaxes(x, -1, -2))).swapaxes(-1, -2)


GEMM_CASES = {  # name -> (a's shape, b's shape, how each operand is laid out on the device)
    "matrices": ((70, 33), (33, 90), (fake_cupy.asarray, fake_cupy.asarray)),
    "transposed-operands": ((17, 40), (40, 66), (_transposed, _transposed)),
    "one-b-for-a-batch": ((3, 5, 9), (9, 4), (fake_cupy.asarray, _transposed)),
    "broadcast-batches": ((2, 1, 5, 9), (3, 9, 4), (fake_cupy.asarray, fake_cupy.asarray)),
    "one-a-for-a-batch": ((1, 5, 9), (4, 9, 7), (_transposed, fake_cupy.asarray)),
    "empty-inner-dimension": ((4, 0), (0, 3), (fake_cupy.asarray, fake_cupy.asarray)),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", list(GEMM_CASES))
def test_the_tiled_gemm_matches_numpy_on_views_and_batches(case, dtype, emulated):
    from ember.kernels.cuda import gemm
    a_shape, b_shape, (lay_a, lay_b) = GEMM_CASES[case]
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-1, 1, a_shape).astype(dtype), rng.uniform(-1, 1, b_shape).astype(dtype)
    out = gemm.tiled_matmul(lay_a(a), lay_b(b))
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out.get(), a @ b, rtol=rtol, atol=rtol)


def test_the_capture_gemm_takes_vectors_as_matmul_does(emulated):
    from ember.kernels.cuda import gemm
    rng = np.random.default_rng(1)
    m, v, w = rng.standard_normal((6, 5)), rng.standard_normal(6), rng.standard_normal(5)
    runtime.set_capturing(True)  # matmul then takes the tiled GEMM
    try:
        for a, b in ((v, m), (m, w), (w, w), (np.stack([m, m]), w)):
            got = gemm.matmul(fake_cupy.asarray(a), fake_cupy.asarray(b))
            np.testing.assert_allclose(got.get(), a @ b, rtol=1e-12, atol=1e-12)
    finally:
        runtime.set_capturing(False)


def test_the_capture_gemm_writes_into_out_or_copies_there(emulated):
    """conv's GEMMs write their product into a part of the output: directly when that part is
    C-contiguous and overlaps no operand, else through a copy."""
    from ember.kernels.cuda import gemm
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5))
    runtime.set_capturing(True)
    try:
        whole = fake_cupy.zeros((3, 3, 5))
        assert gemm.matmul(fake_cupy.asarray(a), fake_cupy.asarray(b), out=whole[1:]) is not None
        strided = fake_cupy.zeros((2, 5, 3)).swapaxes(1, 2)
        gemm.matmul(fake_cupy.asarray(a), fake_cupy.asarray(b), out=strided)
        square = fake_cupy.asarray(rng.standard_normal((4, 4)))
        expected_square = square.get() @ square.get()
        gemm.matmul(square, square, out=square)  # out is an operand: the product must not read its own writes
    finally:
        runtime.set_capturing(False)
    np.testing.assert_allclose(whole.get()[1:], a @ b, rtol=1e-12)
    assert not whole.get()[0].any()
    np.testing.assert_allclose(strided.get(), a @ b, rtol=1e-12)
    np.testing.assert_allclose(square.get(), expected_square, rtol=1e-12, atol=1e-12)
