"""``ember.models``: a small zoo of models to train on the shipped datasets.

    model = ember.models.create("lenet", num_classes=10)

Each model is a plain ``ember.nn.Module``; ``MODELS`` maps the names used by ``ember train`` to
their classes.
"""
from .cnn import CifarCNN, LeNet5, ResNet
from .mlp import MLP
from .sequence import CharRNN, GPT

MODELS = {"mlp": MLP, "lenet": LeNet5, "cifar-cnn": CifarCNN, "resnet": ResNet, "char-rnn": CharRNN,
          "gpt": GPT}


def create(name, **kwargs):
    """Build the zoo model ``name`` (see ``MODELS``) with the given constructor arguments."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model '{name}'; the zoo has: {', '.join(MODELS)}") from None
    return cls(**kwargs)


__all__ = ["MODELS", "create", "MLP", "LeNet5", "CifarCNN", "ResNet", "CharRNN", "GPT"]
