"""Run under mpiexec -m mpi4py: rank 1 raises while the others wait in a collective; the job must end."""
import ember
import ember.distributed as dist

dist.init_process_group("mpi")
if dist.get_rank() == 1:
    raise ValueError("rank 1 fails on purpose")
dist.all_reduce(ember.ones(3))  # never completes: rank 1 is gone
dist.barrier()
