"""``ember bench``: ember against PyTorch, side by side, with speed ratios (PyTorch time / ember
time: above 1 means ember is faster).

    ember bench                          # every kernel, every available implementation, fwd and fwd+bwd
    ember bench --only conv2d,softmax    # some kernels
    ember bench --models                 # training steps of the zoo models (MLP, LeNet, CIFAR CNN, char-LSTM)
    ember bench --ops                    # single ops and the autograd per-op overhead
    ember bench --quick --threads 1      # shorter rounds; thread count for both libraries

Prints a table and writes bench/results/<suite>-cpu-<date>.json and .png (with --only, the names
of the chosen cases join the file name).
"""
import argparse
import importlib.metadata
import os
import sys

from . import race, report


def main(argv=None):
    parser = argparse.ArgumentParser(prog="ember bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    suite = parser.add_mutually_exclusive_group()
    suite.add_argument("--models", action="store_const", dest="suite", const="models",
                       help="training throughput of the zoo models")
    suite.add_argument("--ops", action="store_const", dest="suite", const="ops", help="single ops")
    parser.add_argument("--only", default="", help="comma-separated kernels, models or ops (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (a smoke run)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="threads for both libraries (default: all cores)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--output-dir", help="where the JSON and PNG go (default: bench/results/)")
    parser.add_argument("--no-plot", action="store_true", help="JSON only")
    args = parser.parse_args(argv)
    suite = args.suite or "kernels"
    if args.device != "cpu":
        print("ember bench --device cuda: the GPU backend is not part of this build yet", file=sys.stderr)
        return 2
    try:
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        print("ember bench races PyTorch: pip install torch==2.13.0 (the CPU build)", file=sys.stderr)
        return 2
    selection = [name for name in args.only.split(",") if name]
    cases = race.select(race.suites()[suite], selection)
    print(f"ember vs torch {torch_version} on {report.cpu_name()}, {args.threads} threads each, "
          f"separate processes; median after warm-up", file=sys.stderr)
    records = race.race(suite, cases, selection, args.quick, args.threads)
    report.print_table(records)
    for path in report.save(records, suite, args.threads, torch_version, args.output_dir, not args.no_plot,
                            selection):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
