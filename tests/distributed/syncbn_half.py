"""Run under mpiexec: SyncBatchNorm on float16 inputs whose global sums overflow float16 (values
around 100, 8,192 per channel per rank) normalizes like float64 BatchNorm over all ranks' inputs
together, and keeps finite running statistics. Rank 0 prints "ok"."""
import numpy as np
from mpi4py import MPI

import ember
import ember.distributed as dist
from ember import nn

dist.init_process_group("mpi")
rank = dist.get_rank()
rng = np.random.default_rng(rank)
local = (100 + 30 * rng.standard_normal((2, 3, 64, 64))).astype(np.float16)
everything = np.concatenate(MPI.COMM_WORLD.allgather(local)).astype(np.float64)
mean = everything.mean(axis=(0, 2, 3), keepdims=True)
var = everything.var(axis=(0, 2, 3), keepdims=True)
expected = (local.astype(np.float64) - mean) / np.sqrt(var + 1e-5)

layer = nn.SyncBatchNorm(3).half()
out = layer(ember.from_numpy(local))
assert out.dtype == ember.float16, out.dtype
np.testing.assert_allclose(out.detach().numpy().astype(np.float64), expected, atol=2e-2)
n = everything.size // 3
np.testing.assert_allclose(layer.running_mean.numpy(), 0.1 * mean.ravel(), rtol=2e-3)
np.testing.assert_allclose(layer.running_var.numpy(), 0.9 + 0.1 * var.ravel() * n / (n - 1), rtol=2e-3)
if rank == 0:
    print("ok", flush=True)
