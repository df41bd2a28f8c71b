"""Run under mpiexec: the collectives give the expected values on every rank; rank 0 prints "ok"."""
import numpy as np

import ember
import ember.distributed as dist

dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()
ranks = np.arange(world, dtype=np.float32)
t = ember.tensor([rank, 2.0 * rank + 1.0])
dist.all_reduce(t)
assert t.tolist() == [ranks.sum(), (2 * ranks + 1).sum()], t
t = ember.tensor([rank, 2.0 * rank + 1.0], dtype=ember.float64)
dist.all_reduce(t, op=dist.ReduceOp.AVG)
assert np.allclose(t.numpy(), [ranks.mean(), (2 * ranks + 1).mean()]), t
t = ember.tensor([rank, -rank, 7], dtype=ember.int64)
dist.all_reduce(t, op=dist.ReduceOp.MAX)
assert t.tolist() == [world - 1, 0, 7], t
t = ember.arange(12, dtype=ember.float32).reshape(3, 4).t() * (rank + 1)  # not contiguous
dist.all_reduce(t)
assert np.array_equal(t.numpy(), np.arange(12, dtype=np.float32).reshape(3, 4).T * (ranks + 1).sum()), t
t = ember.full((2, 3), float(rank))
dist.broadcast(t, src=world - 1)
assert (t.numpy() == world - 1).all(), t
gathered = [ember.zeros(2, dtype=ember.int64) for _ in range(world)]
dist.all_gather(gathered, ember.tensor([rank, 10 * rank]))
assert [g.tolist() for g in gathered] == [[r, 10 * r] for r in range(world)], gathered
dist.barrier()
if rank == 0:
    print("ok", flush=True)
dist.destroy_process_group()
