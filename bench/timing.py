"""Timing helpers: the median time per call after warm-up, auto-calibrated loop counts, read from a
clock that suits the device (the host's on cpu, CUDA events on a GPU)."""
import statistics
import time


class WallClock:
    """Host time: right for cpu work, which is done when the call returns."""

    def start(self):
        self._start = time.perf_counter()

    def stop(self):
        """Seconds since ``start``."""
        return time.perf_counter() - self._start


class EventClock:
    """GPU time between two CUDA events recorded on the current stream. GPU calls return once their
    kernels are queued, so ``stop`` records the stop event after them and waits for it; the time
    includes any gaps where the GPU waited for the host to launch more (launch-bound work shows).
    ``start_event``/``stop_event``: the timed library's events (CuPy's or PyTorch's);
    ``elapsed_ms(start_event, stop_event)``: that library's reading of the time between them."""

    def __init__(self, start_event, stop_event, elapsed_ms):
        self._start, self._stop, self._elapsed_ms = start_event, stop_event, elapsed_ms

    def start(self):
        self._start.record()

    def stop(self):
        """Seconds between the start event and now, once the GPU has done everything queued."""
        self._stop.record()
        self._stop.synchronize()
        return self._elapsed_ms(self._start, self._stop) / 1e3


def clock_for(library, device):
    """The clock to time ``library`` ('ember' or 'torch') on ``device`` ('cpu' or 'cuda') with: events
    of the library's own stream machinery on cuda (CuPy's for ember, whose arrays are CuPy's)."""
    if device == "cpu":
        return WallClock()
    if library == "torch":
        import torch
        start, stop = (torch.cuda.Event(enable_timing=True) for _ in range(2))
        return EventClock(start, stop, lambda a, b: a.elapsed_time(b))
    from ember.kernels.cuda import runtime
    cp = runtime.cupy()
    return EventClock(cp.cuda.Event(), cp.cuda.Event(), cp.cuda.get_elapsed_time)


def median_seconds(fn, min_time=0.05, repeats=7, warmup=3, clock=None):
    """Median seconds per call of ``fn()`` over ``repeats`` rounds of enough calls to last
    ``min_time`` each (after ``warmup`` calls, so caches, allocators and compiled GPU kernels are
    warm), read from ``clock`` (default: the host's)."""
    clock = clock or WallClock()
    for _ in range(warmup):
        fn()
    loops = 1
    while True:
        clock.start()
        for _ in range(loops):
            fn()
        elapsed = clock.stop()
        if elapsed >= min_time / 4 or loops >= 1 << 20:
            break
        loops *= 4
    loops = max(1, int(loops * (min_time / max(elapsed, 1e-9))))
    rounds = []
    for _ in range(repeats):
        clock.start()
        for _ in range(loops):
            fn()
        rounds.append(clock.stop() / loops)
    return statistics.median(rounds)
