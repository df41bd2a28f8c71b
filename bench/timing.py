"""Timing helpers: the median time per call after warm-up, auto-calibrated loop counts."""
import statistics
import time


def median_seconds(fn, min_time=0.05, repeats=7, warmup=3):
    """Median seconds per call of ``fn()`` over ``repeats`` rounds of enough calls to last
    ``min_time`` each (after ``warmup`` calls, so caches and allocators are warm)."""
    for _ in range(warmup):
        fn()
    loops = 1
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min_time / 4 or loops >= 1 << 20:
            break
        loops *= 4
    loops = max(1, int(loops * (min_time / max(elapsed, 1e-9))))
    rounds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        rounds.append((time.perf_counter() - start) / loops)
    return statistics.median(rounds)
