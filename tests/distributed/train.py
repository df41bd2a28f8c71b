"""Run under mpiexec: N ranks with DistributedDataParallel on a split batch must match one process on the
whole batch, and end with bitwise identical parameters. Rank 0 prints "ok <case>" per case. The "bn"
model has BatchNorm layers, converted to SyncBatchNorm for the ranks: their statistics (and running
statistics) must equal those of the whole batch."""
import hashlib
import sys

import numpy as np
from mpi4py import MPI

import ember
import ember.distributed as dist
from ember import nn, optim
from ember.data import DataLoader, TensorDataset

STEPS, SAMPLES = 3, 12


def mlp():
    return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))


def convnet():  # LeNet's layer kinds, at a test's size
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(6 * 2 * 2, 3))


def bn_convnet():
    # no bias before a BatchNorm: its exact gradient is 0, and Adam would amplify the rounding noise in it
    return nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 3 * 3, 8, bias=False), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 3))


MODELS = {"mlp": (mlp, (8,)), "conv": (convnet, (1, 8, 8)), "bn": (bn_convnet, (1, 8, 8))}
OPTIMIZERS = {"sgd": lambda params: optim.SGD(params, lr=0.1, momentum=0.9),
              "adam": lambda params: optim.Adam(params, lr=0.01)}


def train_reference(make, make_optimizer, x, y):
    ember.manual_seed(100)
    model = make()
    optimizer = make_optimizer(model.parameters())
    for _ in range(STEPS):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(ember.from_numpy(x)), ember.from_numpy(y)).backward()
        optimizer.step()
    return model


def train_ddp(make, make_optimizer, x, y, accumulate):
    rank, world = dist.get_rank(), dist.get_world_size()
    ember.manual_seed(100 + rank)  # different initial weights: DDP must copy rank 0's
    model = nn.SyncBatchNorm.convert_sync_batchnorm(make())
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.0005)  # several buckets, even for the mlp
    optimizer = make_optimizer(ddp.parameters())
    sampler = dist.DistributedSampler(TensorDataset(ember.from_numpy(x), ember.from_numpy(y)), shuffle=False)
    loader = DataLoader(sampler.dataset, batch_size=SAMPLES // world, sampler=sampler)
    for epoch in range(STEPS):
        sampler.set_epoch(epoch)
        for xb, yb in loader:
            optimizer.zero_grad()
            if accumulate:  # two micro-batches, the first without communication
                half = len(xb) // 2
                with ddp.no_sync():
                    (nn.functional.cross_entropy(ddp(xb[:half]), yb[:half]) * (half / len(xb))).backward()
                (nn.functional.cross_entropy(ddp(xb[half:]), yb[half:]) * ((len(xb) - half) / len(xb))).backward()
            else:
                nn.functional.cross_entropy(ddp(xb), yb).backward()
            optimizer.step()
    return ddp


def main():
    dist.init_process_group("mpi")
    rng = np.random.default_rng(0)
    for model_name in sys.argv[1].split(","):
        make, shape = MODELS[model_name]
        x = rng.standard_normal((SAMPLES,) + shape).astype(np.float32)
        y = rng.integers(0, 3, SAMPLES).astype(np.int64)
        # Accumulating micro-batches changes what a BatchNorm normalizes over: no no_sync case for "bn"
        for case in ("sgd", "adam") if model_name == "bn" else ("sgd", "adam", "sgd+no_sync"):
            make_optimizer = OPTIMIZERS[case.split("+")[0]]
            reference = train_reference(make, make_optimizer, x, y)
            ddp = train_ddp(make, make_optimizer, x, y, accumulate=case.endswith("no_sync"))
            assert list(ddp.state_dict()) == ["module." + k for k in reference.state_dict()]
            digest = hashlib.sha256()
            for (name, p), q in zip(ddp.module.state_dict().items(), reference.state_dict().values()):
                np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-4, atol=2e-6,
                                           err_msg=f"{model_name} {case} {name}")
                digest.update(p.numpy().tobytes())
            digests = MPI.COMM_WORLD.allgather(digest.hexdigest())
            assert len(set(digests)) == 1, f"{model_name} {case}: parameters differ across ranks: {digests}"
            if dist.get_rank() == 0:
                print("ok", model_name, case, flush=True)
    dist.destroy_process_group()


main()
