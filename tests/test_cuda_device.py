"""The cuda device where there is no GPU (this machine, CI): everything imports, asking for the device
fails with a clear reason and loses nothing, and every kernel the engine dispatches has CUDA
implementations registered (they run in tests/test_cuda.py on a GPU)."""
import pytest

import ember
from ember.kernels import registry

no_gpu = pytest.mark.skipif(ember.cuda.is_available(), reason="a GPU is present: tests/test_cuda.py covers it")


@no_gpu
def test_availability_is_reported_without_raising():
    assert ember.cuda.is_available() is False
    assert ember.cuda.device_count() == 0


@no_gpu
@pytest.mark.parametrize("make", [
    lambda: ember.randn(2, 3).to("cuda"),
    lambda: ember.randn(2, 3).cuda(),
    lambda: ember.zeros(2, 3, device="cuda"),
    lambda: ember.tensor([1.0, 2.0], device="cuda:0"),
    lambda: ember.randn(4, device="cuda"),
    lambda: ember.cuda.synchronize(),
    lambda: ember.cuda.memory_allocated(),
    lambda: ember.Generator("cuda"),
], ids=["to", "cuda", "zeros", "tensor", "randn", "synchronize", "memory_allocated", "generator"])
def test_using_the_device_raises_a_clear_error(make):
    with pytest.raises(RuntimeError, match="CUDA|cuda"):
        make()


@no_gpu
def test_the_error_says_why_and_how_to_fix_it():
    with pytest.raises(RuntimeError) as error:
        ember.ones(1).to("cuda")
    message = str(error.value)
    assert "device 'cuda' is not available" in message
    assert "CuPy" in message


@no_gpu
def test_a_failed_module_move_loses_nothing():
    model = ember.nn.Sequential(ember.nn.Linear(3, 4), ember.nn.ReLU(), ember.nn.Linear(4, 2))
    before = {name: p.detach().numpy().copy() for name, p in model.named_parameters()}
    with pytest.raises(RuntimeError):
        model.to("cuda")
    for name, p in model.named_parameters():
        assert p.device == ember.device("cpu")
        assert (p.detach().numpy() == before[name]).all()


def test_device_strings_parse_as_pytorch():
    assert ember.device("cuda:1") == ember.device("cuda", 1)
    assert str(ember.device("cuda", 1)) == "cuda:1"
    assert ember.device("cuda").index is None
    with pytest.raises(RuntimeError, match="Invalid device string"):
        ember.device("cuda:x")


def test_a_generator_must_live_on_the_device_it_draws_for():
    generator = ember.Generator("cpu").manual_seed(3)
    a = ember.randn(5, generator=generator)
    b = ember.randn(5, generator=ember.Generator("cpu").manual_seed(3))
    assert (a.numpy() == b.numpy()).all()
    with pytest.raises(RuntimeError, match="Expected a 'cuda' device type for generator"):
        ember.randn(2, generator=generator, device="cuda")


# int8 inference is a CPU feature (issue 7: int8 x int8 -> int32 kernels on CPU); on a GPU the int8
# layers stop at dispatch with "no kernel is registered for 'quantized_linear' on cuda"
CPU_ONLY = {"int8_matmul", "quantized_linear", "quantized_conv2d"}


def _engine_dispatched_ops():
    return sorted(op for (op, device) in registry._implementations if device == "cpu" and op not in CPU_ONLY)


def test_cpu_only_kernels_refuse_cuda_arrays_by_name():
    for op in sorted(CPU_ONLY):
        with pytest.raises(NotImplementedError, match=f"no kernel is registered for '{op}' on cuda"):
            registry._resolve(op, "cuda")


@pytest.mark.parametrize("op", _engine_dispatched_ops())
def test_every_kernel_has_cuda_implementations(op):
    """The engine dispatches by the array's device: an op with no cuda kernel would fail on a GPU."""
    report = ember.kernels.available()[op]
    assert "cuda" in report, f"{op} has no implementation registered for cuda"
    assert report["cuda"]["implementations"], op


@no_gpu
def test_unavailable_cuda_implementations_say_why():
    report = ember.kernels.available()["softmax_forward"]["cuda"]
    assert report["using"] is None
    assert all(state.startswith("unavailable: ") for state in report["implementations"].values())
