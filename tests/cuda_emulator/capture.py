"""Streams, events and CUDA-graph capture for the fake CuPy (``cupy.cuda.Stream``, ``Event``, ``Graph``,
``get_current_stream``, ``get_elapsed_time`` of fake_cuda.py), as CuPy 14 has them::

    s = cupy.cuda.Stream(non_blocking=True)   # Stream.null (ptr 0) is current until `with s:` or s.use()
    with s:
        s.begin_capture()
        a += 3                                # recorded into the graph, not executed
        b = cupy.abs(a)                       # b exists (its memory is real); its contents are undefined
        g = s.end_capture()                   # a Graph
    g.launch()                                # runs the recorded work on the current stream

A GPU executes nothing during a capture: the work issued on the capturing stream becomes the graph, and
each launch runs it on the arrays' contents of that moment, with the Python scalars it was given at
capture baked in. The fake CuPy computes eagerly with NumPy, so during a capture each device operation
(the functions and methods ``recorded`` marks in fake_cupy.py, elementwise.py and raw_kernels.py) runs
as usual, for its new arrays to get their shapes and memory, and leaves a step for the graph: the same
call on the same device memory, its results written into the arrays the capture returned. To make
"executes nothing" true, ``begin_capture`` saves the bytes of every live allocation and ``end_capture``
puts them back, and fills every allocation made during the capture with 0xFF (NaN) until the first
launch: an operation that the fake forgot to record shows as a wrong replay, not as a pass.

What CuPy cannot capture raises ``CUDARuntimeError`` as CUDA does and invalidates the capture: a
synchronisation, a copy between host and device, cuBLAS, cuRAND (``refuse``, and the ``refuse_when``
checks of ``recorded``; ``refusal`` names them). Work issued later on the stream, and ``end_capture``,
then raise cudaErrorStreamCaptureInvalidated. Work on the legacy null stream while a blocking stream
captures raises cudaErrorStreamCaptureImplicit, as on a GPU.

A graph holds device pointers, not arrays: an array it uses may be freed and its memory handed to a new
array by the pool, which the next launch then overwrites. CuPy's pool gives a freed block only to
allocations on the stream it was allocated on (fake_cuda.MemoryPool counts those), so a launch raises
when an array the graph uses was freed and its pool has since served an allocation on that stream: the
error a GPU does not give (it corrupts memory silently). A capture that allocates from a pool of its own
(``cupy.cuda.using_allocator(pool.malloc)``), which nothing else allocates from, is safe.

Not emulated: work on another stream while a stream captures (NotImplementedError: the restore at the
capture's end would undo it), streams joined into a capture through events, capture modes other than
relaxed. A launch runs its work before it returns.
"""
import functools
import itertools
import threading
import weakref

import numpy as np

RELAXED = 2  # cudaStreamCaptureModeRelaxed, CuPy's default mode

_ERRORS = {  # CUDA's messages
    "cudaErrorStreamCaptureUnsupported": "operation not permitted when stream is capturing",
    "cudaErrorStreamCaptureInvalidated": "operation failed due to a previous error during capture",
    "cudaErrorStreamCaptureIsolation": "dependency created on uncaptured work in another stream",
    "cudaErrorStreamCaptureImplicit": "operation would make the legacy stream depend on a capturing blocking stream",
    "cudaErrorCapturedEvent": "operation not permitted on an event last recorded in a capturing stream",
    "cudaErrorIllegalState": "the operation cannot be performed in the present state",
}


class CUDARuntimeError(RuntimeError):
    """``cupy.cuda.runtime.CUDARuntimeError``: '<CUDA's error>: <its message> (emulated): <what raised it>'."""

    def __init__(self, error, what):
        super().__init__(f"{error}: {_ERRORS[error]} (emulated): {what}")
        self.error = error


# ---- what CuPy refuses during a capture ---------------------------------------------------------

_REFUSED = {**dict.fromkeys(["matmul", "dot", "tensordot", "einsum", "inner", "vdot"], "cuBLAS"),
            **dict.fromkeys(["nonzero", "flatnonzero", "argwhere", "unique", "extract", "compress"],
                            "its output's size is copied to the host"),
            **dict.fromkeys(["item", "tolist"], "a copy to the host")}


def refusal(name, args=()):
    """What CuPy refuses of a call of ``name`` ('cupy.dot', 'ndarray.item', 'cupy.linalg.solve') with
    ``args`` during a capture, as the error names it; None where CuPy captures it."""
    short = name.rpartition(".")[2]
    if short in _REFUSED:
        return f"{name} ({_REFUSED[short]})"
    if name.startswith("cupy.linalg."):
        return f"{name} (cuBLAS and cuSOLVER)"
    if short == "where" and len(args) == 1:
        return f"{name} of one argument (cupy.nonzero: its output's size is copied to the host)"
    return None


# ---- the state: open captures, the current stream, the depth of the fake's own calls ------------

busy = False    # a capture is open or a graph launches: the fake's operations take the slow path only then
_captures = {}  # stream ptr -> the _Capture open on it
_launching = 0  # graph launches in progress


def _update_busy():
    global busy
    busy = bool(_captures) or _launching > 0


class _Thread(threading.local):
    """Per thread, as CuPy's: the stack of current streams (``with stream:`` pushes, the current one is
    last); ``depth`` > 0 inside a recorded operation or a launch, whose inner calls are the fake's own
    work (not recorded again, not refused); ``replaying`` > 0 inside a launch."""

    def __init__(self):
        self.streams, self.depth, self.replaying = [Stream.null], 0, 0


def current_stream():
    """``cupy.cuda.get_current_stream()``."""
    return _thread.streams[-1]


def _blocking_capture():
    """An open capture on a blocking stream (one that the legacy null stream synchronises with), or None."""
    return next((c for c in _captures.values() if not c.stream.is_non_blocking), None)


def _refuse_on_legacy(stream, what):
    """cudaErrorStreamCaptureImplicit for ``what`` on the legacy stream while a blocking stream captures
    (the legacy stream would wait for that capture, which it invalidates)."""
    blocking = _blocking_capture() if stream.ptr == 0 else None
    if blocking is not None:
        blocking.fail("cudaErrorStreamCaptureImplicit", what)


def _capture_of(stream, what):
    """The open capture that ``what``, work issued now on ``stream``, joins; None when none is open. CUDA's
    error where it may not be issued (the capture is invalidated; the legacy stream while a blocking
    stream captures); NotImplementedError for work on another stream beside a capture."""
    capture = _captures.get(stream.ptr)
    if capture is not None:
        capture.check(what)
        return capture
    if not _captures:
        return None
    _refuse_on_legacy(stream, what)
    raise NotImplementedError(f"{what} on {stream!r} while {next(iter(_captures.values())).stream!r} captures: the "
                              "CUDA host emulator runs no work beside a capture (the capture's end restores device "
                              "memory, which would undo it)")


def refuse(what):
    """CUDA's error for ``what``, which CuPy cannot capture (a synchronisation, a copy between host and
    device, cuRAND), where work on the current stream would be captured now; the capture is invalidated.
    Nothing otherwise: outside a capture, or inside the fake's own work."""
    if busy and not _thread.depth:
        capture = _capture_of(current_stream(), what)
        if capture is not None:
            capture.fail("cudaErrorStreamCaptureUnsupported", what)


def refuse_waiting_on(stream, what):
    """CUDA's error for ``what``, where the host waits for ``stream``: refused while it captures, or when it
    is the legacy stream and a blocking stream captures (the capture is invalidated)."""
    if busy and not _thread.depth:
        capture = _captures.get(stream.ptr)
        if capture is not None:
            capture.fail("cudaErrorStreamCaptureUnsupported", what)
        _refuse_on_legacy(stream, what)


def refuse_device_wide(what):
    """CUDA's error for ``what``, a wait for the whole device (``Device.synchronize``), while any stream
    captures: every open capture is invalidated."""
    if busy and not _thread.depth and _captures:
        for capture in _captures.values():
            capture.invalidate("cudaErrorStreamCaptureUnsupported", what)
        raise CUDARuntimeError("cudaErrorStreamCaptureUnsupported", what)


def recorded(function=None, *, refuse_when=None):
    """Marks ``function`` as device work: called while the current stream captures, it runs and leaves a
    step for the graph, unless ``refuse_when(*args, **kwargs)`` names what CuPy would refuse of the call
    (CUDA's error, the capture invalidated). Use as ``@recorded`` or ``@recorded(refuse_when=...)``."""
    if function is None:
        return functools.partial(recorded, refuse_when=refuse_when)

    @functools.wraps(function)
    def call(*args, **kwargs):
        if not busy:  # the one check outside a capture
            return function(*args, **kwargs)
        return _record(function, refuse_when, args, kwargs)
    return call


def _record(function, refuse_when, args, kwargs):
    thread = _thread
    capture = None if thread.depth else _capture_of(thread.streams[-1], function.__qualname__)
    if capture is None:
        return function(*args, **kwargs)
    refused = refuse_when is not None and refuse_when(*args, **kwargs)
    if refused:
        capture.fail("cudaErrorStreamCaptureUnsupported", refused)
    thread.depth += 1
    try:
        result = function(*args, **kwargs)
    finally:
        thread.depth -= 1
    capture.record(function, args, kwargs, result)
    return result


def allocation_made(allocation):
    """Whether the new ``allocation`` takes memory from the allocator: not in a launch (a graph allocates
    nothing; its temporaries are the emulator's). The open captures poison it at their end."""
    for capture in _captures.values():
        capture.made.append(weakref.ref(allocation.bytes))
    return not _thread.replaying


def reset():
    """Ends every open capture (device memory restored as at its start) and makes the null stream current
    again: what a test leaves does not reach the next (cuda_emulator.install calls it)."""
    for capture in _captures.values():
        capture.close()
    _captures.clear()
    _update_busy()
    _thread.streams[:] = [Stream.null]


# ---- captures and graphs ------------------------------------------------------------------------

def _arrays(value):
    """The device arrays of an operation's result, through tuples and lists, in order."""
    from . import fake_cupy
    if isinstance(value, fake_cupy.ndarray):
        return [value]
    if type(value) in (tuple, list):
        return [array for v in value for array in _arrays(v)]
    return []


class _Step:
    """One recorded call: ``function(*args, **kwargs)`` on borrowed memory, whose resulting arrays are
    written into ``outputs``, the arrays the capture returned (a view of their own memory is already
    there)."""
    __slots__ = ("function", "args", "kwargs", "outputs")

    def __init__(self, function, args, kwargs, outputs):
        self.function, self.args, self.kwargs, self.outputs = function, args, kwargs, outputs

    def run(self):
        result = self.function(*self.args, **self.kwargs)
        for output, computed in zip(self.outputs, _arrays(result)):
            if not np.may_share_memory(output._data, computed._data):
                np.copyto(output._data, computed._data)


class _Capture:
    """The work captured on ``stream``: its ``steps``, the memory they borrow, the bytes of the allocations
    live at its start (``saved``), the allocations made since (``made``); ``error``: what invalidated it."""

    def __init__(self, stream):
        from . import fake_cupy
        self.stream, self.steps, self.error = stream, [], None
        buffers = {id(a.bytes): a.bytes for a in list(fake_cupy.live_allocations)}
        self.saved = [(buffer, buffer.copy()) for buffer in buffers.values()]
        self.made = []  # weak references to their bytes
        self.borrowed = weakref.WeakKeyDictionary()  # allocation -> what the steps hold of it
        self.memory = []  # every borrowed memory, whether its allocation lives or not

    def check(self, what):
        """cudaErrorStreamCaptureInvalidated for ``what`` once an error invalidated the capture."""
        if self.error is not None:
            raise CUDARuntimeError("cudaErrorStreamCaptureInvalidated", f"{what}; {self.error} invalidated the "
                                   f"capture on {self.stream!r}")

    def invalidate(self, error, what):
        if self.error is None:
            self.error = f"{what} ({error})"

    def fail(self, error, what):
        """Raises CUDA's ``error`` for ``what``, which invalidates the capture (or the error that did)."""
        self.check(what)
        self.invalidate(error, what)
        raise CUDARuntimeError(error, what)

    def borrow(self, value):
        """``value`` with its device arrays on borrowed memory, through tuples, lists and dicts (copies, so
        that what the capture was given is baked in): a step holds memory, not arrays, which may be
        freed as on a GPU."""
        from . import fake_cupy
        if isinstance(value, fake_cupy.ndarray):
            memory = self.borrowed.get(value._allocation)
            if memory is None:
                memory = self.borrowed[value._allocation] = value._allocation.borrowed()
                self.memory.append(memory)
            return fake_cupy.ndarray(value._data, memory)
        if type(value) in (tuple, list):
            return type(value)(self.borrow(v) for v in value)
        if type(value) is dict:
            return {k: self.borrow(v) for k, v in value.items()}
        return value

    def record(self, function, args, kwargs, result):
        self.steps.append(_Step(function, self.borrow(args), self.borrow(kwargs), _arrays(self.borrow(result))))

    def close(self):
        """Device memory as if nothing had run: the saved bytes restored, the allocations made poisoned."""
        from . import fake_cupy
        for buffer, saved in self.saved:
            np.copyto(buffer, saved)
        for reference in self.made:
            buffer = reference()
            if buffer is not None:
                buffer.fill(fake_cupy.POISON)


class Graph:
    """``cupy.cuda.Graph``: the steps of a capture, which ``launch`` replays."""

    def __init__(self, steps, memories):
        self._steps = steps
        # the pool blocks of the memory the steps use, and how many allocations each block's arena had
        # served at the capture's end (those made in the capture are the graph's own)
        self._blocks = [(memory, memory.block, memory.block.served()) for memory in memories
                        if memory.block is not None]

    def launch(self, stream=None):
        """Runs the captured work on ``stream`` (by default the current one)."""
        with current_stream() if stream is None else stream:
            _launch_graph(self)

    def upload(self, stream=None):
        """Nothing to upload: the steps run on the host."""

    def _check_memory(self):
        for memory, block, served in self._blocks:
            if block.reused_after(served):
                raise RuntimeError(
                    f"cupy.cuda.Graph.launch: the graph uses a {memory.nbytes}-byte array that has been freed, and "
                    f"its memory pool has since served allocations on the stream its block belongs to (ptr "
                    f"{block.arena}), outside the capture: on a GPU the graph would now overwrite another array "
                    "(emulated check; a GPU corrupts memory silently). Keep the arrays a graph uses alive, and "
                    "capture with a pool of its own that nothing else allocates from "
                    "(cupy.cuda.using_allocator(pool.malloc))")

    def _replay(self):
        global _launching
        self._check_memory()
        _launching += 1
        _update_busy()
        _thread.depth += 1
        _thread.replaying += 1
        try:
            for step in self._steps:
                step.run()
        finally:
            _thread.depth -= 1
            _thread.replaying -= 1
            _launching -= 1
            _update_busy()


@recorded
def _launch_graph(graph):
    """A launch is work on the current stream: while another stream captures, a child graph."""
    graph._replay()


# ---- streams and events -------------------------------------------------------------------------

_handles = itertools.count(0x7F0000001000, 0x100)  # ptr of new streams and events: distinct, never 0, 1 or 2


class Stream:
    """``cupy.cuda.Stream``: ``ptr`` (0 for ``Stream.null``, 2 for ``Stream.ptds``), current inside
    ``with stream:`` (nestable) or after ``use()``, and its capture."""
    null = ptds = None  # the singletons, made below

    def __init__(self, null=False, non_blocking=False, ptds=False, priority=None):
        self.ptr = 0 if null else 2 if ptds else next(_handles)
        self.device_id = -1 if null or ptds else 0  # the emulator has one GPU
        self.is_non_blocking = bool(non_blocking) and not (null or ptds)

    def __eq__(self, other):
        return isinstance(other, Stream) and other.ptr == self.ptr

    def __hash__(self):
        return self.ptr

    def __repr__(self):
        return f"<Stream {self.ptr} (device {self.device_id})>"

    def __enter__(self):
        _thread.streams.append(self)
        return self

    def __exit__(self, *exc):
        _thread.streams.pop()

    def use(self):
        _thread.streams[-1] = self
        return self

    @property
    def done(self):
        refuse_waiting_on(self, "cupy.cuda.Stream.done")
        return True

    def synchronize(self):
        refuse_waiting_on(self, "cupy.cuda.Stream.synchronize")

    def record(self, event=None):
        event = Event() if event is None else event
        event.record(self)
        return event

    def wait_event(self, event):
        """The stream's later work waits for ``event``. In a capture, the event must have been recorded in
        it (cudaErrorStreamCaptureIsolation otherwise); a stream waiting on an event of a capture would
        join it, which the emulator does not do."""
        if not busy or _thread.depth:
            return
        capture = _captures.get(self.ptr)
        if capture is not None and event._capture is not capture:
            capture.fail("cudaErrorStreamCaptureIsolation", "cupy.cuda.Stream.wait_event on an event recorded "
                                                             "outside the capture")
        if capture is None and event._capture is not None and event._capture.stream.ptr in _captures:
            raise NotImplementedError(f"{self!r}.wait_event on an event of the capture on {event._capture.stream!r} "
                                      "joins the stream to that capture: the CUDA host emulator captures one stream")

    def begin_capture(self, mode=None):
        if self.ptr in (0, 1):
            raise RuntimeError("cannot capture on the default (legacy) stream")
        if mode not in (None, RELAXED):
            raise NotImplementedError("the CUDA host emulator captures in relaxed mode only (CuPy's default)")
        if self.ptr in _captures:
            raise CUDARuntimeError("cudaErrorIllegalState", f"{self!r}.begin_capture: the stream captures already")
        _captures[self.ptr] = _Capture(self)
        _update_busy()

    def end_capture(self):
        """The captured Graph; device memory as it was at ``begin_capture`` (the arrays made since are
        NaN until the first launch). cudaErrorStreamCaptureInvalidated when an error invalidated it."""
        capture = _captures.pop(self.ptr, None)
        if capture is None:
            raise CUDARuntimeError("cudaErrorIllegalState", f"{self!r}.end_capture: the stream is not capturing")
        _update_busy()
        capture.close()
        capture.check("cupy.cuda.Stream.end_capture")
        return Graph(capture.steps, capture.memory)

    def is_capturing(self):
        capture = _captures.get(self.ptr)
        if capture is not None and capture.error is not None:
            raise RuntimeError("the stream was capturing, but an error has invalidated the capture sequence")
        if capture is None and self.ptr == 0 and _blocking_capture() is not None:
            raise CUDARuntimeError("cudaErrorStreamCaptureImplicit", "is_capturing of the legacy stream")
        return capture is not None


Stream.null, Stream.ptds = Stream(null=True), Stream(ptds=True)
_thread = _Thread()


class Event:
    """``cupy.cuda.Event``: recorded on a stream; one recorded in a capture belongs to it, and the host
    may not wait for it (cudaErrorCapturedEvent) while the capture is open."""

    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.ptr, self._capture = next(_handles), None

    def record(self, stream=None):
        stream = current_stream() if stream is None else stream
        self._capture = _capture_of(stream, "cupy.cuda.Event.record") if busy and not _thread.depth else None

    def _refuse_waiting(self, what):
        capture = self._capture
        if busy and not _thread.depth and capture is not None and _captures.get(capture.stream.ptr) is capture:
            capture.fail("cudaErrorCapturedEvent", what)

    @property
    def done(self):
        self._refuse_waiting("cupy.cuda.Event.done")
        return True

    def synchronize(self):
        self._refuse_waiting("cupy.cuda.Event.synchronize")


def get_elapsed_time(start_event, end_event):
    """``cupy.cuda.get_elapsed_time``: 0 ms here (the emulator measures no time)."""
    for event in (start_event, end_event):
        event._refuse_waiting("cupy.cuda.get_elapsed_time")
    return 0.0
