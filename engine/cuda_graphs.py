"""CUDA graphs, as ``torch.cuda.CUDAGraph`` and ``torch.cuda.graph``: the kernels that some ember code
queues (a whole training step: forward, backward and optimizer step) are captured once and replayed
with one launch, which takes away the host's cost per kernel that bounds small models on a GPU.

How a capture works, and what it asks of the code inside it:
- Nothing runs during the capture: CuPy records each kernel into a graph instead. ``replay()`` runs
  them all, on the same memory. Inputs are "static": copy each new batch into the tensors the capture
  read, and read the results from the tensors it made (each replay overwrites them).
- Memory allocated during the capture comes from a pool of the graph's own (``pool()``), which nothing
  else allocates from, so that a replay never writes over memory that has been given to other tensors.
- CuPy refuses cuBLAS in a capture: ember's GEMM (kernels/cuda/gemm.py) serves the matrix products.
- Whatever reads a device value on the host (``.item()``, ``bool(tensor)``, printing) cannot run in a
  capture and raises; so do host-to-device copies, and random numbers other than uniform ones (those,
  for dropout, come from a counter on the GPU that each replay advances: engine/random.py).
- Python numbers a capture uses are baked into the graph. A number meant to change between replays
  (an optimizer's learning rate, which schedulers set) is read by the kernels from a 0-d device array
  instead (``graph_scalar``), which ``replay()`` refreshes first. Code that bakes a value that may
  change later registers it with ``bake``; ``replay()`` refuses to run once it changed, rather than
  silently using the old value.

``make_graphed_step`` wraps all of this for a training step.
"""
import contextlib
import threading

import numpy as np

from ..kernels.cuda import gemm, runtime
from . import device as devices
from .random import default_generator_for

__all__ = ["CUDAGraph", "graph", "graph_pool_handle", "is_current_stream_capturing", "make_graphed_step"]
# also used by ember's optimizers: bake, graph_scalar


def _cupy():
    from .cuda import _initialised
    return _initialised()


def is_current_stream_capturing():
    """True while this thread captures a CUDA graph through ember (inside ``ember.cuda.graph``)."""
    return runtime.capturing()


class GraphPool:
    """Memory that several graphs share (``graph(g, pool=graph_pool_handle())``), as torch's pool handle:
    a CuPy memory pool and the stream the graphs are captured on (CuPy's pool reuses a freed block only
    on the stream it was allocated on). Graphs that share one must be replayed in the order they were
    captured, since each may reuse memory the ones before it used."""

    def __init__(self, cp):
        self.memory = cp.cuda.MemoryPool()
        self.stream = cp.cuda.Stream(non_blocking=True)


def graph_pool_handle():
    """A ``GraphPool`` for several captures to share."""
    return GraphPool(_cupy())


_capturing_graph = threading.local()  # .graph: the CUDAGraph this thread captures, for bake and graph_scalar
SCALAR_SLOTS = 64  # values per dtype that graph_scalar can keep live in one capture


def _capturing():
    return getattr(_capturing_graph, "graph", None)


def bake(what, read, value):
    """Note that the capture in progress holds ``value``, the value now of ``read()`` (e.g. an
    optimizer's weight decay); the graph's ``replay()`` then raises if ``read()`` has changed.
    ``what`` names the value in that error. Does nothing outside a capture."""
    graph = _capturing()
    if graph is not None:
        graph._baked.append((what, read, value))


class _LiveScalar:
    """A number a graph reads from the device: ``array`` (0-d), set from ``read()`` before each replay
    when that has changed from ``value``."""

    def __init__(self, array, read):
        self.array, self.read, self.value = array, read, None

    def refresh(self):
        value = self.read()
        if value != self.value:  # one fill, queued before the graph
            self.array.fill(value)
            self.value = value


def graph_scalar(key, read, dtype):
    """``read()``, a number, as the code being captured should pass it to a kernel: outside a capture the
    number itself; inside one a 0-d device array of ``dtype`` that each replay of the graph first sets
    to ``read()`` (so that a learning rate changed between replays reaches the kernels). ``key`` names
    the value within the capture: one array serves every kernel that asks with the same key."""
    graph = _capturing()
    if graph is None:
        return read()
    live = graph._scalars.get(key)
    if live is None:
        slots = graph._slots[np.dtype(dtype)]
        taken = sum(live.array.dtype == slots.dtype for live in graph._scalars.values())
        if taken == len(slots):
            raise RuntimeError(f"graph_scalar: a capture holds at most {len(slots)} values of {slots.dtype} that "
                               "replays refresh")
        live = graph._scalars[key] = _LiveScalar(slots[taken], read)  # a view: nothing for the graph to run
    return live.array


class CUDAGraph:
    """A captured CUDA graph, as ``torch.cuda.CUDAGraph``: capture with ``ember.cuda.graph(g)`` (or
    ``capture_begin``/``capture_end``), then ``replay()``."""

    def __init__(self):
        self._graph = self._pool = self._stream = None
        self._baked = []
        self._scalars = {}  # graph_scalar's key -> _LiveScalar
        self._slots = {}    # dtype -> the device array graph_scalar's arrays are elements of
        self._exits = None

    def capture_begin(self, pool=None):
        """Start capturing the work ember queues on the current GPU into this graph; allocations come
        from ``pool`` (a ``graph_pool_handle()``) or a pool of this graph's own."""
        if runtime.capturing():
            raise RuntimeError("CUDAGraph.capture_begin: a capture is already in progress (captures do not nest)")
        if self._graph is not None:
            raise RuntimeError("CUDAGraph.capture_begin: this graph holds a capture already; reset() it first")
        cp = _cupy()
        gemm.load()  # the GEMM the capture uses instead of cuBLAS, loaded before it starts
        # the GPU's default generator made (and seeded) now if it was not: its state is device memory
        # that must not be born, zeroed, inside the graph
        default_generator_for(devices.device("cuda", cp.cuda.runtime.getDevice()))
        # the capture stream does not wait for work queued before it: let that finish first
        cp.cuda.get_current_stream().synchronize()
        self._pool = pool if pool is not None else GraphPool(cp)
        self._stream = self._pool.stream
        self._baked, self._scalars = [], {}
        # graph_scalar's arrays, made before the capture: made inside it, they would be the graph's own
        # memory, which a replay may treat as scratch; and their fills must stay out of the graph
        self._slots = {np.dtype(dtype): cp.empty(SCALAR_SLOTS, dtype) for dtype in ("float16", "float32", "float64")}
        exits = contextlib.ExitStack()
        exits.enter_context(self._stream)
        exits.enter_context(cp.cuda.using_allocator(self._pool.memory.malloc))
        try:
            self._stream.begin_capture()
        except BaseException:
            exits.close()
            raise
        self._exits = exits
        runtime.set_capturing(True)
        _capturing_graph.graph = self

    def capture_end(self):
        """End the capture; the graph is ready to ``replay()``. Re-raises CUDA's error when the capture
        was invalidated (by a host synchronisation inside it, for instance)."""
        if self._exits is None:
            raise RuntimeError("CUDAGraph.capture_end: no capture is in progress")
        try:
            self._graph = self._stream.end_capture()
        finally:
            runtime.set_capturing(False)
            _capturing_graph.graph = None
            self._exits.close()
            self._exits = None

    def stale(self):
        """What has changed since the capture among the values it baked in (``bake``), as a sentence,
        or None when nothing has."""
        for what, read, value in self._baked:
            now = read()
            if now != value:
                return f"{what} was {value!r} when the graph was captured and is {now!r} now"
        return None

    def replay(self):
        """Run the captured work on the current stream. RuntimeError when there is none, or when a
        value the capture baked in (``bake``) has changed since."""
        if self._graph is None:
            raise RuntimeError("CUDAGraph.replay: nothing has been captured")
        changed = self.stale()
        if changed is not None:
            raise RuntimeError(f"CUDAGraph.replay: {changed}; the graph holds the old value: capture it again")
        for live in self._scalars.values():
            live.refresh()
        self._graph.launch(stream=_cupy().cuda.get_current_stream())

    def reset(self):
        """Drop the captured graph and its memory pool."""
        self._graph = self._pool = self._stream = None
        self._baked, self._scalars, self._slots = [], {}, {}

    def pool(self):
        """The ``GraphPool`` the capture allocated from (pass it to another capture to share it)."""
        return self._pool


@contextlib.contextmanager
def graph(cuda_graph, pool=None):
    """``with ember.cuda.graph(g): ...`` captures the block's GPU work into ``g`` (a ``CUDAGraph``).
    An error inside the block ends the capture, discarding it, and propagates."""
    cuda_graph.capture_begin(pool=pool)
    try:
        yield cuda_graph
    except BaseException:
        with contextlib.suppress(Exception):  # the block's error is the one to report
            cuda_graph.capture_end()
        cuda_graph.reset()
        raise
    cuda_graph.capture_end()


class GraphedStep:
    """``step`` (a function of tensors returning a tensor or a tuple of them, e.g. forward, backward
    and optimizer step) run through CUDA graphs: per shape of the inputs, the first ``warmup`` calls run
    as they are (they create the optimizer's state and load the kernels), the next captures a graph,
    and every call from then on copies its inputs into the graph's and replays it. Every call is one
    real step on its own inputs. The returned tensors are the graph's outputs, overwritten by the next
    call on inputs of that shape: copy them to keep them. When a value the graph baked in has changed
    (a scheduler's new learning rate), the next call captures the step again."""

    def __init__(self, step, warmup=3):
        if warmup < 1:
            raise ValueError(f"make_graphed_step: warmup must be at least 1 (the capture must not create the "
                             f"optimizer's state), got {warmup}")
        self.step, self.warmup = step, warmup
        self._eager_calls = {}   # input signature -> calls run as they are so far
        self._graphs = {}        # input signature -> (CUDAGraph, static inputs, outputs)

    def __call__(self, *inputs):
        from .tensor import Tensor
        if not all(isinstance(t, Tensor) and t.device.type == "cuda" for t in inputs):
            raise TypeError("make_graphed_step: the step's inputs must be cuda tensors, got "
                            + ", ".join(f"{type(t).__name__} on {getattr(t, 'device', 'the host')}" for t in inputs))
        key = tuple((tuple(t.shape), t.dtype, str(t.device)) for t in inputs)
        captured = self._graphs.get(key)
        if captured is not None and captured[0].stale() is not None:
            captured = self._graphs[key] = self._capture(inputs)  # its state exists: no warm-up needed
        if captured is None:
            calls = self._eager_calls.get(key, 0)
            if calls < self.warmup:
                self._eager_calls[key] = calls + 1
                return self.step(*inputs)
            captured = self._graphs[key] = self._capture(inputs)
        cuda_graph, static_inputs, outputs = captured
        for static, new in zip(static_inputs, inputs):
            static._data[...] = new._data
        cuda_graph.replay()
        return outputs

    def _capture(self, inputs):
        static_inputs = tuple(t.detach().clone() for t in inputs)
        cuda_graph = CUDAGraph()
        with graph(cuda_graph):
            outputs = self.step(*static_inputs)
        return cuda_graph, static_inputs, outputs


def make_graphed_step(step, warmup=3):
    """``step`` replayed from CUDA graphs (see ``GraphedStep``): ``train = make_graphed_step(lambda x, y:
    train_step(x, y))``; ``loss = train(x, y)``. The optimizer must keep its state on the GPU
    (``Adam(..., capturable=True)``; SGD needs nothing) and gradients are best reset to None inside the
    step (``optimizer.zero_grad()`` first)."""
    return GraphedStep(step, warmup)
