"""``DistributedSampler``: each rank's share of a dataset, as ``torch.utils.data.distributed``."""
import math

import numpy as np

from ..data.sampler import _ArraySampler
from . import process_group

__all__ = ["DistributedSampler"]


class DistributedSampler(_ArraySampler):
    """Rank ``rank`` of ``num_replicas`` (default: the process group's) gets indices
    ``rank, rank + num_replicas, ...`` of the epoch's order, so the ranks' shares never overlap.

    The order is ``0..len-1``, or with ``shuffle`` a permutation seeded by ``seed + epoch`` (the same on
    every rank: call ``set_epoch(epoch)`` before each epoch to reshuffle). Every rank gets the same
    number of indices: without ``drop_last`` the order is padded by repeating its first indices, with
    it the tail that does not divide evenly is dropped. Pass it as ``DataLoader(sampler=...)``.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None:
            num_replicas = process_group.get_world_size()
        if rank is None:
            rank = process_group.get_rank()
        if not 0 <= rank < num_replicas:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas, self.rank = num_replicas, rank
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.epoch = 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch):
        """Make the next epoch's shuffle depend on ``epoch`` (call it on every rank, with the same value)."""
        self.epoch = epoch

    def index_array(self):
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(n).astype(np.int64)
        else:
            order = np.arange(n, dtype=np.int64)
        if self.total_size > n:
            order = np.resize(order, self.total_size)  # repeats the order from its start as padding
        else:
            order = order[:self.total_size]
        return order[self.rank:self.total_size:self.num_replicas]

    def __len__(self):
        return self.num_samples
