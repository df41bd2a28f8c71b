"""What ``ember train`` needs to know about each dataset: how to load its splits, its task, and
how to size a zoo model for it; and the default optimizer settings of each zoo model."""
import dataclasses

from . import optim
from .data import DataLoader, Subset, datasets, transforms
from .engine.random import Generator


@dataclasses.dataclass
class Recipe:
    """A dataset as ``ember train`` uses it. ``load(train)`` returns a Dataset; ``task`` is
    'classification' or 'language-model'."""

    load: callable
    task: str
    shape: tuple = ()          # (C, H, W) of an image
    classes: int = 0
    normalize: tuple = None    # (mean, std) per channel


DATASETS = {
    "fashion-mnist": Recipe(lambda train: datasets.FashionMNIST(train=train), "classification",
                            (1, 28, 28), 10, ((0.2860,), (0.3530,))),
    "mnist": Recipe(lambda train: datasets.MNIST(train=train), "classification", (1, 28, 28), 10,
                    ((0.1307,), (0.3081,))),
    "mnist-subset": Recipe(lambda train: datasets.MNISTSubset(train=train), "classification",
                           (1, 28, 28), 10, ((0.1307,), (0.3081,))),
    "digits": Recipe(lambda train: datasets.Digits(train=train), "classification", (1, 8, 8), 10),
    "shakespeare": Recipe(lambda train: datasets.Shakespeare(seq_len=128, train=train), "language-model"),
}

# model -> (optimizer class, learning rate, batch size)
DEFAULTS = {
    "mlp": (optim.Adam, 1e-3, 128), "lenet": (optim.Adam, 3e-3, 64),
    "cifar-cnn": (optim.Adam, 1e-3, 64), "resnet": (optim.Adam, 1e-3, 64),
    "char-rnn": (optim.Adam, 2e-3, 64), "gpt": (optim.AdamW, 1e-3, 32),
}
OPTIMIZERS = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop}


def recipe(name):
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset '{name}'; known: {', '.join(DATASETS)}") from None


def model_kwargs(model, data_recipe, train_set):
    """Constructor arguments that fit ``model`` to the dataset (channels, classes, vocabulary)."""
    if data_recipe.task == "language-model":
        if model not in ("char-rnn", "gpt"):
            raise ValueError(f"'{model}' is an image model; for text use char-rnn or gpt")
        kwargs = {"vocab_size": train_set.vocab_size}
        if model == "gpt":
            kwargs["context"] = train_set.seq_len
        return kwargs
    channels, height, width = data_recipe.shape
    if model in ("char-rnn", "gpt"):
        raise ValueError(f"'{model}' is a text model; for images use mlp, lenet, cifar-cnn or resnet")
    if model == "mlp":
        return {"in_features": channels * height * width, "num_classes": data_recipe.classes}
    if model == "lenet" and (height, width) != (28, 28):
        raise ValueError(f"lenet takes 28x28 images; {height}x{width} images need mlp")
    return {"in_channels": channels, "num_classes": data_recipe.classes}


def loaders(data_recipe, train_set, test_set, batch_size, seed, limit=None, augment=False):
    """(train loader, test loader) over a dataset's splits, normalised (and, with ``augment``,
    randomly cropped); ``limit`` keeps the first ``limit`` training and ``limit // 5`` test samples."""
    if data_recipe.normalize is not None:
        steps = [transforms.RandomCrop(data_recipe.shape[1], padding=2)] if augment else []
        steps.append(transforms.Normalize(*data_recipe.normalize))
        train_set.transform = transforms.Compose(steps)
        test_set.transform = transforms.Normalize(*data_recipe.normalize)
    if limit:
        train_set = Subset(train_set, range(min(limit, len(train_set))))
        test_set = Subset(test_set, range(min(max(limit // 5, 1), len(test_set))))
    return (DataLoader(train_set, batch_size=batch_size, shuffle=True,
                       generator=Generator().manual_seed(seed)),
            DataLoader(test_set, batch_size=max(batch_size, 256)))
