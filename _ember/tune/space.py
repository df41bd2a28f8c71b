"""Search spaces: the values each hyperparameter may take.

    space = {"lr": tune.loguniform(1e-4, 1e-1), "dropout": tune.uniform(0.0, 0.5),
             "layers": tune.integer(1, 4), "optimizer": tune.choice(["adam", "sgd"])}

A space is a dict from names to these distributions. Random and TPE search sample all four; grid
search enumerates every ``choice`` and every ``integer`` in its range (a continuous range has no
grid, so grid search refuses ``uniform`` and ``loguniform``).

Each distribution asks an optuna trial for a value (``suggest``) and turns what optuna stored back
into the value (``decode``): a ``choice`` is stored as the index of its value, so that its values
may be anything (tuples of layer widths, None), not only optuna's numbers and strings.
"""
import dataclasses
import numbers

METHODS = ("grid", "random", "tpe")  # how ember.tune.run searches a space


class Distribution:
    """Base of the search-space entries."""

    def suggest(self, trial, name):
        """Draw this parameter from an ``optuna.Trial``; returns what optuna stores."""
        raise NotImplementedError

    def decode(self, stored):
        """The parameter's value for what ``suggest`` stored."""
        return stored

    def grid_points(self, name):
        """Every stored value, in order, for a grid search."""
        raise ValueError(f"grid search needs a finite set of values for every parameter, but '{name}' is "
                         f"{self!r}; use tune.choice([...]) for it, or method='random' or 'tpe'")


@dataclasses.dataclass(frozen=True)
class Uniform(Distribution):
    """A float in [low, high], uniform in value or (``log=True``) in log(value)."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self):
        if not (isinstance(self.low, numbers.Real) and isinstance(self.high, numbers.Real) and self.low < self.high):
            raise ValueError(f"{self!r}: needs numbers low < high")
        if self.log and self.low <= 0:
            raise ValueError(f"{self!r}: a log-uniform range needs low > 0")

    def suggest(self, trial, name):
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def __repr__(self):
        return f"{'loguniform' if self.log else 'uniform'}({self.low}, {self.high})"


@dataclasses.dataclass(frozen=True)
class Integer(Distribution):
    """An int in low, low + step, ..., up to high (inclusive, as optuna's ``suggest_int``)."""

    low: int
    high: int
    step: int = 1

    def __post_init__(self):
        if not all(isinstance(v, numbers.Integral) for v in (self.low, self.high, self.step)):
            raise ValueError(f"{self!r}: low, high and step must be ints")
        if self.low > self.high or self.step < 1:
            raise ValueError(f"{self!r}: needs low <= high and step >= 1")

    def suggest(self, trial, name):
        return trial.suggest_int(name, self.low, self.high, step=self.step)

    def grid_points(self, name):
        return list(range(self.low, self.high + 1, self.step))

    def __repr__(self):
        return f"integer({self.low}, {self.high}{'' if self.step == 1 else f', step={self.step}'})"


@dataclasses.dataclass(frozen=True)
class Choice(Distribution):
    """One of ``values`` (any objects); TPE treats them as unordered categories."""

    values: tuple

    def __post_init__(self):
        if not isinstance(self.values, (list, tuple, range)) or len(self.values) == 0:
            raise ValueError(f"tune.choice needs a non-empty list of values, got {self.values!r}")
        object.__setattr__(self, "values", tuple(self.values))

    def suggest(self, trial, name):
        return trial.suggest_categorical(name, list(range(len(self.values))))

    def decode(self, stored):
        return self.values[stored]

    def grid_points(self, name):
        return list(range(len(self.values)))

    def __repr__(self):
        return f"choice({list(self.values)!r})"


def uniform(low, high):
    """A float uniform in [low, high]."""
    return Uniform(low, high)


def loguniform(low, high):
    """A float in [low, high] uniform in log space (learning rates, weight decay)."""
    return Uniform(low, high, log=True)


def integer(low, high, step=1):
    """An int in [low, high] (both included) in steps of ``step``."""
    return Integer(low, high, step)


def choice(values):
    """One of ``values``."""
    return Choice(values)


def check_space(space):
    """Raise a ValueError naming the entry when ``space`` is not a non-empty dict of distributions."""
    if not isinstance(space, dict) or not space:
        raise ValueError(f"tune: the search space must be a non-empty dict of name -> tune.choice / uniform / "
                         f"loguniform / integer, got {space!r}")
    for name, entry in space.items():
        if not isinstance(entry, Distribution):
            raise ValueError(f"tune: search-space entry '{name}' is {entry!r} ({type(entry).__name__}); it must be "
                             f"tune.choice([...]), tune.uniform(a, b), tune.loguniform(a, b) or tune.integer(a, b) "
                             f"(a fixed value is tune.choice([{entry!r}]))")


def grid_size(space):
    """How many points the grid over ``space`` has (the product of each entry's count)."""
    size = 1
    for name, entry in space.items():
        size *= len(entry.grid_points(name))
    return size
