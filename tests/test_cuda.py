"""The cuda device on a real GPU: every cuda implementation of every kernel against its NumPy
reference, every op with an ``OpCase`` against PyTorch CUDA (forward and input gradients), and a
LeNet trained on cuda against the same on cpu. These are marked ``cuda`` (``pytest -m cuda`` runs
them alone) and skip, saying why, where there is no GPU or PyTorch has no CUDA.

The Numba kernels' logic is also tested without a GPU, under Numba's CUDA simulator, in their own
test module. Under EMBER_EMULATE_CUDA=1 (tests/conftest.py) the cuda device is the CUDA host emulator,
and the ops are checked against PyTorch on the cpu (tests/test_emulated_device.py runs a selection)."""
import importlib

import numpy as np
import pytest
import torch

import ember
from ember.kernels import registry
from ember.kernels.cuda import runtime
from cuda_emulator import EMULATING_DEVICE
from kernel_check import check_against_reference
from op_check import run_case
from test_coverage import FAMILY_TEST_MODULES
from test_kernels import CASES as KERNEL_CASES, SEEDS

# PyTorch computes float32 convolutions (cuDNN) and, if asked, matmuls in TF32 on Ampere and later:
# about 1e-3 relative error. ember computes in float32, so the reference must too.
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False

GPU_REASON = runtime.unusable_reason()
needs_gpu = pytest.mark.skipif(GPU_REASON is not None, reason=f"needs a CUDA GPU: {GPU_REASON}")
# ember on the emulated device is checked against PyTorch on the cpu
TORCH_DEVICE = "cpu" if EMULATING_DEVICE and not torch.cuda.is_available() else "cuda"
TORCH_REASON = None if torch.cuda.is_available() or TORCH_DEVICE == "cpu" else (
    f"needs PyTorch with CUDA: torch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU")
needs_gpu_and_torch_cuda = needs_gpu if GPU_REASON else pytest.mark.skipif(TORCH_REASON is not None,
                                                                            reason=TORCH_REASON or "")


# ---- kernels against their NumPy references ---------------------------------------------------

def _cuda_implementations():
    """Every cuda implementation registered for an op with cases, whether it loads here or not (one
    that does not skips with its reason)."""
    states = ember.kernels.available()
    return [pytest.param(case, name, id=f"{case.id}-{name}") for case in KERNEL_CASES
            for name in states.get(case.op, {}).get("cuda", {}).get("implementations", {})]


@pytest.mark.cuda
@needs_gpu
@pytest.mark.parametrize("case,name", _cuda_implementations())
@pytest.mark.parametrize("layout", ["contiguous", "noncontiguous"])
def test_cuda_implementation_matches_reference(case, name, layout):
    try:
        kernel = registry.implementation(case.op, "cuda", name)
    except RuntimeError as error:  # e.g. the C++/CUDA extension was not built here
        pytest.skip(str(error))
    check_against_reference(case, kernel, registry.implementation(case.op, "cpu", "numpy"), layout, SEEDS,
                            f"cuda {name}", xp=runtime.cupy())


def test_every_cuda_kernel_has_a_reference_and_cases():
    """A cuda kernel has the signature of a cpu op's NumPy reference, and that op has cases."""
    tested = {case.op for case in KERNEL_CASES}
    for op, device in registry._implementations:
        if device == "cuda":
            assert "numpy" in [impl.name for impl in registry._implementations.get((op, "cpu"), ())], \
                f"cuda kernel '{op}' has no NumPy reference on cpu"
            assert op in tested, f"cuda kernel '{op}' has no case in tests/kernel_cases/"


# ---- ops against PyTorch CUDA -----------------------------------------------------------------

OP_CASES = [(module, case) for module in FAMILY_TEST_MODULES for case in importlib.import_module(module).CASES]
# cases whose function makes a cpu tensor of its own and writes the inputs into it: on cuda that is a
# device mix, which both libraries refuse (test_devices_mix_only_as_pytorch_allows checks ember's error)
CPU_ONLY_CASES = {"setitem_into_constant"}


@pytest.mark.cuda
@needs_gpu_and_torch_cuda
@pytest.mark.parametrize("noncontiguous", [False, True], ids=["contiguous", "noncontiguous"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", [case for _, case in OP_CASES],
                         ids=[f"{module.removeprefix('test_')}-{case.id}" for module, case in OP_CASES])
def test_op_matches_torch_cuda(case, dtype, noncontiguous):
    if case.id in CPU_ONLY_CASES:
        pytest.skip("the case writes device tensors into a cpu tensor it makes itself")
    run_case(case, dtype, noncontiguous, device="cuda", torch_device=TORCH_DEVICE)


# ---- a model on cuda --------------------------------------------------------------------------

def _train_lenet(device, steps=3):
    """LeNet-5 built on cpu from seed 0, moved to ``device`` and trained ``steps`` SGD steps (momentum)
    on one fixed batch of 16; the model, the losses and the last batch's logits."""
    from ember.models.cnn import lenet_layers
    rng = np.random.default_rng(0)
    images = ember.tensor(rng.standard_normal((16, 1, 28, 28)).astype(np.float32), device=device)
    labels = ember.tensor(rng.integers(0, 10, 16), device=device)
    ember.manual_seed(0)
    model = lenet_layers(ember.nn).to(device)
    optimizer = ember.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(steps):
        loss = ember.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, losses, model(images)


@pytest.mark.cuda
@needs_gpu
def test_lenet_trains_on_cuda_as_on_cpu():
    cuda_model, cuda_losses, _ = _train_lenet("cuda")
    cpu_model, cpu_losses, _ = _train_lenet("cpu")
    np.testing.assert_allclose(cuda_losses, cpu_losses, rtol=1e-4)
    for (name, on_cuda), (_, on_cpu) in zip(cuda_model.named_parameters(), cpu_model.named_parameters()):
        assert on_cuda.device.type == "cuda" and on_cuda.grad.device.type == "cuda", name
        np.testing.assert_allclose(on_cuda.detach().cpu().numpy(), on_cpu.detach().numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=name)


@pytest.mark.cuda
@needs_gpu
def test_state_dict_saved_from_cuda_loads_on_cpu(tmp_path):
    from ember.models.cnn import lenet_layers
    cuda_model, _, cuda_logits = _train_lenet("cuda", steps=1)
    path = tmp_path / "lenet.safetensors"
    ember.save(cuda_model.state_dict(), path)
    state = ember.load(path, map_location="cpu")
    assert all(t.device.type == "cpu" for t in state.values())
    cpu_model = lenet_layers(ember.nn)
    cpu_model.load_state_dict(state)
    for (name, on_cuda), (_, on_cpu) in zip(cuda_model.state_dict().items(), cpu_model.state_dict().items()):
        np.testing.assert_array_equal(on_cpu.numpy(), on_cuda.cpu().numpy(), err_msg=name)
    rng = np.random.default_rng(0)  # _train_lenet's batch
    images = ember.tensor(rng.standard_normal((16, 1, 28, 28)).astype(np.float32))
    np.testing.assert_allclose(cpu_model(images).detach().numpy(), cuda_logits.detach().cpu().numpy(),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.cuda
@needs_gpu
def test_devices_mix_only_as_pytorch_allows():
    on_cuda, on_cpu = ember.zeros(4, device="cuda"), ember.zeros(4)
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        on_cuda + on_cpu
    with pytest.raises(RuntimeError, match=r"__setitem__: Expected all tensors to be on the same device"):
        on_cpu[1:3] = ember.ones(2, device="cuda")
    on_cuda[1] = ember.tensor(5.0)  # a 0-d cpu value may be written into a cuda tensor
    assert on_cuda.device.type == "cuda" and on_cuda.cpu().tolist() == [0.0, 5.0, 0.0, 0.0]


@pytest.mark.cuda
@needs_gpu
def test_cuda_generators_are_seeded_per_device():
    ember.manual_seed(7)
    first = ember.randn(5, device="cuda").cpu().numpy()
    ember.manual_seed(7)
    assert (ember.randn(5, device="cuda").cpu().numpy() == first).all()
    dropped = ember.nn.functional.dropout(ember.ones(1000, device="cuda"), 0.5)
    assert dropped.device.type == "cuda" and 300 < int((dropped.cpu().numpy() == 0).sum()) < 700


@pytest.mark.cuda
@needs_gpu
def test_memory_stats_follow_allocations():
    ember.cuda.reset_peak_memory_stats()
    before = ember.cuda.memory_allocated()
    block = ember.empty(1 << 20, device="cuda")
    assert ember.cuda.memory_allocated() >= before + 4 * (1 << 20)
    del block
    assert ember.cuda.max_memory_allocated() >= before + 4 * (1 << 20)
    ember.cuda.synchronize()


@pytest.mark.cuda
@needs_gpu
def test_mixed_precision_training_on_cuda():
    """autocast + GradScaler on cuda: float16 activations, float32 loss and weights, a falling loss."""
    from ember.models.cnn import lenet_layers
    ember.manual_seed(0)
    model = lenet_layers(ember.nn).to("cuda")
    optimizer = ember.optim.Adam(model.parameters(), lr=1e-3)
    scaler = ember.amp.GradScaler("cuda")
    rng = np.random.default_rng(0)
    images = ember.tensor(rng.standard_normal((8, 1, 28, 28)).astype(np.float32), device="cuda")
    labels = ember.tensor(rng.integers(0, 10, 8), device="cuda")
    losses = []
    for _ in range(4):
        optimizer.zero_grad()
        with ember.autocast("cuda"):
            logits = model(images)
            loss = ember.nn.functional.cross_entropy(logits, labels)
        assert logits.dtype == ember.float16 and loss.dtype == ember.float32
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        losses.append(loss.item())
    assert all(p.dtype == ember.float32 and p.grad.dtype == ember.float32 for p in model.parameters())
    assert losses[-1] < losses[0], losses


# ---- the benchmark's GPU timing, without a GPU ------------------------------------------------

@pytest.mark.skipif(GPU_REASON is None, reason="a GPU is present: the refusal is for machines without one")
def test_bench_on_cuda_without_a_gpu_says_why(capsys):
    from ember.bench import command
    assert command.main(["--device", "cuda", "--no-plot"]) == 2
    assert GPU_REASON in capsys.readouterr().err


def test_event_clock_waits_for_the_stop_event_and_reports_seconds():
    from ember.bench.timing import EventClock

    class Event:
        def __init__(self):
            self.recorded = self.waited = 0

        def record(self):
            self.recorded += 1

        def synchronize(self):
            self.waited += 1

    start, stop = Event(), Event()
    clock = EventClock(start, stop, lambda a, b: 2.5 if (a, b) == (start, stop) else None)
    clock.start()
    assert clock.stop() == 2.5e-3
    assert (start.recorded, stop.recorded, stop.waited) == (1, 1, 1)


@pytest.mark.cuda
@needs_gpu
def test_to_cuda_on_the_current_gpu_returns_the_tensor_itself():
    x = ember.ones(3, device="cuda")
    assert x.to("cuda") is x and x.cuda() is x
    assert x.to("cuda", copy=True) is not x
