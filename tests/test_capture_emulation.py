"""The CUDA host emulator's stream capture (tests/cuda_emulator/capture.py) against CuPy's semantics, so
that ember code that would fail in a CUDA-graph capture on a GPU fails here too: a capture executes
nothing and each launch re-runs the work on the arrays' contents of that moment with the capture's
Python values baked in; arrays made in a capture are undefined (NaN) until the first launch; what CuPy
refuses during a capture (host reads and copies, synchronisation, cuBLAS, cuRAND) raises CUDA's error
and invalidates the capture; the null stream cannot capture; ``using_allocator`` routes allocations;
and a graph whose memory was freed and handed out again by its pool raises at launch."""
import contextlib
import re
import sys

import numpy as np
import pytest

import cuda_emulator
from cuda_emulator import build, capture
from cuda_emulator import fake_cupy as cp

UNSUPPORTED = r"^cudaErrorStreamCaptureUnsupported: operation not permitted when stream is capturing \(emulated\): "
INVALIDATED = r"^cudaErrorStreamCaptureInvalidated: operation failed due to a previous error during capture"
REASON = build.unavailable_reason() or (None if sys.platform.startswith("linux") else
                                        "the CUDA host emulator needs Linux (ucontext fibers, ELF symbols)")
needs_kernels = pytest.mark.skipif(REASON is not None, reason=REASON or "")


@pytest.fixture(autouse=True)
def no_capture_left():
    """A test that fails inside a capture leaves it open: the next test must not run inside it."""
    capture.reset()
    yield
    capture.reset()


@pytest.fixture
def stream():
    return cp.cuda.Stream(non_blocking=True)


@pytest.fixture
def emulated(monkeypatch, request, tmp_path_factory):
    """ember's CUDA glue on the emulator, kernels built into pytest's cache (as test_cuda_emulator)."""
    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir("cuda_emulator") if cache is not None else tmp_path_factory.mktemp("cuda_emulator")
    cuda_emulator.install(monkeypatch, folder)
    yield
    cuda_emulator.clear_glue_caches()


def _device(values, dtype=np.float64):
    return cp.asarray(np.asarray(values, dtype))


def _captured(stream, work):
    """(the graph of ``work()`` captured on ``stream``, what ``work()`` returned)."""
    with stream:
        stream.begin_capture()
        result = work()
        graph = stream.end_capture()
    return graph, result


# ---- a capture executes nothing; a launch runs the work on the contents of that moment -----------

def test_capture_executes_nothing_and_each_launch_runs_the_work(stream):
    """CuPy's example (cupy/cupy#4716): `a += 3; b = abs(a)` captured."""
    a = _device([-4.0, -1.0, 2.0])

    def work():
        nonlocal a
        a += 3
        return cp.abs(a)
    graph, b = _captured(stream, work)
    np.testing.assert_array_equal(a.get(), [-4, -1, 2])  # not executed
    assert np.isnan(b.get()).all()                        # made in the capture: undefined until a launch
    graph.launch()
    np.testing.assert_array_equal(a.get(), [-1, 2, 5])
    np.testing.assert_array_equal(b.get(), [1, 2, 5])
    graph.launch(stream=stream)
    np.testing.assert_array_equal(a.get(), [2, 5, 8])
    np.testing.assert_array_equal(b.get(), [2, 5, 8])


def test_a_launch_reads_the_inputs_contents_of_that_moment(stream):
    static_x = _device([1.0, 2.0])
    graph, y = _captured(stream, lambda: static_x * 2 + 1)
    static_x[...] = _device([10.0, 20.0])  # outside the capture: runs now
    graph.launch()
    np.testing.assert_array_equal(y.get(), [21, 41])
    static_x.set(np.array([0.5, 0.25]))
    graph.launch()
    np.testing.assert_array_equal(y.get(), [2, 1.5])


def test_python_values_are_baked_in_at_capture(stream):
    x, other = _device([1.0, 2.0]), _device([7.0, 8.0])
    scale, parts = 3.0, [x, x]
    graph, (scaled, stacked) = _captured(stream, lambda: (x * scale, cp.concatenate(parts)))
    scale, parts[1] = 100.0, other  # a Python number and a list the capture was given, changed after it
    graph.launch()
    np.testing.assert_array_equal(scaled.get(), [3, 6])
    np.testing.assert_array_equal(stacked.get(), [1, 2, 1, 2])


RNG = np.random.default_rng(0)
INDEX = _device([2, 0, 2], np.int64)


def _in_place(x, y):
    x += y
    x *= 2
    x **= 2
    x -= 1
    x /= y
    return x


def _add_at(x, y):
    cp.add.at(x, INDEX, 1.5)
    return x


def _setitem(x, y):
    x[1] = y[0]
    x[:, 0] = 5.0
    x[INDEX, 1] = y[0, 1]
    return x


def _fill_copy(x, y):
    z = cp.empty_like(x)
    z.fill(2.5)
    return z.copy() - x


# work on (x, y), both (3, 4) float64, that each kind of recorded operation does
RECORDED_WORK = {
    "operators": lambda x, y: ((x + y) * 2 - y / 3) ** 2 % 5 - abs(-x),
    "in-place-operators": _in_place,
    "ufunc-out": lambda x, y: cp.multiply(x, y, out=x),
    "ufunc-at": _add_at,
    "ufunc-reduce": lambda x, y: cp.maximum.reduce(x, axis=1),
    "numpy-dispatch": lambda x, y: np.tanh(x) + np.concatenate([x, y]).sum(axis=0),
    "module-functions": lambda x, y: cp.where(x > y, cp.exp(x), cp.maximum(x, y)).mean(axis=0),
    "methods": lambda x, y: x.T.copy().reshape(-1) + x.sum() + y.astype(np.float32).max(axis=0).repeat(3),
    "advanced-getitem": lambda x, y: x[INDEX] + y[INDEX, 1:2],
    "setitem": _setitem,
    "fill-copy": _fill_copy,
    "creation": lambda x, y: (cp.zeros((3, 4)) + cp.zeros_like(x) + cp.ascontiguousarray(x[:, ::2]).repeat(2, axis=1)
                              + cp.array(y) + cp.asarray(x, np.float32)),
}


@pytest.mark.parametrize("kind", RECORDED_WORK)
def test_each_kind_of_operation_replays_on_new_inputs(kind, stream):
    """The work captured on (x, y), launched after x and y got new contents, gives what it gives run on
    those contents: an operation the fake does not record would leave NaN or the capture's values."""
    work = RECORDED_WORK[kind]
    first, second = (RNG.uniform(0.5, 2, (2, 3, 4)) for _ in range(2))
    static = [_device(a) for a in first]
    graph, out = _captured(stream, lambda: work(*static))
    for array, new in zip(static, second):
        array[...] = _device(new)
    graph.launch()
    expected_inputs = [_device(a) for a in second]
    expected = work(*expected_inputs)
    np.testing.assert_allclose(out.get(), expected.get(), rtol=1e-6, err_msg=kind)
    for got, want in zip(static, expected_inputs):
        np.testing.assert_allclose(got.get(), want.get(), rtol=1e-6, err_msg=f"{kind}: the inputs")


def test_arrays_made_in_a_capture_are_nan_until_the_first_launch(stream):
    graph, (zeros, ones) = _captured(stream, lambda: (cp.zeros(3), cp.zeros(3) + 1))
    assert np.isnan(zeros.get()).all() and np.isnan(ones.get()).all()
    graph.launch()
    np.testing.assert_array_equal(zeros.get(), [0, 0, 0])
    np.testing.assert_array_equal(ones.get(), [1, 1, 1])


@needs_kernels
def test_elementwise_and_reduction_kernels_replay(stream, emulated):
    from ember.kernels.cuda import reduction
    axpy = cp.ElementwiseKernel("T x, T y, T a", "T z", "z = a * x + y", "axpy")
    x, y = _device([1.0, 2.0]), _device([10.0, 20.0])
    graph, (z, total) = _captured(stream, lambda: (axpy(x, y, 3.0), reduction.sum_of_squares(x)))
    assert np.isnan(z.get()).all() and np.isnan(total.get())
    x[...] = _device([2.0, 4.0])
    graph.launch()
    np.testing.assert_array_equal(z.get(), [16, 32])
    assert total.get() == 20


@needs_kernels
def test_raw_module_kernels_replay(stream, emulated):
    """softmax.cu's kernels through ember's glue (kernels/cuda/softmax.py), as a GPU would run them."""
    from ember.kernels.cuda import softmax
    x = _device(RNG.standard_normal((3, 5)))
    graph, y = _captured(stream, lambda: softmax.softmax_forward(x, -1))
    assert np.isnan(y.get()).all()
    new = RNG.standard_normal((3, 5))
    x[...] = _device(new)
    graph.launch()
    np.testing.assert_allclose(y.get(), np.exp(new) / np.exp(new).sum(axis=-1, keepdims=True), rtol=1e-12)


def test_a_launch_allocates_nothing(stream):
    """A graph's arrays exist; its launch takes no memory from the allocator."""
    x = _device([1.0, 2.0, 3.0])
    graph, _ = _captured(stream, lambda: cp.exp(x) * 2 + x[INDEX])
    calls = []

    def counting(size):
        calls.append(size)
        return cp.get_default_memory_pool().malloc(size)
    with cp.cuda.using_allocator(counting):
        graph.launch()
    assert calls == []


def test_a_graph_launched_in_a_capture_replays_in_the_outer_graph(stream):
    x = _device([1.0])
    inner, _ = _captured(stream, lambda: x.__iadd__(1))
    outer, _ = _captured(cp.cuda.Stream(non_blocking=True), lambda: (inner.launch(), x.__imul__(10)))
    np.testing.assert_array_equal(x.get(), [1])
    outer.launch()
    np.testing.assert_array_equal(x.get(), [20])


# ---- what CuPy refuses during a capture ---------------------------------------------------------

REFUSED = {  # what is attempted in a capture -> what the error names
    "ndarray.get": (lambda x: x.get(), "ndarray.get"),
    "item": (lambda x: x.sum().item(), "ndarray.item"),
    "tolist": (lambda x: x.tolist(), "ndarray.tolist"),
    "bool": (lambda x: bool(x[0] > 0), "ndarray.__bool__"),
    "float": (lambda x: float(x[0]), "ndarray.__float__"),
    "repr": (lambda x: repr(x), "ndarray.__repr__"),
    "asnumpy": (lambda x: cp.asnumpy(x), "cupy.asnumpy"),
    "asarray-numpy": (lambda x: cp.asarray(np.ones(2)), "cupy.array or cupy.asarray of ndarray"),
    "array-list": (lambda x: cp.array([1.0, 2.0]), "cupy.array or cupy.asarray of list"),
    "asarray-scalar": (lambda x: cp.asarray(0.5, np.float64), "cupy.array or cupy.asarray of float"),
    "setitem-numpy": (lambda x: x.__setitem__(INDEX, np.ones(3)), "ndarray.__setitem__ of host data"),
    "ndarray.set": (lambda x: x.set(np.ones(4)), "ndarray.set"),
    "host-index": (lambda x: x[[0, 1]], "ndarray.__getitem__ with a host index"),
    "boolean-mask": (lambda x: x[x > 0], "ndarray.__getitem__ with a boolean mask"),
    "take-host": (lambda x: cp.take(x, [0, 1]), "cupy.take of host data"),
    "matmul": (lambda x: cp.matmul(x[None], x[:, None]), "cupy.matmul (cuBLAS)"),
    "@": (lambda x: x @ x, "an ndarray operator, cupy.matmul (cuBLAS)"),
    "dot": (lambda x: cp.dot(x, x), "cupy.dot (cuBLAS)"),
    "ndarray.dot": (lambda x: x.dot(x), "ndarray.dot (cuBLAS)"),
    "np.dot": (lambda x: np.dot(x, x), "cupy.dot (cuBLAS)"),
    "einsum": (lambda x: cp.einsum("i,i->", x, x), "cupy.einsum (cuBLAS)"),
    "tensordot": (lambda x: cp.tensordot(x, x, axes=1), "cupy.tensordot (cuBLAS)"),
    "linalg": (lambda x: cp.linalg.norm(x), "cupy.linalg.norm"),
    "nonzero": (lambda x: cp.nonzero(x), "cupy.nonzero"),
    "where-one-argument": (lambda x: cp.where(x > 0), "cupy.where of one argument"),
    "random": (lambda x: cp.random.default_rng(0).standard_normal(3), "cupy.random.Generator.standard_normal"),
    "stream.synchronize": (lambda x: cp.cuda.get_current_stream().synchronize(), "cupy.cuda.Stream.synchronize"),
    "device.synchronize": (lambda x: cp.cuda.Device().synchronize(), "cupy.cuda.Device.synchronize"),
}


@pytest.mark.parametrize("name", REFUSED)
def test_what_cupy_refuses_raises_and_invalidates_the_capture(name, stream):
    attempt, what = REFUSED[name]
    attempt(_device([1.0, -2.0, 3.0, 4.0]))  # outside a capture it runs
    x = _device([1.0, -2.0, 3.0, 4.0])
    with stream:
        stream.begin_capture()
        x += 1
        with pytest.raises(capture.CUDARuntimeError, match=UNSUPPORTED + re.escape(what)):
            attempt(x)
        with pytest.raises(RuntimeError, match="an error has invalidated the capture sequence"):
            stream.is_capturing()
        with pytest.raises(cp.cuda.runtime.CUDARuntimeError, match=INVALIDATED):
            x * 2  # the stream's later work
        with pytest.raises(RuntimeError, match=INVALIDATED):
            stream.end_capture()
    assert not stream.is_capturing()
    np.testing.assert_array_equal(x.get(), [1, -2, 3, 4])  # nothing ran
    x += 1  # the stream works again
    np.testing.assert_array_equal(x.get(), [2, -1, 4, 5])


def test_the_null_stream_cannot_capture():
    assert cp.cuda.get_current_stream() == cp.cuda.Stream.null and cp.cuda.Stream.null.ptr == 0
    with pytest.raises(RuntimeError, match=r"^cannot capture on the default \(legacy\) stream$"):
        cp.cuda.Stream.null.begin_capture()
    with pytest.raises(RuntimeError, match="cannot capture on the default"):
        cp.cuda.Stream(null=True).begin_capture()
    assert not cp.cuda.Stream.null.is_capturing()


def test_the_legacy_stream_may_not_run_work_while_a_blocking_stream_captures():
    blocking, x = cp.cuda.Stream(), _device([1.0])
    blocking.begin_capture()
    with pytest.raises(RuntimeError, match=r"^cudaErrorStreamCaptureImplicit: operation would make the legacy stream "
                                           "depend on a capturing blocking stream"):
        x + 1  # on the null stream, current here
    with pytest.raises(RuntimeError, match=INVALIDATED):
        blocking.end_capture()
    blocking.begin_capture()
    with pytest.raises(RuntimeError, match="^cudaErrorStreamCaptureImplicit: .*cupy.cuda.Stream.synchronize"):
        cp.cuda.Stream.null.synchronize()
    with pytest.raises(RuntimeError, match=INVALIDATED):
        blocking.end_capture()


def test_work_beside_a_capture_is_not_emulated(stream):
    """A non-blocking capture lets other streams run on a GPU; the emulator says it cannot."""
    x = _device([1.0])
    stream.begin_capture()
    with pytest.raises(NotImplementedError, match="runs no work beside a capture"):
        x + 1
    stream.end_capture()


def test_streams_and_events():
    a, b = cp.cuda.Stream(), cp.cuda.Stream(non_blocking=True)
    assert len({0, a.ptr, b.ptr}) == 3
    with a:
        assert cp.cuda.get_current_stream() is a
        with b:
            assert cp.cuda.get_current_stream() is b
        assert cp.cuda.get_current_stream() is a
    assert cp.cuda.get_current_stream().ptr == 0
    start = cp.cuda.Event()
    start.record()
    stop = a.record()
    b.wait_event(stop)
    stop.synchronize()
    assert cp.cuda.get_elapsed_time(start, stop) == 0.0
    with b:
        b.begin_capture()
        captured = b.record()
        with pytest.raises(RuntimeError, match="^cudaErrorCapturedEvent: "):
            captured.synchronize()  # the host cannot wait for an event of a capture
        with pytest.raises(RuntimeError, match=INVALIDATED):
            b.end_capture()
        b.begin_capture()
        with pytest.raises(RuntimeError, match="^cudaErrorStreamCaptureIsolation: "):
            b.wait_event(start)  # uncaptured work
        with pytest.raises(RuntimeError, match=INVALIDATED):
            b.end_capture()


# ---- memory -------------------------------------------------------------------------------------

def test_using_allocator_routes_allocations_to_the_allocator():
    pool, calls = cp.cuda.MemoryPool(), []
    default = cp.cuda.get_allocator()

    def counting(size):
        calls.append(size)
        return pool.malloc(size)
    with cp.cuda.using_allocator(counting):
        assert cp.cuda.get_allocator() is counting
        x = cp.zeros((2, 3))
        y = x + 1
        with pytest.raises(ValueError, match="inside `using_allocator`"):
            cp.cuda.set_allocator(None)
    assert calls == [48, 48] and pool.used_bytes() == 96
    assert cp.cuda.get_allocator() == default
    cp.zeros(1)
    assert len(calls) == 2
    del x, y
    assert pool.used_bytes() == 0


def _capture_with_an_intermediate(stream, allocator=None):
    """(graph, x, y): a graph of y = (x + 1) * 2 whose intermediate (x + 1) is freed during the capture:
    its block is the pool's again (x and y live on)."""
    x = _device([1.0, 2.0])
    with stream, cp.cuda.using_allocator(allocator) if allocator else contextlib.nullcontext():
        stream.begin_capture()
        y = (x + 1) * 2
        graph = stream.end_capture()
    return graph, x, y


def test_a_graph_whose_freed_memory_its_pool_reallocated_raises_at_launch(stream):
    graph, x, y = _capture_with_an_intermediate(stream)
    graph.launch()  # the freed block is still free
    with stream:
        cp.empty(2)  # the pool may give it the block of the graph's intermediate, which the launch overwrites
    with pytest.raises(RuntimeError, match="has been freed.*using_allocator"):
        graph.launch()


def test_a_graph_with_a_private_pool_or_other_streams_allocations_launches(stream):
    graph, x, y = _capture_with_an_intermediate(stream, cp.cuda.MemoryPool().malloc)
    with stream:
        cp.empty(2)  # from the default pool: not the graph's
    graph.launch()
    graph, x, y = _capture_with_an_intermediate(stream)
    cp.empty(2)  # on the null stream: CuPy's pool keeps the capture stream's freed blocks for that stream
    graph.launch()
    np.testing.assert_array_equal(y.get(), [4, 6])


def test_a_graph_whose_input_was_freed_and_reallocated_raises_at_launch(stream):
    graph, x, y = _capture_with_an_intermediate(stream, cp.cuda.MemoryPool().malloc)
    del x  # its block, on the null stream, goes back to the default pool
    cp.empty(2)
    with pytest.raises(RuntimeError, match="16-byte array that has been freed"):
        graph.launch()


@needs_kernels
def test_the_launch_count_of_a_graphed_training_step():
    """cuda_emulator/launches.py, which counts the kernels a graphed bench step replaces with one launch
    (in a process of its own: it makes the emulator the cuda device, and ember caches its device): the
    MLP's step launches its GEMMs (forward and both gradients of three layers), optimizer updates (six
    parameters) and a few dozen more, not views or allocations."""
    import pathlib
    import subprocess
    done = subprocess.run([sys.executable, "-m", "cuda_emulator.launches", "mlp"], capture_output=True, text=True,
                          cwd=pathlib.Path(__file__).parent, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    found = [re.search(pattern, done.stdout) for pattern in (r"mlp: (\d+) kernel launches per training step",
                                                             r"RawModule kernel (\d+)", r"ElementwiseKernel.__call__ (\d+)")]
    assert all(found), done.stdout
    total, raw, elementwise = (int(match.group(1)) for match in found)
    assert raw >= 3 * 3 and elementwise >= 6 and 20 <= total <= 120, done.stdout
