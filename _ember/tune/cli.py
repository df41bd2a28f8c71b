"""``ember tune``: hyperparameter search for a zoo classifier (``add_parser`` adds the subcommand,
``run`` runs it). Only ``run`` imports optuna, so that ``ember`` lists ``tune`` without it."""
import argparse
import time

DESCRIPTION = """\
Search the learning rate, batch size, optimizer and weight decay (and the width of mlp, cifar-cnn and
resnet) of a zoo classifier. Each trial trains as `ember train` does, on 90% of the training split, and
is scored by its accuracy on the other 10%; the pruner stops trials whose accuracy after an epoch is
below the median of earlier trials.

examples:
  ember tune lenet --dataset fashion-mnist --method tpe --trials 8 --epochs 2 --limit 10000
  ember tune mlp --dataset digits --method grid --epochs 3 --output results.csv
"""
DEFAULT_TRIALS = 10  # random and TPE; a grid search runs its whole grid


def add_parser(subparsers):
    """Add the ``tune`` subcommand to ``subparsers`` (from ``ArgumentParser.add_subparsers``); its
    ``run`` default is ``run``."""
    from .. import recipes
    from .space import METHODS
    from .zoo import CLASSIFIERS
    tune = subparsers.add_parser(
        "tune", help="search learning rate, batch size, optimizer, weight decay (and width) of a zoo model",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    tune.add_argument("model", choices=CLASSIFIERS)
    tune.add_argument("--dataset", required=True,
                      choices=[name for name, r in recipes.DATASETS.items() if r.task == "classification"])
    tune.add_argument("--method", choices=METHODS, default="tpe",
                      help="grid: a few values of each parameter; random; tpe: optuna's Bayesian TPE (default)")
    tune.add_argument("--trials", type=int,
                      help=f"how many trials (default {DEFAULT_TRIALS}; a grid search: the whole grid, or this "
                           f"many of its points in a seeded random order)")
    tune.add_argument("--epochs", type=int, default=2, help="epochs per trial (default 2)")
    tune.add_argument("--limit", type=int, help="train each trial on the first N samples only (quick runs)")
    tune.add_argument("--no-prune", action="store_true",
                      help="run every trial to the end (default: optuna's MedianPruner, after 3 trials)")
    tune.add_argument("--device", default="cpu")
    tune.add_argument("--seed", type=int, default=0, help="the search's, the split's and every trial's seed")
    tune.add_argument("--output", help="write the trials to this file: .csv, or else JSON")
    tune.set_defaults(run=run)
    return tune


def run(args):
    """Run the search ``args`` (parsed by ``add_parser``'s parser) describes, print the table and the best."""
    from .zoo import tune_model
    n_trials = args.trials or (None if args.method == "grid" else DEFAULT_TRIALS)
    start = time.perf_counter()
    result = tune_model(args.model, args.dataset, args.method, n_trials, args.epochs, args.limit, args.seed,
                        args.device, pruner=None if args.no_prune else "median")
    epochs_run = sum(len(t.intermediate) for t in result.trials)
    epochs_planned = len(result.trials) * args.epochs
    print(f"\n{result}\n{epochs_run} of {epochs_planned} epochs trained ({epochs_planned - epochs_run} saved by "
          f"pruning) in {(time.perf_counter() - start) / 60:.1f} min")
    if args.output:
        (result.to_csv if args.output.endswith(".csv") else result.to_json)(args.output)
        print(f"trials: {args.output}")
    return 0
