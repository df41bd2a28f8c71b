"""Convolutional networks: LeNet-5, a small VGG-style CIFAR network and a small ResNet.

The builders take the layer namespace ``nn`` (``ember.nn`` or ``torch.nn``: the names match), so
the benchmark trains the very same architecture in both libraries.
"""
from .. import nn


def lenet_layers(nn, in_channels=1, num_classes=10):
    """LeNet-5 with ReLU and max pooling for 28x28 images: (N, C, 28, 28) -> (N, num_classes)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, num_classes))


def cifar_cnn_layers(nn, in_channels=3, num_classes=10, widths=(32, 64, 128)):
    """A small VGG-style network for 32x32 images: per width, (conv3x3-BN-ReLU) x2 and a 2x2 max
    pool; then global average pooling and a linear classifier. (N, C, 32, 32) -> (N, num_classes)."""
    layers = []
    for width in widths:
        for _ in range(2):
            layers += [nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                       nn.ReLU()]
            in_channels = width
        layers.append(nn.MaxPool2d(2))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_channels, num_classes)]
    return nn.Sequential(*layers)


class LeNet5(nn.Module):
    def __init__(self, in_channels=1, num_classes=10):
        super().__init__()
        self.layers = lenet_layers(nn, in_channels, num_classes)

    def forward(self, x):
        return self.layers(x)


class CifarCNN(nn.Module):
    def __init__(self, in_channels=3, num_classes=10, widths=(32, 64, 128)):
        super().__init__()
        self.layers = cifar_cnn_layers(nn, in_channels, num_classes, widths)

    def forward(self, x):
        return self.layers(x)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 projection) shortcut: relu(f(x) + x)."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(nn.Module):
    """A small ResNet: a conv-BN-ReLU stem, stages of BasicBlocks (the first block of each later
    stage halves the resolution), global average pooling, a linear classifier.
    (N, C, H, W) -> (N, num_classes)."""

    def __init__(self, in_channels=3, num_classes=10, widths=(16, 32, 64), blocks_per_stage=2):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        stages, channels = [], widths[0]
        for i, width in enumerate(widths):
            for j in range(blocks_per_stage):
                stages.append(BasicBlock(channels, width, stride=2 if i > 0 and j == 0 else 1))
                channels = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.stages(self.stem(x))).flatten(1))
