"""Run under mpiexec: ranks whose losses reach different parts of the model, or none of it, must neither
hang nor diverge. Rank 0's loss uses head "a", rank 1's head "b", rank 2's (with 3 ranks) no parameter at
all. After K steps of SGD the ranks agree bitwise and equal one process minimizing the mean of the
ranks' losses. Rank 0 prints "ok"."""
import hashlib

import numpy as np
from mpi4py import MPI

import ember
import ember.distributed as dist
from ember import nn, optim

STEPS = 3


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk, self.a, self.b = nn.Linear(4, 6), nn.Linear(6, 2), nn.Linear(6, 2)

    def forward(self, x, head):
        if head == "none":
            return x * 2.0
        return getattr(self, head)(self.trunk(x).tanh())


def head_of(rank):
    return ("a", "b", "none")[rank % 3]


def rank_loss(model, x, rank):
    out = model(x, head_of(rank))
    return (out * out).mean()


def main():
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(0)
    inputs = [ember.from_numpy(rng.standard_normal((5, 4)).astype(np.float32)) for _ in range(world)]

    ember.manual_seed(7)
    reference = TwoHeads()
    reference_optimizer = optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    for _ in range(STEPS):
        reference_optimizer.zero_grad()
        total = sum(rank_loss(reference, inputs[r].detach().requires_grad_(), r) for r in range(world)) / world
        total.backward()
        reference_optimizer.step()

    ember.manual_seed(7 + rank)
    ddp = dist.DistributedDataParallel(TwoHeads(), bucket_cap_mb=0.0001)  # a bucket per parameter
    optimizer = optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    for _ in range(STEPS):
        optimizer.zero_grad()
        rank_loss(ddp, inputs[rank].detach().requires_grad_(), rank).backward()
        optimizer.step()

    digest = hashlib.sha256()
    for (name, p), q in zip(ddp.module.named_parameters(), reference.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
        digest.update(p.detach().numpy().tobytes())
    assert len(set(MPI.COMM_WORLD.allgather(digest.hexdigest()))) == 1, "parameters differ across ranks"
    if rank == 0:
        print("ok", flush=True)
    dist.destroy_process_group()


main()
