"""``ember bench``: ember against PyTorch, side by side, with speed ratios (PyTorch time / ember
time: above 1 means ember is faster).

    ember bench                          # every kernel, every available implementation, fwd and fwd+bwd
    ember bench --only conv2d,softmax    # some kernels
    ember bench --models                 # training steps of the zoo models (MLP, LeNet, CIFAR CNN, char-LSTM)
    ember bench --ops                    # single ops and the autograd per-op overhead
    ember bench --distributed            # all-reduce bandwidth, 1 vs 2 ranks training (MPI against Gloo)
    ember bench --quick --threads 1      # shorter rounds; thread count for both libraries
    ember bench --device cuda            # on the GPU, against PyTorch CUDA: every cuda implementation
                                         # (cuda_cpp, cupy, numba), CUDA-event timing, and the
                                         # bandwidth of memory-bound kernels against a device copy's

Prints a table and writes bench/results/<suite>-<device>-<date>.json and .png (with --only, the
names of the chosen cases join the file name).
"""
import argparse
import importlib.metadata
import os
import sys

from . import gpu, race, report


def main(argv=None):
    parser = argparse.ArgumentParser(prog="ember bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    suite = parser.add_mutually_exclusive_group()
    suite.add_argument("--models", action="store_const", dest="suite", const="models",
                       help="training throughput of the zoo models")
    suite.add_argument("--ops", action="store_const", dest="suite", const="ops", help="single ops")
    suite.add_argument("--distributed", action="store_const", dest="suite", const="distributed",
                       help="all-reduce bandwidth and 1- vs 2-rank training throughput (MPI against Gloo)")
    parser.add_argument("--only", default="", help="comma-separated kernels, models or ops (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (a smoke run)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="threads for both libraries (default: all cores)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--output-dir", help="where the JSON and PNG go (default: bench/results/)")
    parser.add_argument("--no-plot", action="store_true", help="JSON only")
    args = parser.parse_args(argv)
    suite = args.suite or "kernels"
    try:
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        build = "a CUDA build" if args.device == "cuda" else "the CPU build"
        print(f"ember bench races PyTorch: pip install torch==2.13.0 ({build})", file=sys.stderr)
        return 2
    if suite == "distributed":
        from . import distributed
        distributed.main(args.quick, args.output_dir)
        return 0
    if args.device == "cuda":
        reason = gpu.unusable_reason()
        if reason is not None:
            print(f"ember bench --device cuda: {reason}", file=sys.stderr)
            return 2
        where = f"{gpu.name()}, CUDA events around rounds of calls"
    else:
        where = f"{report.cpu_name()}, {args.threads} threads each"
    selection = [name for name in args.only.split(",") if name]
    cases = race.select(race.suites(args.device)[suite], selection)
    print(f"ember vs torch {torch_version} on {where}, separate processes; median after warm-up", file=sys.stderr)
    records, environment, failures = race.race(suite, cases, selection, args.quick, args.threads, args.device)
    report.print_table(records)
    if environment:
        print("; ".join(f"{key} {value}" for key, value in environment.items()))
    for failure in failures:
        print(f"FAILED {failure['key']} [{failure['implementation']}]: {failure['error']}")
    for path in report.save(records, suite, args.threads, torch_version, args.output_dir, not args.no_plot,
                            selection, args.device, environment):
        print(f"wrote {path}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
