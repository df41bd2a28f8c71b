"""``ember.tune``: hyperparameter search (grid, random, and Bayesian TPE through optuna, with pruning).

    from ember import tune

    def objective(trial):                       # trial.params: one value per entry of the space
        x, y = trial.params["x"], trial.params["y"]
        return -(x - 3) ** 2 - (y + 1) ** 2     # the score; a trainer reports one per epoch:
                                                # trial.report(accuracy, epoch) (pruned trials stop there)
    space = {"x": tune.uniform(-5, 5), "y": tune.choice([-2, -1, 0, 1])}
    result = tune.run(objective, space, method="tpe", n_trials=30, seed=0)
    print(result)                               # one row per trial (params, value, state, seconds)
    result.best_params                          # {'x': 3.037..., 'y': -1}
    result.to_json("trials.json")

``ember tune lenet --dataset fashion-mnist`` runs ``tune_model`` (see ``ember.tune.zoo``).
"""
from .results import SearchResult, TrialResult
from .space import METHODS, Choice, Distribution, Integer, Uniform, choice, integer, loguniform, uniform
from .zoo import ZooObjective, tune_model, zoo_space

_SEARCH = ("run", "grid_search", "random_search", "tpe_search", "Trial", "TrialPruned")


def __getattr__(name):
    # The searches import optuna (an optional dependency) on first use, so that ``ember`` itself,
    # whose command line lists ``ember tune``, works without it.
    if name in _SEARCH:
        from . import search
        return getattr(search, name)
    raise AttributeError(f"module 'ember.tune' has no attribute '{name}'")


__all__ = ["run", "grid_search", "random_search", "tpe_search", "Trial", "TrialPruned", "SearchResult",
           "TrialResult", "METHODS", "Distribution", "Choice", "Uniform", "Integer", "choice", "uniform",
           "loguniform", "integer", "ZooObjective", "tune_model", "zoo_space"]
