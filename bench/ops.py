"""Per-op timings, ember against PyTorch (CPU), forward and forward+backward, at two sizes; and the
autograd overhead per op (a chain of 100 ops on 8x8 tensors).

    ember bench                     # the full table, written to bench/results/ops-<date>.json
    ember bench --ops add,matmul    # a subset
    ember bench --quick             # fewer rounds, for a smoke run
"""
import argparse
import datetime
import json
import os
import platform
import sys

import numpy as np

import ember

from .timing import median_seconds

SIZES = {"small": (64, 64), "medium": (1024, 1024)}


def _pair(shape, rng, low=None):
    array = rng.standard_normal(shape).astype(np.float32)
    if low is not None:
        array = np.abs(array) + low
    return array


def op_table():
    """name -> (make inputs(shape, rng) -> list of float32 arrays, fn(lib, *tensors) -> tensor).
    ``lib`` is the module namespace: ember or torch, so one lambda serves both."""
    F = lambda lib: lib.nn.functional  # noqa: E731
    return {
        "add": (lambda s, r: [_pair(s, r), _pair(s, r)], lambda lib, a, b: a + b),
        "mul": (lambda s, r: [_pair(s, r), _pair(s, r)], lambda lib, a, b: a * b),
        "div": (lambda s, r: [_pair(s, r), _pair(s, r, 0.5)], lambda lib, a, b: a / b),
        "add_broadcast": (lambda s, r: [_pair(s, r), _pair(s[-1:], r)], lambda lib, a, b: a + b),
        "exp": (lambda s, r: [_pair(s, r)], lambda lib, a: a.exp()),
        "log": (lambda s, r: [_pair(s, r, 0.1)], lambda lib, a: a.log()),
        "tanh": (lambda s, r: [_pair(s, r)], lambda lib, a: a.tanh()),
        "sigmoid": (lambda s, r: [_pair(s, r)], lambda lib, a: a.sigmoid()),
        "relu": (lambda s, r: [_pair(s, r)], lambda lib, a: F(lib).relu(a)),
        "gelu": (lambda s, r: [_pair(s, r)], lambda lib, a: F(lib).gelu(a)),
        "pow2": (lambda s, r: [_pair(s, r)], lambda lib, a: a ** 2),
        "sum": (lambda s, r: [_pair(s, r)], lambda lib, a: a.sum()),
        "sum_dim": (lambda s, r: [_pair(s, r)], lambda lib, a: a.sum(dim=1)),
        "mean": (lambda s, r: [_pair(s, r)], lambda lib, a: a.mean(dim=0)),
        "max_dim": (lambda s, r: [_pair(s, r)], lambda lib, a: a.max(dim=1)[0]),
        "var": (lambda s, r: [_pair(s, r)], lambda lib, a: a.var(dim=1)),
        "logsumexp": (lambda s, r: [_pair(s, r)], lambda lib, a: a.logsumexp(dim=1)),
        "matmul": (lambda s, r: [_pair(s, r), _pair(s[::-1], r)], lambda lib, a, b: a @ b),
        "transpose": (lambda s, r: [_pair(s, r)], lambda lib, a: a.transpose(0, 1).contiguous()),
        "getitem": (lambda s, r: [_pair(s, r)], lambda lib, a: a[1::2]),
        "cat": (lambda s, r: [_pair(s, r), _pair(s, r)], lambda lib, a, b: lib.cat([a, b], dim=0)),
        "softmax": (lambda s, r: [_pair(s, r)], lambda lib, a: F(lib).softmax(a, dim=1)),
        "log_softmax": (lambda s, r: [_pair(s, r)], lambda lib, a: F(lib).log_softmax(a, dim=1)),
        "cross_entropy": (lambda s, r: [_pair(s, r)],
                          lambda lib, a: F(lib).cross_entropy(a, lib.arange(a.shape[0]) % a.shape[1])),
        "mse_loss": (lambda s, r: [_pair(s, r), _pair(s, r)], lambda lib, a, b: F(lib).mse_loss(a, b)),
    }


def _tensors(lib, arrays):
    return [lib.tensor(a, requires_grad=True) for a in arrays]


def time_op(lib, fn, arrays, quick):
    """(forward seconds, forward+backward seconds) of ``fn`` on fresh leaf tensors."""
    inputs = _tensors(lib, arrays)
    out = fn(lib, *inputs)
    seed = lib.ones_like(out)
    min_time = 0.01 if quick else 0.05

    def forward():
        fn(lib, *inputs)

    def forward_backward():
        fn(lib, *inputs).backward(seed)
        for t in inputs:
            t.grad = None

    return (median_seconds(forward, min_time, 3 if quick else 7),
            median_seconds(forward_backward, min_time, 3 if quick else 7))


def chain_overhead(lib, quick, length=100):
    """Seconds per op of forward+backward through a chain of ``length`` small ops on 8x8 tensors:
    almost all of it is the framework's own per-op cost, not arithmetic."""
    x = lib.tensor(np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32),
                   requires_grad=True)
    w = lib.tensor(np.full((8, 8), 0.5, np.float32), requires_grad=True)

    def run():
        y = x
        for i in range(length // 2):
            y = y * w
            y = y + x
        y.sum().backward()
        x.grad = w.grad = None

    return median_seconds(run, 0.02 if quick else 0.2, 3 if quick else 7) / (length + 1)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="ember bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", help="comma-separated op names (default: all)")
    parser.add_argument("--sizes", default="small,medium", help="comma-separated: small, medium")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    parser.add_argument("--output", default=None, help="JSON file for the results "
                        "(default: bench/results/ops-<date>.json in the repository, if writable)")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("ember bench compares against PyTorch: pip install torch==2.13.0 (CPU)", file=sys.stderr)
        return 2

    table = op_table()
    names = args.ops.split(",") if args.ops else list(table)
    unknown = [n for n in names if n not in table]
    if unknown:
        print(f"unknown ops {unknown}; known: {', '.join(table)}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(0)
    rows = []
    print(f"ember {ember.__version__} vs torch {torch.__version__} on {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} torch threads; float32; medians after warm-up")
    print(f"{'op':<15}{'size':<11}{'ember fwd':>11}{'torch fwd':>11}{'ratio':>7}"
          f"{'ember f+b':>12}{'torch f+b':>11}{'ratio':>7}")
    for name in names:
        make, fn = table[name]
        for size_name in args.sizes.split(","):
            arrays = make(SIZES[size_name], rng)
            e_fwd, e_fb = time_op(ember, fn, arrays, args.quick)
            t_fwd, t_fb = time_op(torch, fn, arrays, args.quick)
            row = dict(op=name, size=size_name, shape=SIZES[size_name], ember_forward_s=e_fwd,
                       torch_forward_s=t_fwd, ember_fwd_bwd_s=e_fb, torch_fwd_bwd_s=t_fb,
                       forward_ratio=e_fwd / t_fwd, fwd_bwd_ratio=e_fb / t_fb)
            rows.append(row)
            print(f"{name:<15}{size_name:<11}{_fmt(e_fwd):>11}{_fmt(t_fwd):>11}{e_fwd / t_fwd:>7.2f}"
                  f"{_fmt(e_fb):>12}{_fmt(t_fb):>11}{e_fb / t_fb:>7.2f}")
    e_chain, t_chain = chain_overhead(ember, args.quick), chain_overhead(torch, args.quick)
    print(f"\nautograd overhead per op (chain of 100 mul/add on 8x8, forward+backward): "
          f"ember {_fmt(e_chain)}, torch {_fmt(t_chain)}, ratio {e_chain / t_chain:.2f}")
    result = dict(date=datetime.datetime.now().isoformat(timespec="seconds"),
                  ember=ember.__version__, torch=torch.__version__, machine=platform.machine(),
                  torch_threads=torch.get_num_threads(), ops=rows,
                  chain_overhead=dict(ember_s_per_op=e_chain, torch_s_per_op=t_chain,
                                      ratio=e_chain / t_chain))
    _write(result, args.output)
    return 0


def _fmt(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f}us"
    return f"{seconds * 1e3:.2f}ms"


def _write(result, output):
    if output is None:
        results_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
        if not os.access(results_dir, os.W_OK):
            return
        output = os.path.join(results_dir, f"ops-{datetime.date.today().isoformat()}.json")
    with open(output, "w") as f:
        json.dump(result, f, indent=1)
    print(f"results written to {output}")


if __name__ == "__main__":
    sys.exit(main())
