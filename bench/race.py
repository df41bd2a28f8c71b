"""Racing ember against PyTorch: each library times the cases in its own worker process, with the
same thread count, and the parent pairs the times up.

Separate processes because thread pools fight: NumPy's OpenBLAS workers, ember's OpenMP workers and
PyTorch's OpenMP workers spin for a while after each call, and one library's spinning threads were
measured slowing the other's small GEMMs by up to 40x on 2 cores.

On cuda the inputs are made on the GPU and each library reads its own CUDA events around each round
of calls (timing.EventClock), since a GPU call returns before its kernels have run.
"""
import contextlib
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np

from . import gpu
from .timing import clock_for, median_seconds

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def implementations(kernel, device="cpu"):
    """Names of ember's available implementations of a kernel on ``device`` (of every registry op it
    prefixes)."""
    if kernel is None:
        return ["ember"]
    import ember
    found = []
    for op, devices in ember.kernels.available().items():
        if op == kernel or op.startswith(kernel + "_"):
            for name, state in devices.get(device, {}).get("implementations", {}).items():
                if state == "available" and name not in found:
                    found.append(name)
    return found or ["ember"]


def tensors(lib, arrays, device="cpu"):
    """The case's arrays as ``lib`` tensors on ``device``; float ones require grad."""
    return [lib.tensor(a, requires_grad=a.dtype.kind == "f", device=device) for a in arrays]


def timed_function(lib, run, mode, inputs):
    """What to time for ``mode``: the case's function itself ('fwd', 'train'), or it followed by a
    backward from a ones seed, clearing the inputs' gradients ('fwd+bwd')."""
    if mode != "fwd+bwd":
        return run
    seed = lib.ones_like(run())

    def forward_backward():
        run().backward(seed)
        for t in inputs:
            t.grad = None
    return forward_backward


def least_traffic(arrays, output):
    """Bytes a forward must move at the least: read every input once, write the output once."""
    return sum(a.nbytes for a in arrays) + output.numel() * output.element_size()


def time_case(lib, case, arrays, quick, device="cpu", clock=None):
    """({mode: seconds}, forward bytes or None) for one case in one library (the current kernel
    choice, for ember), its inputs ``arrays`` on ``device``; the bytes for memory-bound cases only."""
    inputs = tensors(lib, arrays, device)
    run = case.build(lib, *inputs)
    # training steps vary more from round to round (allocation, thread hand-offs): longer rounds
    min_time, repeats = (0.01, 3) if quick else (0.4, 7) if "train" in case.modes else (0.1, 7)
    times = {mode: median_seconds(timed_function(lib, run, mode, inputs), min_time, repeats, clock=clock)
             for mode in case.modes}
    return times, least_traffic(arrays, run()) if case.memory_bound else None


def suites(device="cpu"):
    """suite name -> its cases on ``device``."""
    from .cases import kernel_cases, op_cases
    from .models import model_cases
    return {"kernels": kernel_cases(device), "models": model_cases(), "ops": op_cases(device)}


def worker(library, suite, selection, quick, device="cpu"):
    """Time every selected case in ``library`` ('ember' or 'torch') on ``device``; one JSON record per
    line on stdout (on cuda, first the GPU and versions, and for ember the copy bandwidth), progress on
    stderr. Ember times each available implementation of a case's kernel."""
    cases = select(suites(device)[suite], selection)
    if library == "torch":
        import torch
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))
        # float32 as ember computes it: cuDNN's convolutions default to TF32 (10-bit mantissas)
        torch.backends.cudnn.allow_tf32 = False
        lib = torch
    else:
        import ember
        lib = ember
    clock = clock_for(library, device)
    if device == "cuda":
        environment = gpu.environment(library)
        if library == "ember":
            environment["copy_gbps"] = gpu.copy_gbps(clock, quick)
        print(json.dumps(dict(environment=environment)), flush=True)
    for case in cases:
        arrays = case.make(np.random.default_rng(0))
        variants = case.cuda_variants if library == "ember" and device == "cuda" else {}
        for name in ["torch"] if library == "torch" else implementations(case.kernel, device) + list(variants):
            forced = name not in ("torch", "ember", *variants)  # a named implementation of the case's kernel
            timed = dataclasses.replace(case, build=variants[name]) if name in variants else case
            try:
                with lib.kernels.use(**{case.kernel: name}) if forced else contextlib.nullcontext():
                    times, traffic = time_case(lib, timed, arrays, quick, device, clock)
            except Exception as error:
                if library == "torch":
                    raise
                # one failing implementation (or one that lacks some op of its kernel) must not cost the
                # rest of the race: report it and go on
                print(json.dumps(dict(key=case.key, implementation=name, error=f"{type(error).__name__}: {error}")),
                      flush=True)
                print(f"  {library:<6}{case.key:<56}{name:<9}FAILED {type(error).__name__}: {error}",
                      file=sys.stderr, flush=True)
                continue
            for mode, seconds in times.items():
                record = dict(key=case.key, implementation=name, mode=mode, ms=seconds * 1e3)
                if mode == "fwd" and traffic is not None:
                    record["bytes"] = traffic
                print(json.dumps(record), flush=True)
            print(f"  {library:<6}{case.key:<56}{name:<9}" +
                  "  ".join(f"{mode} {seconds * 1e3:.3f} ms" for mode, seconds in times.items()),
                  file=sys.stderr, flush=True)


def select(cases, selection):
    """The cases whose group is in ``selection`` (all if it is empty); unknown names raise."""
    if not selection:
        return cases
    groups = {case.group for case in cases}
    unknown = [name for name in selection if name not in groups]
    if unknown:
        raise SystemExit(f"unknown benchmark {unknown}; known: {', '.join(sorted(groups))}")
    return [case for case in cases if case.group in selection]


def run_worker(library, suite, selection, quick, threads, device="cpu"):
    """Run ``worker`` in a fresh process with ``threads`` threads for every pool; its JSON lines."""
    env = dict(os.environ, **{name: str(threads) for name in THREAD_VARIABLES})
    command = [sys.executable, "-m", "ember.bench.race", library, suite, ",".join(selection), str(int(quick)), device]
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True)
    if done.returncode:
        raise SystemExit(f"the {library} benchmark worker failed (exit {done.returncode})")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def _gbps(nbytes, ms):
    return nbytes / (ms * 1e-3) / 1e9


def race(suite, cases, selection, quick, threads, device="cpu"):
    """(records pairing each ember implementation's time with PyTorch's, per case and mode; the
    workers' environment: GPU, versions, copy bandwidth on cuda; the ember implementations that
    failed). On cuda a memory-bound forward's record also holds both libraries' effective bandwidth
    (GB/s) and ember's fraction of the copy bandwidth."""
    ember_lines = run_worker("ember", suite, selection, quick, threads, device)
    torch_lines = run_worker("torch", suite, selection, quick, threads, device)
    environment = {}
    for line in ember_lines + torch_lines:
        environment.update(line.get("environment", {}))
    torch_ms = {(r["key"], r["mode"]): r["ms"] for r in torch_lines if "ms" in r}
    by_key = {case.key: case for case in cases}
    copy_gbps = environment.get("copy_gbps")
    records = []
    for r in ember_lines:
        if "ms" not in r:
            continue
        case = by_key[r["key"]]
        torch_time = torch_ms[(r["key"], r["mode"])]
        record = dict(kernel=case.group, shape=case.shape, implementation=r["implementation"],
                      device=device, mode=r["mode"], ember_ms=r["ms"], torch_ms=torch_time,
                      speed_ratio=torch_time / r["ms"])
        if copy_gbps and "bytes" in r:
            record.update(bytes=r["bytes"], ember_gbps=_gbps(r["bytes"], r["ms"]),
                          torch_gbps=_gbps(r["bytes"], torch_time),
                          copy_fraction=_gbps(r["bytes"], r["ms"]) / copy_gbps)
        records.append(record)
    failures = [r for r in ember_lines if "error" in r]
    return records, environment, failures


if __name__ == "__main__":
    library, suite, selection, quick, device = sys.argv[1:6]
    worker(library, suite, [s for s in selection.split(",") if s], quick == "1", device)
