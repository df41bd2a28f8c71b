"""Tuning a zoo classifier on a shipped dataset (what ``ember tune`` runs).

Each trial trains the model as ``ember train`` does (``ember.recipes`` for the data and the model's
size, ``Trainer`` with OneCycleLR stepped per batch) and scores it by accuracy on a validation split
held out from the training split (10%, chosen by ``seed``), so the test split plays no part in the
choice. Every trial starts from the same initial weights and shuffling (``seed``), so trials differ
only by their hyperparameters. The accuracy after each epoch goes to the pruner.
"""
import numpy as np

import ember

from .. import models, recipes
from ..data import Subset
from ..training import Trainer
from .space import choice, loguniform

CLASSIFIERS = ("mlp", "lenet", "cifar-cnn", "resnet")
# The width argument of each model that has one, and the values a search tries.
WIDTHS = {"mlp": {"hidden": [(128, 64), (256, 128), (512, 256)]},
          "cifar-cnn": {"widths": [(16, 32, 64), (32, 64, 128)]},
          "resnet": {"widths": [(8, 16, 32), (16, 32, 64)]}}


def zoo_space(model, method):
    """The search space for ``model``: learning rate, batch size, optimizer (those of ``ember train
    --optimizer``), weight decay, and width where the model takes one. A grid gets a few values of each."""
    grid = method == "grid"
    space = {"lr": choice([1e-3, 3e-3, 1e-2]) if grid else loguniform(1e-4, 1e-1),
             "batch_size": choice([64, 128] if grid else [32, 64, 128, 256]),
             "optimizer": choice(["adam", "sgd"] if grid else list(recipes.OPTIMIZERS)),
             "weight_decay": choice([0.0, 1e-4]) if grid else loguniform(1e-6, 1e-2)}
    space.update({name: choice(values) for name, values in WIDTHS.get(model, {}).items()})
    return space


class _SharedTransform(Subset):
    """A Subset whose ``transform`` is its dataset's, so that ``recipes.loaders`` (which sets the
    transforms of the sets it gets) normalises the samples of a split as it would a whole split."""

    @property
    def transform(self):
        return self.dataset.transform

    @transform.setter
    def transform(self, value):
        self.dataset.transform = value


def validation_split(recipe, fraction, seed):
    """(training part, validation part) of ``recipe``'s training split, disjoint, drawn by ``seed``.
    Each part wraps its own copy of the split, so each gets its own transform."""
    train_set = recipe.load(True)
    order = np.random.default_rng(seed).permutation(len(train_set))
    cut = len(train_set) - max(int(len(train_set) * fraction), 1)
    return (_SharedTransform(train_set, order[:cut].tolist()),
            _SharedTransform(recipe.load(True), order[cut:].tolist()))


class ZooObjective:
    """An objective for ``ember.tune.run`` over ``zoo_space(model, ...)``: train ``epochs`` epochs,
    report the validation accuracy after each and return the last. ``limit``: train on the first
    ``limit`` samples of the training part and validate on the first ``limit // 5`` of the
    validation part (as ``ember train --limit`` does with the test split)."""

    def __init__(self, model, dataset, epochs, limit=None, seed=0, device="cpu", val_fraction=0.1):
        if model not in CLASSIFIERS:
            raise ValueError(f"ember tune: '{model}' can't be tuned; it tunes the classifiers "
                             f"{', '.join(CLASSIFIERS)}")
        if epochs < 1:
            raise ValueError(f"ember tune: epochs must be at least 1, got {epochs}")
        self.recipe = recipes.recipe(dataset)
        if self.recipe.task != "classification":
            raise ValueError(f"ember tune: '{dataset}' is a {self.recipe.task} dataset; it tunes classifiers "
                             f"on image datasets")
        self.model, self.epochs, self.limit, self.seed, self.device = model, epochs, limit, seed, device
        self.train_part, self.val_part = validation_split(self.recipe, val_fraction, seed)
        self.model_kwargs = recipes.model_kwargs(model, self.recipe, self.train_part)

    def loaders(self, batch_size):
        """(training loader, validation loader), as ``ember train`` makes them."""
        return recipes.loaders(self.recipe, self.train_part, self.val_part, batch_size, self.seed, self.limit)

    def __call__(self, trial):
        params = trial.params
        train_loader, val_loader = self.loaders(params["batch_size"])
        ember.manual_seed(self.seed)
        width = {name: params[name] for name in WIDTHS.get(self.model, {})}
        net = models.create(self.model, **self.model_kwargs, **width).to(self.device)
        optimizer = recipes.OPTIMIZERS[params["optimizer"]](net.parameters(), lr=params["lr"],
                                                            weight_decay=params["weight_decay"])
        scheduler = ember.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=params["lr"],
                                                        total_steps=self.epochs * len(train_loader))
        trainer = Trainer(net, optimizer, scheduler, task=self.recipe.task, progress=False,
                          step_scheduler_per_batch=True)
        for epoch in range(1, self.epochs + 1):
            trainer.fit(train_loader, epoch, val_loader, log=lambda line: None)  # one more epoch
            trial.report(trainer.history[-1]["val_accuracy"], epoch)
        return trainer.history[-1]["val_accuracy"]


def tune_model(model, dataset, method="tpe", n_trials=None, epochs=2, limit=None, seed=0, device="cpu",
               pruner="median", log=print):
    """Search learning rate, batch size, optimizer, weight decay (and width) of a zoo classifier with
    ``ember.tune.run`` (``n_trials`` is needed unless ``method='grid'``); returns the ``SearchResult``,
    its values being validation accuracies. See ``ZooObjective``."""
    from .search import run  # optuna loads here, not when ``ember`` builds its command line
    objective = ZooObjective(model, dataset, epochs, limit, seed, device)
    space = zoo_space(model, method)
    if log is not None:
        train_loader, val_loader = objective.loaders(batch_size=1)
        epochs_text = f"{epochs} epoch{'s' if epochs != 1 else ''}"
        log(f"tuning {model} on {dataset}: {method} search over {', '.join(space)}; {epochs_text} per trial on "
            f"{len(train_loader.dataset):,} training samples, scored by accuracy on {len(val_loader.dataset):,} "
            f"validation samples held out from the training split")
    return run(objective, space, method=method, n_trials=n_trials, direction="maximize", seed=seed,
               pruner=pruner, log=log)
