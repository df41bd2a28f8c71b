"""``ember.distributed``: data-parallel training across processes, as ``torch.distributed``.

Launch one process per rank with MPI (``-m mpi4py`` makes a rank that raises abort the whole job
instead of hanging it)::

    mpiexec -n 2 python -m mpi4py train.py

    import ember.distributed as dist
    dist.init_process_group("mpi")                  # or "nccl" for one GPU per process
    model = dist.DistributedDataParallel(model)     # same initial weights everywhere; grads averaged
    sampler = dist.DistributedSampler(dataset)      # each rank's share of every epoch
    loader = ember.data.DataLoader(dataset, batch_size=64, sampler=sampler)

Install the MPI pieces with ``pip install 'ember[distributed]'`` (mpi4py and the mpich wheel).
Importing this package does not import mpi4py; ``init_process_group`` does.
"""
from .parallel import DistributedDataParallel
from .process_group import (Backend, ReduceOp, all_gather, all_reduce, barrier, broadcast, destroy_process_group,
                            get_backend, get_rank, get_world_size, init_process_group, is_available,
                            is_initialized)
from .sampler import DistributedSampler
from .sync_batchnorm import SyncBatchNorm
from . import functional

__all__ = ["Backend", "ReduceOp", "init_process_group", "destroy_process_group", "is_initialized", "is_available",
           "get_rank", "get_world_size", "get_backend", "barrier", "all_reduce", "broadcast", "all_gather",
           "DistributedDataParallel", "DistributedSampler", "SyncBatchNorm", "functional"]
