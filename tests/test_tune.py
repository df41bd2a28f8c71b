"""ember.tune: grid, random and TPE search find the optimum of a known objective, the pruner stops
trials that report bad values, seeded searches repeat, bad input is refused clearly, results export,
and ``ember tune`` runs end to end on a tiny subset."""
import argparse
import csv
import itertools
import json
import math
import subprocess
import sys

import optuna
import pytest

from ember import tune
from ember.tune import cli


def bowl(trial):
    """Maximum 0 at x = 3, y = -1."""
    x, y = trial.params["x"], trial.params["y"]
    return -(x - 3) ** 2 - (y + 1) ** 2


def distance_to_optimum(params):
    return math.hypot(params["x"] - 3, params["y"] + 1)


CONTINUOUS = {"x": tune.uniform(-5, 5), "y": tune.uniform(-5, 5)}


def test_grid_search_runs_every_point_and_returns_the_optimum():
    space = {"x": tune.integer(-5, 5), "y": tune.choice([-3, -2, -1, 0, 1])}
    result = tune.grid_search(bowl, space, seed=0)
    points = {(t.params["x"], t.params["y"]) for t in result.trials}
    assert points == set(itertools.product(range(-5, 6), [-3, -2, -1, 0, 1]))
    assert result.best_params == {"x": 3, "y": -1} and result.best_value == 0
    assert all(t.state == "complete" for t in result.trials)


def test_random_search_gets_close_to_the_optimum():
    result = tune.random_search(bowl, CONTINUOUS, n_trials=60, seed=0)
    assert len(result.trials) == 60
    assert distance_to_optimum(result.best_params) < 1.0
    assert result.best_value == max(t.value for t in result.trials)


def test_tpe_search_gets_close_and_samples_near_the_optimum_once_it_has_a_model():
    result = tune.tpe_search(bowl, CONTINUOUS, n_trials=40, seed=0)
    assert distance_to_optimum(result.best_params) < 0.6
    # Its first trials are random; the last ones come from TPE's model of where good trials are.
    first = sorted(distance_to_optimum(t.params) for t in result.trials[:10])
    last = sorted(distance_to_optimum(t.params) for t in result.trials[-10:])
    assert last[5] < first[5] / 2


def test_minimize_returns_the_smallest_value():
    result = tune.run(lambda trial: -bowl(trial), {"x": tune.integer(0, 5), "y": tune.integer(-2, 0)},
                      method="grid", direction="minimize")
    assert result.best_params == {"x": 3, "y": -1} and result.best_value == 0


def reporting(steps_run):
    """An objective that reports x at every one of 5 steps and counts the steps it ran per x."""
    def objective(trial):
        x = trial.params["x"]
        for step in range(5):
            steps_run[x] = step + 1
            trial.report(x, step)
        return x
    return objective


def test_a_pruner_stops_exactly_the_trials_that_report_bad_values():
    steps_run = {}
    result = tune.grid_search(reporting(steps_run), {"x": tune.integer(0, 9)}, seed=0,
                              pruner=optuna.pruners.ThresholdPruner(lower=5))
    pruned = {t.params["x"] for t in result.trials if t.state == "pruned"}
    assert pruned == set(range(5))
    assert all(steps_run[x] == 1 for x in pruned)            # the objective stopped at its first report
    assert all(steps_run[x] == 5 for x in range(5, 10))
    assert result.best_params == {"x": 9}


def test_median_pruner_prunes_trials_below_the_median_of_earlier_ones():
    steps_run = {}
    result = tune.grid_search(reporting(steps_run), {"x": tune.integer(0, 19)}, seed=0)
    pruned = [t for t in result.trials if t.state == "pruned"]
    assert pruned, "no trial was pruned"
    for trial in pruned:
        earlier = [t.value for t in result.trials[:trial.number] if t.state == "complete"]
        assert len(earlier) >= 3 and trial.value < sorted(earlier)[len(earlier) // 2]
        assert len(trial.intermediate) < 5 and steps_run[trial.params["x"]] < 5
    assert result.best_params == {"x": 19}
    unpruned = tune.grid_search(reporting({}), {"x": tune.integer(0, 19)}, seed=0, pruner=None)
    assert all(t.state == "complete" for t in unpruned.trials)


@pytest.mark.parametrize("method", ["grid", "random", "tpe"])
def test_seeded_searches_repeat(method):
    space = CONTINUOUS if method != "grid" else {"x": tune.integer(-5, 5), "y": tune.integer(-5, 5)}
    runs = [tune.run(bowl, space, method=method, n_trials=15, seed=seed) for seed in (1, 1, 2)]
    params = [[t.params for t in r.trials] for r in runs]
    assert params[0] == params[1]
    assert params[0] != params[2]


def test_choices_may_be_any_objects():
    widths = [(16, 32), (64, 128), None]
    result = tune.grid_search(lambda trial: sum(trial.params["widths"] or ()), {"widths": tune.choice(widths)})
    assert result.best_params == {"widths": (64, 128)}
    assert [t.params["widths"] for t in sorted(result.trials, key=lambda t: t.value)][0] is None


def test_bad_spaces_methods_and_objectives_are_refused_clearly():
    with pytest.raises(ValueError, match="'lr' is 0.1"):
        tune.run(bowl, {"lr": 0.1}, n_trials=3)
    with pytest.raises(ValueError, match="non-empty dict"):
        tune.run(bowl, {}, n_trials=3)
    with pytest.raises(ValueError, match="grid search needs .* 'x' is uniform"):
        tune.grid_search(bowl, CONTINUOUS)
    with pytest.raises(ValueError, match="unknown method 'bayes'.*grid, random, tpe"):
        tune.run(bowl, CONTINUOUS, method="bayes", n_trials=3)
    with pytest.raises(ValueError, match="direction must be"):
        tune.run(bowl, CONTINUOUS, n_trials=3, direction="max")
    with pytest.raises(ValueError, match="random search needs n_trials"):
        tune.run(bowl, CONTINUOUS, method="random")
    with pytest.raises(ValueError, match="n_trials must be a positive int"):
        tune.run(bowl, CONTINUOUS, n_trials=0)
    with pytest.raises(ValueError, match="pruner must be"):
        tune.run(bowl, CONTINUOUS, n_trials=3, pruner="hyperband")
    with pytest.raises(ValueError, match="low < high"):
        tune.uniform(1, 0)
    with pytest.raises(ValueError, match="low > 0"):
        tune.loguniform(0, 1)
    with pytest.raises(ValueError, match="non-empty list"):
        tune.choice([])
    with pytest.raises(ValueError, match="must be ints"):
        tune.integer(0, 2.5)
    with pytest.raises(TypeError, match="returned None"):
        tune.run(lambda trial: None, CONTINUOUS, n_trials=1)


def test_results_table_json_and_csv(tmp_path):
    lines = []
    result = tune.grid_search(bowl, {"x": tune.integer(2, 4), "y": tune.choice([-1, 0])}, seed=0, log=lines.append)
    assert len(lines) == 6 and lines[0].startswith("trial 1/6 complete")
    table = result.table().splitlines()
    assert table[0].split() == ["trial", "state", "value", "steps", "seconds", "x", "y"]
    assert len(table) == 7 and [row.split()[0] for row in table[1:]].count(f"{result.best.number}*") == 1
    saved = json.loads(result.to_json(tmp_path / "trials.json").read_text())
    assert saved["best"]["params"] == {"x": 3, "y": -1}
    assert [t["params"] for t in saved["trials"]] == [t.params for t in result.trials]
    with open(result.to_csv(tmp_path / "trials.csv")) as file:
        rows = list(csv.DictReader(file))
    assert [(int(r["x"]), int(r["y"]), float(r["value"])) for r in rows] == \
        [(t.params["x"], t.params["y"], t.value) for t in result.trials]


def test_a_nan_score_fails_its_trial_and_is_never_best():
    result = tune.grid_search(lambda trial: math.nan if trial.params["x"] == 2 else trial.params["x"],
                              {"x": tune.integer(0, 2)})
    assert {t.params["x"]: t.state for t in result.trials} == {0: "complete", 1: "complete", 2: "fail"}
    assert result.best_params == {"x": 1}


def test_best_needs_a_complete_trial():
    result = tune.grid_search(reporting({}), {"x": tune.integer(0, 1)},
                              pruner=optuna.pruners.ThresholdPruner(lower=5))
    with pytest.raises(ValueError, match="no trial .* completed"):
        result.best
    assert "2 pruned" in str(result)


def test_zoo_objective_validates_on_a_held_out_part_of_the_training_split():
    objective = tune.ZooObjective("lenet", "fashion-mnist", epochs=1, limit=100)
    assert not set(objective.train_part.indices) & set(objective.val_part.indices)
    assert len(objective.train_part) + len(objective.val_part) == 60000
    train_loader, val_loader = objective.loaders(batch_size=32)
    assert (len(train_loader.dataset), len(val_loader.dataset)) == (100, 20)
    with pytest.raises(ValueError, match="'gpt' can't be tuned"):
        tune.ZooObjective("gpt", "shakespeare", epochs=1)


def ember_tune(*argv):
    parser = argparse.ArgumentParser(prog="ember")
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["tune", *argv])
    return args.run(args)


def test_cli_tunes_lenet_on_a_tiny_subset(tmp_path, capsys):
    output = tmp_path / "results.json"
    assert ember_tune("lenet", "--dataset", "fashion-mnist", "--trials", "2", "--epochs", "1", "--limit", "128",
                      "--output", str(output)) == 0
    printed = capsys.readouterr().out
    assert "tpe search, 2 trials" in printed and "best: trial" in printed
    saved = json.loads(output.read_text())
    assert len(saved["trials"]) == 2
    assert set(saved["best"]["params"]) == {"lr", "batch_size", "optimizer", "weight_decay"}
    assert 0 <= saved["best"]["value"] <= 1


def test_cli_grid_search_of_an_mlp_tunes_its_width(tmp_path, capsys):
    output = tmp_path / "results.csv"
    assert ember_tune("mlp", "--dataset", "digits", "--method", "grid", "--trials", "3", "--epochs", "1",
                      "--limit", "400", "--output", str(output)) == 0
    with open(output) as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 3 and all(row["hidden"].startswith("(") for row in rows)
    assert "grid search, 3 trials" in capsys.readouterr().out


def test_the_command_line_loads_optuna_only_when_a_search_runs():
    """``ember`` lists ``tune`` among its commands, so building its parser must work without optuna."""
    code = ("import argparse, sys; from ember.tune import cli; "
            "cli.add_parser(argparse.ArgumentParser().add_subparsers()); print('optuna' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_an_objective_may_prune_itself_before_reporting(capsys):
    """Raising tune.TrialPruned without a report is a pruned trial, and the progress log says so."""
    def objective(trial):
        if trial.params["x"] == 1:
            raise tune.TrialPruned()
        return float(trial.params["x"])

    result = tune.grid_search(objective, {"x": tune.choice([0, 1, 2])}, log=print)
    assert sorted(t.state for t in result.trials) == ["complete", "complete", "pruned"]
    assert result.best_params == {"x": 2}
    assert "pruned:" in capsys.readouterr().out
