"""Run under mpiexec (any world size): a forward with gradients enabled and no backward after it is
reported by the next forward as exactly that, even when part of the model was unused (its bucket's
reduction had already started at forward time). Rank 0 prints "ok"."""
import ember
import ember.distributed as dist
from ember import nn


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 2)

    def forward(self, x):
        return self.a(x)  # b is never used


dist.init_process_group("mpi")
model = dist.DistributedDataParallel(TwoHeads(), bucket_cap_mb=0.00001)  # one bucket per parameter
x = ember.randn(3, 2)
model(x)  # grad enabled, no backward
try:
    model(x)
except RuntimeError as error:
    assert "no backward followed it" in str(error) and "ember.no_grad()" in str(error), error
else:
    raise AssertionError("the second forward did not report the missing backward")
fresh = dist.DistributedDataParallel(TwoHeads())
with ember.no_grad():  # forwards under no_grad await nothing
    fresh(x)
    fresh(x)
if dist.get_rank() == 0:
    print("ok", flush=True)
