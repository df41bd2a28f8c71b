"""Run under mpiexec, with the backend as argument: collectives and a DDP step on cuda tensors must agree
with the NumPy arithmetic (rank 0 prints "ok"). Without a usable GPU, the nccl backend must refuse with a
clear RuntimeError (prints "no-gpu: <reason>"); the mpi backend stages cuda tensors through the host."""
import sys

import numpy as np

import ember
import ember.distributed as dist
from ember import nn

try:
    dist.init_process_group(sys.argv[1])
except RuntimeError as error:
    assert sys.argv[1] == "nccl" and "nccl" in str(error).lower(), error
    print("no-gpu:", error, flush=True)
    raise SystemExit(0)
rank, world = dist.get_rank(), dist.get_world_size()
t = ember.tensor([rank, 1.0], device="cuda")
dist.all_reduce(t, op=dist.ReduceOp.AVG)
assert np.allclose(t.cpu().numpy(), [(world - 1) / 2, 1.0]), t
t = ember.full((3,), float(rank), device="cuda")
dist.broadcast(t, src=0)
assert (t.cpu().numpy() == 0).all(), t
gathered = [ember.zeros(2, device="cuda") for _ in range(world)]
dist.all_gather(gathered, ember.tensor([rank, 2.0 * rank], device="cuda"))
assert [g.cpu().tolist() for g in gathered] == [[r, 2.0 * r] for r in range(world)], gathered
ember.manual_seed(rank)
model = dist.DistributedDataParallel(nn.Linear(4, 2).cuda())
model(ember.ones(3, 4, device="cuda")).sum().backward()
grads = np.concatenate([p.grad.cpu().numpy().ravel() for p in model.parameters()])
assert np.allclose(grads, [3.0] * 8 + [3.0] * 2), grads
dist.barrier()
if rank == 0:
    print("ok", flush=True)
dist.destroy_process_group()
