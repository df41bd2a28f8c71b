"""``ember.data``: datasets, samplers and the DataLoader (as ``torch.utils.data``), image transforms
(``ember.data.transforms``, as ``torchvision.transforms``) and real datasets that packages ship
(``ember.data.datasets``).

    from ember.data import DataLoader
    from ember.data.datasets import FashionMNIST
    from ember.data import transforms as T

    train = FashionMNIST(train=True, transform=T.Compose([T.RandomCrop(28, padding=2),
                                                         T.Normalize((0.2860,), (0.3530,))]))
    for images, labels in DataLoader(train, batch_size=128, shuffle=True):
        ...   # images: float32 (128, 1, 28, 28), labels: int64 (128,)
"""
from . import datasets, transforms
from .dataloader import *  # noqa: F401,F403
from .dataset import *  # noqa: F401,F403
from .sampler import *  # noqa: F401,F403
from .dataloader import __all__ as _dataloader_all
from .dataset import __all__ as _dataset_all
from .sampler import __all__ as _sampler_all

__all__ = _dataset_all + _sampler_all + _dataloader_all + ["datasets", "transforms"]
