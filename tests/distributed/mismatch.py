"""Run under mpiexec: a wrong world size and a model that differs on the last rank are refused with
clear errors on every rank; rank 0 prints "ok" and the DDP error message."""
import ember.distributed as dist
from ember import nn

try:
    dist.init_process_group("mpi", world_size=99)
except RuntimeError as error:
    assert "world_size=99" in str(error), error
else:
    raise AssertionError("a wrong world size was accepted")
dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 5 if rank == world - 1 else 3))
try:
    dist.DistributedDataParallel(model)
except RuntimeError as error:
    message = str(error)
    assert f"rank {world - 1} has parameter '2.weight' (5, 8)" in message, message
    assert "rank 0 has parameter '2.weight' (3, 8)" in message, message
else:
    raise AssertionError("a model that differs across ranks was accepted")
dist.barrier()
if rank == 0:
    print("ok", message, flush=True)
dist.destroy_process_group()
