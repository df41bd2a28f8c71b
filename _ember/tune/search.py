"""Grid, random and TPE search over a space, one code path through optuna.

    def objective(trial):
        x, y = trial.params["x"], trial.params["y"]
        return -(x - 3) ** 2 - (y + 1) ** 2

    result = tune.run(objective, {"x": tune.uniform(-5, 5), "y": tune.choice([-2, -1, 0, 1])},
                      method="tpe", n_trials=30, seed=0)
    result.best_params       # {'x': 3.037..., 'y': -1}

The method only picks optuna's sampler (``GridSampler``, ``RandomSampler``, ``TPESampler``); the
study, the pruner and the results are the same for all three. An objective that trains reports a
score per epoch with ``trial.report(value, step)``; when optuna's ``MedianPruner`` finds that score
worse than the median of earlier trials at the same step, ``report`` raises ``TrialPruned`` and the
trial stops there (recorded as pruned, with its last reported value).
"""
import numbers

try:
    import optuna
except ImportError as error:
    raise ImportError("ember.tune searches through optuna: pip install optuna (or ember[tune])") from error
from optuna import TrialPruned

from .results import SearchResult, TrialResult, format_value
from .space import METHODS, check_space, grid_size

DIRECTIONS = ("maximize", "minimize")


class Trial:
    """What the objective gets: ``number`` (0, 1, ...), ``params`` (this trial's value of every
    entry of the space) and ``report(value, step)``."""

    def __init__(self, optuna_trial, space):
        self.number = optuna_trial.number
        self.params = {name: entry.decode(entry.suggest(optuna_trial, name)) for name, entry in space.items()}
        self._optuna_trial = optuna_trial

    def report(self, value, step):
        """Record the score after ``step`` (an int, e.g. the epoch); raises ``TrialPruned`` when the
        pruner stops this trial, so the objective ends there."""
        self._optuna_trial.report(float(value), step)
        if self._optuna_trial.should_prune():
            raise TrialPruned(f"trial {self.number} pruned at step {step} (value {float(value):.4g})")


def run(objective, space, method="tpe", n_trials=None, direction="maximize", seed=None, pruner="median",
        log=None):
    """Search ``space`` for the parameters that optimise ``objective(trial) -> float``.

    ``method``: 'grid' (every point of the grid, or ``n_trials`` of them in a seeded random order),
    'random' or 'tpe' (optuna's Tree-structured Parzen Estimator: its first ``max(2, min(10,
    n_trials // 4))`` trials are random, then it samples where good trials were dense);
    ``direction``: 'maximize' or 'minimize'; ``seed``: makes the sequence of trials reproducible;
    ``pruner``: 'median' (``optuna.pruners.MedianPruner`` after 3 complete trials), None (never
    prune), or any ``optuna.pruners.BasePruner``; ``log``: called with one line per finished trial
    (e.g. ``print``). Returns a ``SearchResult`` (``.best``, ``.best_params``, ``.table()``).
    """
    check_space(space)
    if method not in METHODS:
        raise ValueError(f"tune.run: unknown method '{method}'; use one of {', '.join(METHODS)}")
    if direction not in DIRECTIONS:
        raise ValueError(f"tune.run: direction must be 'maximize' or 'minimize', got '{direction}'")
    if n_trials is not None and (not isinstance(n_trials, numbers.Integral) or n_trials < 1):
        raise ValueError(f"tune.run: n_trials must be a positive int, got {n_trials!r}")
    if method == "grid":
        n_trials = min(n_trials or grid_size(space), grid_size(space))
    elif n_trials is None:
        raise ValueError(f"tune.run: {method} search needs n_trials (how many trials to run)")
    sampler, pruner = _sampler(method, space, n_trials, seed), _pruner(pruner)

    def optuna_objective(optuna_trial):
        value = objective(Trial(optuna_trial, space))
        if not isinstance(value, numbers.Real):
            raise TypeError(f"tune.run: the objective returned {value!r} ({type(value).__name__}); it must "
                            f"return a number, the trial's score (a Tensor's is tensor.item())")
        return float(value)

    def log_trial(study, frozen):
        if log is not None:
            log(_describe(_record(frozen, space), n_trials))

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # optuna logs every trial at INFO
    try:
        study = optuna.create_study(direction=direction, sampler=sampler, pruner=pruner)
        study.optimize(optuna_objective, n_trials=n_trials, callbacks=[log_trial])
    finally:
        optuna.logging.set_verbosity(verbosity)
    return SearchResult(method, direction, [_record(t, space) for t in study.trials])


def grid_search(objective, space, **options):
    """``run(objective, space, method='grid', ...)``: every point of the grid of ``choice`` and ``integer`` entries."""
    return run(objective, space, method="grid", **options)


def random_search(objective, space, n_trials, **options):
    """``run(objective, space, method='random', n_trials=..., ...)``."""
    return run(objective, space, method="random", n_trials=n_trials, **options)


def tpe_search(objective, space, n_trials, **options):
    """``run(objective, space, method='tpe', n_trials=..., ...)``: Bayesian search with optuna's TPE."""
    return run(objective, space, method="tpe", n_trials=n_trials, **options)


def _sampler(method, space, n_trials, seed):
    if method == "grid":
        return optuna.samplers.GridSampler({name: entry.grid_points(name) for name, entry in space.items()},
                                           seed=seed)
    if method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # TPE models the good and the bad trials, so it needs a few trials of each before it helps.
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(2, min(10, n_trials // 4)))


def _pruner(pruner):
    if pruner is None:
        return optuna.pruners.NopPruner()
    if pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3)
    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    raise ValueError(f"tune.run: pruner must be 'median', None or an optuna pruner, got {pruner!r}")


def _record(frozen, space):
    """A ``TrialResult`` from optuna's record of a finished trial."""
    params = {name: space[name].decode(stored) for name, stored in frozen.params.items()}
    duration = frozen.duration.total_seconds() if frozen.duration is not None else 0.0
    return TrialResult(frozen.number, params, frozen.value, frozen.state.name.lower(), duration,
                       dict(frozen.intermediate_values))


def _describe(record, n_trials):
    params = ", ".join(f"{name}={format_value(value)}" for name, value in record.params.items())
    state = record.state
    if state == "pruned" and record.intermediate:  # an objective may prune itself before reporting
        state = f"pruned at step {max(record.intermediate)}"
    return (f"trial {record.number + 1}/{n_trials} {state}: value {format_value(record.value)} "
            f"({params}) {record.duration_s:.1f} s")
