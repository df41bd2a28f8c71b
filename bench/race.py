"""Racing ember against PyTorch: each library times the cases in its own worker process, with the
same thread count, and the parent pairs the times up.

Separate processes because thread pools fight: NumPy's OpenBLAS workers, ember's OpenMP workers and
PyTorch's OpenMP workers spin for a while after each call, and one library's spinning threads were
measured slowing the other's small GEMMs by up to 40x on 2 cores.
"""
import contextlib
import json
import os
import subprocess
import sys

import numpy as np

from .timing import median_seconds

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def implementations(kernel):
    """Names of ember's available implementations of a kernel (every registry op it prefixes)."""
    if kernel is None:
        return ["ember"]
    import ember
    found = []
    for op, devices in ember.kernels.available().items():
        if op == kernel or op.startswith(kernel + "_"):
            for name, state in devices.get("cpu", {}).get("implementations", {}).items():
                if state == "available" and name not in found:
                    found.append(name)
    return found or ["ember"]


def tensors(lib, arrays):
    """The case's arrays as ``lib`` tensors; float ones require grad."""
    return [lib.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]


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


def time_case(lib, case, quick):
    """{mode: seconds} for one case in one library (the current kernel choice, for ember)."""
    inputs = tensors(lib, case.make(np.random.default_rng(0)))
    run = case.build(lib, *inputs)
    # training steps vary more from round to round (allocation, thread hand-offs): longer rounds
    min_time, repeats = (0.01, 3) if quick else (0.4, 7) if "train" in case.modes else (0.1, 7)
    return {mode: median_seconds(timed_function(lib, run, mode, inputs), min_time, repeats) for mode in case.modes}


def suites():
    """suite name -> its cases."""
    from .cases import kernel_cases, op_cases
    from .models import model_cases
    return {"kernels": kernel_cases(), "models": model_cases(), "ops": op_cases()}


def worker(library, suite, selection, quick):
    """Time every selected case in ``library`` ('ember' or 'torch'); one JSON record per line on
    stdout, progress on stderr. Ember times each available implementation of a case's kernel."""
    cases = select(suites()[suite], selection)
    if library == "torch":
        import torch
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))
        lib = torch
    else:
        import ember
        lib = ember
    for case in cases:
        for name in ["torch"] if library == "torch" else implementations(case.kernel):
            forced = name not in ("torch", "ember")  # a named implementation of the case's kernel
            with lib.kernels.use(**{case.kernel: name}) if forced else contextlib.nullcontext():
                times = time_case(lib, case, quick)
            for mode, seconds in times.items():
                print(json.dumps(dict(key=case.key, implementation=name, mode=mode, ms=seconds * 1e3)), flush=True)
            print(f"  {library:<6}{case.key:<56}{name:<7}" +
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


def run_worker(library, suite, selection, quick, threads):
    """Run ``worker`` in a fresh process with ``threads`` threads for every pool; its records."""
    env = dict(os.environ, **{name: str(threads) for name in THREAD_VARIABLES})
    command = [sys.executable, "-m", "ember.bench.race", library, suite, ",".join(selection), str(int(quick))]
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True)
    if done.returncode:
        raise SystemExit(f"the {library} benchmark worker failed (exit {done.returncode})")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def race(suite, cases, selection, quick, threads):
    """Records pairing each ember implementation's time with PyTorch's, per case and mode."""
    ember_records = run_worker("ember", suite, selection, quick, threads)
    torch_ms = {(r["key"], r["mode"]): r["ms"] for r in run_worker("torch", suite, selection, quick, threads)}
    by_key = {case.key: case for case in cases}
    records = []
    for r in ember_records:
        case = by_key[r["key"]]
        torch_time = torch_ms[(r["key"], r["mode"])]
        records.append(dict(kernel=case.group, shape=case.shape, implementation=r["implementation"],
                            device="cpu", mode=r["mode"], ember_ms=r["ms"], torch_ms=torch_time,
                            speed_ratio=torch_time / r["ms"]))
    return records


if __name__ == "__main__":
    library, suite, selection, quick = sys.argv[1:5]
    worker(library, suite, [s for s in selection.split(",") if s], quick == "1")
