"""What a search returns: one record per trial, the best one, an aligned table, CSV and JSON."""
import csv
import dataclasses
import json
import math

from ..engine.table import format_table

STATES = ("complete", "pruned", "fail")  # optuna's names of the states a finished trial is in


@dataclasses.dataclass
class TrialResult:
    """One trial. ``value``: the objective's result, or for a pruned trial the last value it reported
    (None for a failed one); ``intermediate``: {step: value} as reported; ``duration_s``: wall-clock seconds."""

    number: int
    params: dict
    value: float
    state: str  # 'complete', 'pruned' or 'fail' (the objective returned NaN)
    duration_s: float
    intermediate: dict = dataclasses.field(default_factory=dict)

    def as_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass
class SearchResult:
    """All trials of a search, in the order they ran."""

    method: str
    direction: str
    trials: list

    @property
    def best(self):
        """The complete trial with the best value (the first one on ties)."""
        complete = [t for t in self.trials if t.state == "complete"]
        if not complete:
            raise ValueError(f"no trial of this {self.method} search completed "
                             f"({len(self.trials)} trials: all pruned or failed)")
        pick = max if self.direction == "maximize" else min
        return pick(complete, key=lambda t: t.value)

    @property
    def best_params(self):
        return self.best.params

    @property
    def best_value(self):
        return self.best.value

    def counts(self):
        """{state: number of trials} for every state."""
        return {state: sum(t.state == state for t in self.trials) for state in STATES}

    def table(self):
        """The trials as an aligned text table, one column per parameter; ``*`` marks the best."""
        names = list(self.trials[0].params) if self.trials else []
        best = self.best.number if self.counts()["complete"] else None
        header = ["trial", "state", "value", "steps", "seconds"] + names
        rows = [[f"{t.number}{'*' if t.number == best else ''}", t.state, format_value(t.value),
                 str(len(t.intermediate)), f"{t.duration_s:.1f}"] + [format_value(t.params[n]) for n in names]
                for t in self.trials]
        return format_table(header, rows)

    def summary(self):
        """One line: counts by state and the best trial."""
        counts = ", ".join(f"{n} {state}" for state, n in self.counts().items() if n)
        line = f"{self.method} search, {len(self.trials)} trials ({counts})"
        if self.counts()["complete"]:
            best = self.best
            params = ", ".join(f"{k}={format_value(v)}" for k, v in best.params.items())
            line += f"; best: trial {best.number}, value {format_value(best.value)} with {params}"
        return line

    def __str__(self):
        return f"{self.table()}\n{self.summary()}"

    def to_json(self, path):
        """Write method, direction, best trial and every trial (params, value, state, steps) as JSON."""
        best = self.best.as_dict() if self.counts()["complete"] else None
        data = {"method": self.method, "direction": self.direction, "best": best,
                "trials": [t.as_dict() for t in self.trials]}
        with open(path, "w") as file:
            json.dump(data, file, indent=2, default=_jsonable)
        return path

    def to_csv(self, path):
        """Write one row per trial: number, state, value, steps, duration_s and one column per parameter."""
        names = list(self.trials[0].params) if self.trials else []
        with open(path, "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["number", "state", "value", "steps", "duration_s"] + names)
            for t in self.trials:
                writer.writerow([t.number, t.state, t.value, len(t.intermediate), t.duration_s]
                                + [t.params[n] for n in names])
        return path


def format_value(value):
    """A parameter or score as the table shows it: floats to 4 significant digits."""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return "-" if value is None else str(value)


def _jsonable(value):
    """JSON for what ``json`` can't write itself (NumPy scalars a choice may hold)."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"tune: can't write {value!r} ({type(value).__name__}) to JSON")
