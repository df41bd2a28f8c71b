"""A multilayer perceptron."""
from .. import nn


def mlp_layers(nn, in_features=784, num_classes=10, hidden=(256, 128), dropout=0.0):
    """Flatten, Linear-ReLU(-Dropout) blocks, a Linear classifier, as an ``nn.Sequential``. ``nn``
    is the layer namespace: ``ember.nn``, or ``torch.nn`` for the same model in PyTorch."""
    layers = [nn.Flatten()]
    for width in hidden:
        layers += [nn.Linear(in_features, width), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        in_features = width
    layers.append(nn.Linear(in_features, num_classes))
    return nn.Sequential(*layers)


class MLP(nn.Module):
    """Input (N, *) with prod(*) = in_features -> logits (N, num_classes)."""

    def __init__(self, in_features=784, num_classes=10, hidden=(256, 128), dropout=0.0):
        super().__init__()
        self.layers = mlp_layers(nn, in_features, num_classes, hidden, dropout)

    def forward(self, x):
        return self.layers(x)
