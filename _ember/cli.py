"""The ``ember`` command: ``ember train`` (the main job) and ``ember bench``."""
import argparse
import sys


def _train(args):
    from .mlp_demo import train
    acc = train(epochs=args.epochs, hidden=args.hidden, lr=args.lr, batch_size=args.batch_size,
                seed=args.seed)
    print(f"final test accuracy: {acc:.3f}")
    return 0 if acc >= args.min_accuracy else 1


def _bench(args):
    from .bench.ops import main as bench_main
    return bench_main(args.rest)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="ember", description="ember: reverse-mode autodiff from scratch")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train an MLP on scikit-learn's 8x8 digits")
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--hidden", type=int, default=64)
    train.add_argument("--lr", type=float, default=0.05)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--min-accuracy", type=float, default=0.9,
                       help="exit non-zero if the final test accuracy is below this")
    train.set_defaults(run=_train)

    bench = commands.add_parser("bench", help="time ember's ops against PyTorch (see --help of it)",
                                add_help=False)
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(run=_bench)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
