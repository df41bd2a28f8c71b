"""Run under mpiexec: the Trainer's epoch metrics cover every rank's samples. Rank r's samples all have
label r and the model (lr 0) always predicts class 0, so rank 0 alone would report accuracy 1 and the
others 0; every rank must report the global 1 / world size, the global mean loss and samples.
Rank 0 prints "ok"."""
import numpy as np

import ember
import ember.distributed as dist
from ember import nn, optim
from ember.data import DataLoader, TensorDataset
from ember.training import Trainer

dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()
model = nn.Linear(2, world + 1)
with ember.no_grad():
    model.weight.zero_()
    model.bias.copy_(ember.tensor([5.0] + [0.0] * world))
samples = 4 + rank  # unequal shares: the mean must weight ranks by their samples
data = TensorDataset(ember.randn(samples, 2), ember.full((samples,), rank, dtype=ember.int64))
trainer = Trainer(dist.DistributedDataParallel(model), optim.SGD(model.parameters(), lr=0.0), progress=False,
                  main_process=rank == 0)
metrics = trainer.train_epoch(DataLoader(data, batch_size=8))  # one step on every rank, as DDP needs
logp = np.log(np.exp([5.0] + [0.0] * world) / np.exp([5.0] + [0.0] * world).sum())
counts = [4 + r for r in range(world)]
expected_loss = sum(-logp[r] * n for r, n in enumerate(counts)) / sum(counts)
assert abs(metrics["accuracy"] - counts[0] / sum(counts)) < 1e-12, metrics
assert abs(metrics["loss"] - expected_loss) < 1e-5, (metrics, expected_loss)
assert abs(metrics["samples_per_s"] * metrics["seconds"] - sum(counts)) < 1e-6, metrics
if rank == 0:
    print("ok", flush=True)
dist.destroy_process_group()
