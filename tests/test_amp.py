"""ember.autocast and ember.amp.GradScaler against PyTorch's (CPU, float16): the dtypes ops return
inside autocast, the dtypes and values of the gradients, the cuda op lists (run on cpu tensors,
since no GPU is here), and GradScaler's scale sequence, skipped steps and errors on crafted runs
with inf gradients; then a float16 training loop that learns."""
import importlib

import numpy as np
import pytest
import torch

import ember
import ember.nn.functional as F
from ember.amp import autocast_mode as autocast_module
from op_check import rng_for
from test_coverage import FAMILY_TEST_MODULES

LIBS = {"ember": (ember, F), "torch": (torch, torch.nn.functional)}
RNG = np.random.default_rng(0)
A = RNG.standard_normal((4, 6)).astype(np.float32)
W = RNG.standard_normal((5, 6)).astype(np.float32)
V = RNG.standard_normal(6).astype(np.float32)
IMAGES = RNG.standard_normal((2, 3, 6, 6)).astype(np.float32)
KERNELS = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)
VOLUME = RNG.standard_normal((1, 2, 4, 4, 4)).astype(np.float32)
TARGETS = np.array([0, 3, 1, 5])


def autocast_fp16(lib):
    return lib.autocast("cpu", dtype=lib.float16)


# name -> f(lib, F, t, w): t(array) makes an input of the dtype under test, w(array) a weight or a
# target: float32, as a model's, or float64 in a float64 model (which autocast leaves alone)
CASES = {
    "linear": lambda lib, F, t, w: F.linear(t(A), w(W), w(W[:, 0])),
    "matmul": lambda lib, F, t, w: lib.matmul(t(A), w(W).t()),
    "@": lambda lib, F, t, w: t(A) @ w(W).t(),
    "Tensor.matmul": lambda lib, F, t, w: t(A).matmul(w(W).t()),
    "mm": lambda lib, F, t, w: lib.mm(t(A), w(W).t()),
    "bmm": lambda lib, F, t, w: lib.bmm(t(A)[None], w(W).t()[None]),
    "addmm": lambda lib, F, t, w: lib.addmm(w(A[:, :5]), t(A), w(W).t()),
    "einsum": lambda lib, F, t, w: lib.einsum("ij,kj->ik", t(A), w(W)),
    "mv": lambda lib, F, t, w: lib.mv(t(A), t(V)),
    "conv1d": lambda lib, F, t, w: F.conv1d(t(IMAGES[:, :, 0]), w(KERNELS[:, :, 0])),
    "conv2d": lambda lib, F, t, w: F.conv2d(t(IMAGES), w(KERNELS)),
    "conv_transpose2d": lambda lib, F, t, w: F.conv_transpose2d(t(IMAGES), w(KERNELS.transpose(1, 0, 2, 3))),
    "prelu": lambda lib, F, t, w: F.prelu(t(A), w(np.array([0.25], np.float32))),
    "scaled_dot_product_attention": lambda lib, F, t, w: F.scaled_dot_product_attention(
        t(A)[None], w(W)[None], w(W)[None]),
    "softmax": lambda lib, F, t, w: F.softmax(t(A), 1),
    "log_softmax": lambda lib, F, t, w: F.log_softmax(t(A), 1),
    "sum": lambda lib, F, t, w: t(A).sum(),
    "mean": lambda lib, F, t, w: lib.mean(t(A)),
    "prod": lambda lib, F, t, w: lib.prod(t(A)),
    "exp": lambda lib, F, t, w: lib.exp(t(A)),
    "relu": lambda lib, F, t, w: F.relu(t(A)),
    "layer_norm": lambda lib, F, t, w: F.layer_norm(t(A), (6,)),
    "cross_entropy": lambda lib, F, t, w: F.cross_entropy(t(A), lib.tensor(TARGETS)),
    "nll_loss": lambda lib, F, t, w: F.nll_loss(t(A), lib.tensor(TARGETS)),
    "mse_loss": lambda lib, F, t, w: F.mse_loss(t(A), w(A)),
    "l1_loss": lambda lib, F, t, w: F.l1_loss(t(A), w(A)),
    "smooth_l1_loss": lambda lib, F, t, w: F.smooth_l1_loss(t(A), w(A)),
    "huber_loss": lambda lib, F, t, w: F.huber_loss(t(A), w(A)),
    "kl_div": lambda lib, F, t, w: F.kl_div(t(A), w(A), reduction="batchmean", log_target=True),
    "binary_cross_entropy": lambda lib, F, t, w: F.binary_cross_entropy(lib.sigmoid(t(A)), w(A > 0)),
    "binary_cross_entropy_with_logits": lambda lib, F, t, w: F.binary_cross_entropy_with_logits(t(A), w(A)),
    "max_pool3d": lambda lib, F, t, w: F.max_pool3d(t(VOLUME), 2),
    "avg_pool3d": lambda lib, F, t, w: F.avg_pool3d(t(VOLUME), 2),
    "adaptive_avg_pool3d": lambda lib, F, t, w: F.adaptive_avg_pool3d(t(VOLUME), 2),
    "cat": lambda lib, F, t, w: lib.cat([t(A), w(A)]),
    "add": lambda lib, F, t, w: t(A) + w(A).half(),
    "integer sum": lambda lib, F, t, w: lib.tensor(TARGETS).sum(),
}


def result_dtype(name, lib_name, input_dtype, enabled=True):
    lib, functional = LIBS[lib_name]

    def make(array):
        return lib.tensor(array, dtype=getattr(lib, input_dtype))

    def weight(array):
        return lib.tensor(array, dtype=lib.float64 if input_dtype == "float64" else lib.float32)
    with lib.autocast("cpu", dtype=lib.float16, enabled=enabled):
        try:
            out = CASES[name](lib, functional, make, weight)
        except (RuntimeError, TypeError):
            return "error"
    return str(out.dtype).split(".")[-1]


@pytest.mark.parametrize("input_dtype", ["float32", "float16", "float64"])
@pytest.mark.parametrize("name", CASES)
def test_op_dtypes_match_torch_cpu_autocast(name, input_dtype):
    assert result_dtype(name, "ember", input_dtype) == result_dtype(name, "torch", input_dtype)


def decomposed_differently(case, sample):
    """PyTorch ops whose dtype under autocast comes from how its Python layer breaks them up (into
    listed or unlisted ATen ops) rather than from the op's own listing, which ember follows."""
    return (case.name == "pad" and case.kwargs.get("mode") in ("reflect", "replicate")
            or case.name == "local_response_norm"              # avg_pool3d (float32) inside
            or case.name in ("mse_loss", "l1_loss") and len(sample) == 3  # weighted: not aten's loss
            or case.kwargs.get("return_indices", False))        # max_pool3d_with_indices: unlisted


def as_tensor(lib, value, dtype):
    if isinstance(value, (np.ndarray, np.generic)):
        value = np.asarray(value)
        return lib.tensor(value.astype(dtype) if value.dtype.kind == "f" else value)
    if isinstance(value, (list, tuple)) and any(isinstance(v, np.ndarray) for v in value):
        return type(value)(as_tensor(lib, v, dtype) for v in value)
    return value


def autocast_dtype_or_error(function, lib, sample, kwargs, dtype):
    args = [as_tensor(lib, a, dtype) for a in sample]
    with autocast_fp16(lib):
        try:
            out = function(*args, **kwargs)
        except (RuntimeError, TypeError, ValueError, IndexError):
            return "error"
    out = out[0] if isinstance(out, (tuple, list)) else out
    return str(getattr(out, "dtype", type(out).__name__)).split(".")[-1]  # equal() gives a bool


@pytest.mark.parametrize("module_name", FAMILY_TEST_MODULES)
def test_every_op_case_gives_torchs_dtype_under_autocast(module_name):
    """Every OpCase of the family tests, on float32 and on float16 inputs."""
    mismatches = []
    for case in importlib.import_module(module_name).CASES:
        for sample in case.samples(rng_for(case.name), np.float32)[:2]:
            if decomposed_differently(case, sample):
                continue
            for dtype in (np.float32, np.float16):
                ours = autocast_dtype_or_error(case.ember_fn, ember, sample, case.kwargs, dtype)
                theirs = autocast_dtype_or_error(case.torch_fn, torch, sample, case.kwargs, dtype)
                if ours != theirs:
                    mismatches.append(f"{case.id} on {dtype.__name__}: ember {ours}, torch {theirs}")
    assert not mismatches


@pytest.mark.parametrize("name", ["linear", "matmul", "conv2d", "cross_entropy", "cat"])
def test_disabled_autocast_changes_nothing(name):
    assert result_dtype(name, "ember", "float32", enabled=False) == "float32"
    assert result_dtype(name, "ember", "float16", enabled=False) == result_dtype(name, "torch", "float16",
                                                                                enabled=False)


def mlp_run(lib_name, params, images, labels, scale=1.0):
    """Forward under autocast and backward outside; returns (loss, logits dtype, grads)."""
    lib, functional = LIBS[lib_name]
    w1, b1, w2, b2 = (lib.tensor(p, requires_grad=True) for p in params)
    x = lib.tensor(images, requires_grad=True)
    with autocast_fp16(lib):
        hidden = functional.relu(functional.linear(x, w1, b1))
        logits = functional.linear(hidden, w2, b2)
        loss = functional.cross_entropy(logits, lib.tensor(labels))
    (loss * scale).backward()
    grads = [t.grad for t in (w1, b1, w2, b2, x)]
    return loss, logits.dtype, grads


def test_gradients_flow_back_in_the_inputs_dtypes_with_torchs_values():
    rng = np.random.default_rng(1)
    params = [rng.standard_normal((16, 8)).astype(np.float32) * 0.5, np.zeros(16, np.float32),
              rng.standard_normal((5, 16)).astype(np.float32) * 0.5, np.zeros(5, np.float32)]
    images, labels = rng.standard_normal((12, 8)).astype(np.float32), rng.integers(0, 5, 12)
    ours = mlp_run("ember", params, images, labels)
    theirs = mlp_run("torch", params, images, labels)
    assert str(ours[1]) == "ember.float16" and ours[0].dtype == ember.float32
    assert str(theirs[1]) == "torch.float16" and theirs[0].dtype == torch.float32
    np.testing.assert_allclose(ours[0].item(), theirs[0].item(), rtol=2e-3)
    for g, expected in zip(ours[2], theirs[2]):
        assert g.dtype == ember.float32  # the leaves' own dtype, through the recorded casts
        expected = expected.numpy()
        np.testing.assert_allclose(g.numpy(), expected, rtol=0, atol=5e-3 * np.abs(expected).max())


def test_the_cast_is_in_the_graph():
    x = ember.randn(3, 4)
    w = ember.randn(2, 4, requires_grad=True)
    with autocast_fp16(ember):
        y = F.linear(x, w)
    cast = y.grad_fn.next_functions[1][0]
    assert cast.name() == "ToDtypeBackward"
    assert cast.next_functions[0][0].variable is w


def test_weights_are_cast_once_per_region():
    x = ember.randn(3, 4)
    w = ember.randn(2, 4, requires_grad=True)
    with autocast_fp16(ember):
        first, second = F.linear(x, w), F.linear(x * 2, w)
        assert first.grad_fn.next_functions[1][0] is second.grad_fn.next_functions[1][0]
        with ember.no_grad():
            w.add_(1.0)  # a new version of the weight is cast anew
        third = F.linear(x, w)
        assert third.grad_fn.next_functions[1][0] is not first.grad_fn.next_functions[1][0]
    assert not autocast_module._STATE.cache  # emptied when the outermost region ends
    with ember.autocast("cpu", dtype=ember.float16, cache_enabled=False):
        first, second = F.linear(x, w), F.linear(x, w)
        assert first.grad_fn.next_functions[1][0] is not second.grad_fn.next_functions[1][0]


def test_nesting_decorator_and_state():
    x, w = ember.randn(3, 4), ember.randn(4, 2)
    region = ember.autocast("cpu", dtype=ember.float16)

    @region
    def product(depth):
        inner = product(depth - 1) if depth else None  # the same instance, entered recursively
        return (x @ w).dtype, inner

    assert product(2) == (ember.float16, (ember.float16, (ember.float16, None)))
    assert not ember.amp.is_autocast_enabled("cpu")
    with region:
        assert ember.amp.is_autocast_enabled("cpu")
        with ember.autocast("cpu", enabled=False):
            assert (x @ w).dtype == ember.float32 and not ember.amp.is_autocast_enabled("cpu")
            with ember.amp.autocast("cpu", dtype=ember.float16):
                assert (x @ w).dtype == ember.float16
        assert (x @ w).dtype == ember.float16
    assert (x @ w).dtype == ember.float32


class MatmulInBackward(ember.Function):
    """Identity whose backward runs a listed op and records the dtype it gave."""
    seen = None

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        MatmulInBackward.seen = (grad.reshape(1, -1) @ grad.reshape(-1, 1)).dtype
        return grad


def test_backward_inside_a_region_is_not_autocast():
    x = ember.randn(3, requires_grad=True)
    with autocast_fp16(ember):
        MatmulInBackward.apply(x).sum().backward()
        assert (x.reshape(1, -1) @ x.reshape(-1, 1)).dtype == ember.float16  # forward is
    assert MatmulInBackward.seen == ember.float32


def test_dtype_and_device_errors_and_warnings():
    with pytest.raises(RuntimeError, match="bfloat16"):
        ember.autocast("cpu")  # PyTorch's cpu default
    with pytest.raises(RuntimeError, match="bfloat16"):
        ember.autocast("cuda", dtype="bfloat16")
    with pytest.raises(RuntimeError, match="bfloat16"):
        ember.autocast("cpu", dtype=torch.bfloat16)
    with pytest.raises(ValueError, match="device_type"):
        ember.autocast(torch.device("cpu"))
    with pytest.raises(RuntimeError, match="unsupported autocast device_type"):
        ember.autocast("tpu")
    ember.autocast("cpu", enabled=False)  # a disabled region needs no dtype
    x = ember.randn(2, 2)
    with pytest.warns(UserWarning, match="target dtype is not supported"):
        region = ember.autocast("cpu", dtype=ember.float32)
    with region:
        assert not ember.amp.is_autocast_enabled("cpu")
    if not ember.cuda.is_available():
        with pytest.warns(UserWarning, match="CUDA is not available"):
            region = ember.autocast()
        with region:
            assert (x @ x).dtype == ember.float32 and not ember.amp.is_autocast_enabled("cuda")


@pytest.fixture
def cuda_autocast_on_cpu(monkeypatch):
    """An autocast "cuda" region that believes CUDA is usable, and the cuda op lists applied to
    cpu tensors, to check what only a GPU would otherwise run."""
    monkeypatch.setattr(autocast_module, "_usable", lambda device_type, dtype: True)
    monkeypatch.setitem(autocast_module.POLICIES, "cpu", autocast_module.POLICIES["cuda"])


def test_only_tensors_on_the_autocast_device_type_are_cast(monkeypatch):
    monkeypatch.setattr(autocast_module, "_usable", lambda device_type, dtype: True)
    x = ember.randn(3, 4)
    with ember.autocast("cuda"):
        assert ember.amp.is_autocast_enabled("cuda") and not ember.amp.is_autocast_enabled("cpu")
        assert (x @ x.t()).dtype == ember.float32


def test_cuda_lists(cuda_autocast_on_cpu):
    """PyTorch's documented cuda behaviour: float32 list ops, ``dtype=`` respected, promotion."""
    h = ember.randn(3, 4).half()
    f = ember.randn(3, 4)
    with autocast_fp16(ember):
        assert F.softmax(h, 1).dtype == ember.float32
        assert F.softmax(h, 1, dtype=ember.float16).dtype == ember.float16
        assert ember.softmax(h, 1, ember.float64).dtype == ember.float64  # dtype given by position
        assert h.sum().dtype == ember.float32 and h.mean().dtype == ember.float16
        assert ember.cumsum(h, 1).dtype == ember.float32
        assert ember.tensor([1, 2]).sum().dtype == ember.int64  # not floating: not eligible
        assert F.layer_norm(h, (4,)).dtype == ember.float32
        assert ember.exp(h).dtype == ember.float32 and (h ** 2).dtype == ember.float32
        assert (2 ** h).dtype == ember.float32 and (1 / h).dtype == ember.float32
        assert (h / 2).dtype == ember.float16
        assert ember.mv(f, f[0]).dtype == ember.float16
        assert ember.dot(h[0], f[0]).dtype == ember.float32  # promote: the widest of the two
        assert ember.dot(h[0], h[0]).dtype == ember.float16
        with pytest.raises(RuntimeError, match="unsafe to autocast"):
            F.binary_cross_entropy(ember.sigmoid(f), ember.ones(3, 4))


def test_recurrent_layers_run_under_autocast():
    for layer in (ember.nn.GRU(3, 4), ember.nn.GRUCell(3, 4), ember.nn.LSTM(3, 4), ember.nn.RNN(3, 4)):
        with autocast_fp16(ember):
            out = layer(ember.randn(5, 2, 3) if not isinstance(layer, ember.nn.GRUCell) else ember.randn(2, 3))
        (out[0] if isinstance(out, tuple) else out).float().sum().backward()
        assert all(p.grad.dtype == ember.float32 for p in layer.parameters())


def test_listed_ops_keep_their_names_and_docs():
    assert ember.matmul.__name__ == "matmul" and ember.matmul.__doc__
    assert ember.Tensor.sum is ember.sum and ember.nn.functional.linear is ember.functional.linear


# ---- GradScaler -----------------------------------------------------------------------------------

class Recorder:
    """A duck-typed optimizer whose step returns a marker, for the return-value passthrough."""

    def __init__(self, params):
        self.param_groups = [{"params": list(params)}]
        self.steps = 0

    def step(self):
        self.steps += 1
        return "stepped"


def scaler_run(lib_name, multipliers, two_optimizers=False, unscale_first=False, **options):
    """One parameter per optimizer, loss = sum(p * m) for the step's multiplier m (inf or nan make
    a bad gradient). Returns per step: (scale before, step results, scale after, parameters)."""
    lib, _ = LIBS[lib_name]
    params = [lib.tensor([1.0, -2.0], requires_grad=True), lib.tensor([0.5], requires_grad=True)]
    groups = [params] if not two_optimizers else [[params[0]], [params[1]]]
    optimizers = [lib.optim.SGD(group, lr=0.1) for group in groups]
    scaler = (lib.amp.GradScaler("cpu", **options))
    history = []
    for m in multipliers:
        m0, m1 = m if isinstance(m, tuple) else (m, 1.0)
        for optimizer in optimizers:
            optimizer.zero_grad()
        before = scaler.get_scale()
        loss = (params[0] * m0).sum() + (params[1] * m1).sum()
        scaler.scale(loss).backward()
        if unscale_first:
            for optimizer in optimizers:
                scaler.unscale_(optimizer)
        results = [scaler.step(optimizer) for optimizer in optimizers]
        scaler.update()
        history.append((before, results, scaler.get_scale(), [p.detach().numpy().tolist() for p in params]))
    return history


INF, NAN = float("inf"), float("nan")


@pytest.mark.parametrize("options", [
    dict(init_scale=2.0 ** 4, growth_interval=3),
    dict(init_scale=1000.1, growth_factor=3.0, backoff_factor=0.3, growth_interval=2),
    dict(init_scale=2.0 ** 126, growth_interval=1),  # growth would pass float32's range: it stops
    dict(init_scale=0.1, growth_interval=1),
])
@pytest.mark.parametrize("variant", [{}, {"unscale_first": True}])
def test_scale_sequence_and_skipped_steps_match_torch(options, variant):
    multipliers = [1.0, 2.0, INF, 0.5, 1.0, NAN, 1.0, 1.0, 1.0, -INF, 3.0, 1.0, 1.0]
    ours = scaler_run("ember", multipliers, **variant, **options)
    theirs = scaler_run("torch", multipliers, **variant, **options)
    for step, (a, b) in enumerate(zip(ours, theirs)):
        assert a[0] == b[0] and a[2] == b[2], f"scale at step {step}"
        assert a[1] == b[1], f"step results at step {step}"
        np.testing.assert_allclose(np.concatenate(a[3]), np.concatenate(b[3]), rtol=1e-6)


def test_per_optimizer_skips_match_torch():
    """An inf in one optimizer's gradients skips only its step; the scale still backs off."""
    multipliers = [(1.0, 1.0), (INF, 1.0), (1.0, NAN), (1.0, 1.0), (1.0, 1.0)]
    ours = scaler_run("ember", multipliers, two_optimizers=True, init_scale=8.0, growth_interval=2)
    theirs = scaler_run("torch", multipliers, two_optimizers=True, init_scale=8.0, growth_interval=2)
    assert [(a[0], a[2]) for a in ours] == [(b[0], b[2]) for b in theirs]
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(np.concatenate(a[3]), np.concatenate(b[3]), rtol=1e-6)


def test_step_returns_the_optimizers_result_or_none():
    p = ember.tensor([1.0], requires_grad=True)
    optimizer = Recorder([p])
    scaler = ember.amp.GradScaler("cpu")
    scaler.scale(p.sum() * 2).backward()
    assert scaler.step(optimizer) == "stepped"
    scaler.update()
    p.grad = None
    scaler.scale(p.sum() * INF).backward()
    assert scaler.step(optimizer) is None and optimizer.steps == 1
    scaler.update()
    assert scaler.get_scale() == 2.0 ** 15
    np.testing.assert_array_equal(p.grad.numpy(), [np.inf])  # unscaled in place all the same


def test_grads_are_unscaled_in_place():
    p = ember.tensor([1.0, 2.0], requires_grad=True)
    optimizer = Recorder([p])
    scaler = ember.amp.GradScaler("cpu", init_scale=1024.0)
    scaler.scale((p * ember.tensor([3.0, -0.5])).sum()).backward()
    np.testing.assert_array_equal(p.grad.numpy(), [3072.0, -512.0])
    scaler.unscale_(optimizer)
    np.testing.assert_array_equal(p.grad.numpy(), [3.0, -0.5])


@pytest.mark.parametrize("lib_name", ["ember", "torch"])
def test_misuse_raises_as_in_torch(lib_name):
    lib, _ = LIBS[lib_name]
    p = lib.tensor([1.0], requires_grad=True)
    optimizer = lib.optim.SGD([p], lr=0.1)
    scaler = lib.amp.GradScaler("cpu")
    with pytest.raises(AssertionError, match="_scale is None"):
        scaler.update()
    scaler.scale(p.sum()).backward()
    scaler.unscale_(optimizer)
    with pytest.raises(RuntimeError, match="unscale_\\(\\) has already been called"):
        scaler.unscale_(optimizer)
    scaler.step(optimizer)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        scaler.step(optimizer)
    with pytest.raises(RuntimeError, match="unscale_\\(\\) is being called after step"):
        scaler.unscale_(optimizer)
    with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
        scaler.step(optimizer, closure=lambda: None)
    scaler.update()
    with pytest.raises(AssertionError, match="No inf checks were recorded prior to update"):
        scaler.update()
    with pytest.raises(AssertionError, match="growth factor"):
        lib.amp.GradScaler("cpu", growth_factor=1.0)
    with pytest.raises(AssertionError, match="backoff factor"):
        lib.amp.GradScaler("cpu", backoff_factor=1.0)
    half = lib.tensor([1.0], requires_grad=True, dtype=lib.float16)  # a float16 model: no master weights
    scaler.scale(half.sum()).backward()
    with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients"):
        scaler.step(lib.optim.SGD([half], lr=0.1))


def test_disabled_scaler_passes_through():
    p = ember.tensor([1.0], requires_grad=True)
    optimizer = Recorder([p])
    scaler = ember.amp.GradScaler("cpu", enabled=False)
    loss = p.sum()
    assert scaler.scale(loss) is loss and not scaler.is_enabled()
    assert scaler.step(optimizer) == "stepped"
    scaler.unscale_(optimizer)
    scaler.update()
    assert scaler.get_scale() == 1.0 and scaler.state_dict() == {}
    if not ember.cuda.is_available():
        with pytest.warns(UserWarning, match="CUDA is not available"):
            assert not ember.amp.GradScaler().is_enabled()


def test_scale_of_tensors_lists_and_float16_losses():
    scaler, theirs = ember.amp.GradScaler("cpu"), torch.amp.GradScaler("cpu")
    half = scaler.scale(ember.tensor(1.0, dtype=ember.float16))
    assert half.dtype == ember.float32 and half.item() == 65536.0  # a 0-d float16 loss would overflow
    assert theirs.scale(torch.tensor(1.0, dtype=torch.float16)).dtype == torch.float32
    assert scaler.scale(ember.ones(2, dtype=ember.float16)).dtype == ember.float16
    scaled = scaler.scale([ember.tensor(1.0), (ember.tensor(2.0), ember.tensor(3.0))])
    assert isinstance(scaled, list) and isinstance(scaled[1], tuple)
    assert [scaled[0].item(), scaled[1][0].item(), scaled[1][1].item()] == [65536.0, 131072.0, 196608.0]
    assert [t.item() for t in scaler.scale(iter([ember.tensor(0.5)]))] == [32768.0]
    with pytest.raises(ValueError, match="outputs must be a Tensor"):
        scaler.scale(3.0)


def test_state_dict_round_trip_matches_torch():
    multipliers = [1.0, INF, 1.0, 1.0]
    ours_scaler, theirs_scaler = (LIBS[name][0].amp.GradScaler("cpu", init_scale=64.0, growth_interval=3)
                                  for name in ("ember", "torch"))
    for lib_name, scaler in (("ember", ours_scaler), ("torch", theirs_scaler)):
        lib, _ = LIBS[lib_name]
        p = lib.tensor([1.0], requires_grad=True)
        optimizer = lib.optim.SGD([p], lr=0.1)
        for m in multipliers:
            p.grad = None
            scaler.scale(p.sum() * m).backward()
            scaler.step(optimizer)
            scaler.update()
    assert ours_scaler.state_dict() == theirs_scaler.state_dict()
    fresh = ember.amp.GradScaler("cpu")
    fresh.load_state_dict(ours_scaler.state_dict())
    assert fresh.state_dict() == ours_scaler.state_dict() and fresh.get_scale() == 32.0
    with pytest.raises(RuntimeError, match="source state dict is empty"):
        fresh.load_state_dict({})
    with pytest.raises(AssertionError, match="_scale is None"):
        fresh.update(new_scale=4.0)  # as in PyTorch, even a new scale needs a scale() first
    fresh.scale(ember.tensor(1.0))
    fresh.update(new_scale=4.0)
    assert fresh.get_scale() == 4.0


def test_update_with_a_new_scale():
    scaler = ember.amp.GradScaler("cpu")
    scaler.scale(ember.tensor(1.0))
    scaler.update(new_scale=ember.tensor(8.0))
    assert scaler.get_scale() == 8.0
    with pytest.raises(AssertionError, match="new_scale should be"):
        scaler.update(new_scale=ember.tensor([1.0, 2.0]))


def test_float16_training_loop_learns():
    """An MLP on the 8x8 digits, forward under cpu float16 autocast, with loss scaling: the scale
    backs off from 2**16 to where float16 gradients are finite, and the model learns."""
    pytest.importorskip("sklearn")
    from ember.datasets import load_digits
    x_train, y_train, x_test, y_test = (ember.from_numpy(a) for a in load_digits())
    ember.manual_seed(0)
    model = ember.nn.Sequential(ember.nn.Linear(64, 64), ember.nn.ReLU(), ember.nn.Linear(64, 10))
    optimizer = ember.optim.Adam(model.parameters(), lr=3e-3)
    scaler = ember.amp.GradScaler("cpu", growth_interval=50)
    skipped = 0
    for step in range(300):
        batch = ember.from_numpy(np.random.default_rng(step).integers(0, len(x_train), 64))
        with ember.autocast("cpu", dtype=ember.float16):
            logits = model(x_train[batch])
            loss = F.cross_entropy(logits, y_train[batch])
        assert logits.dtype == ember.float16 and loss.dtype == ember.float32
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        before = scaler.get_scale()
        scaler.update()
        skipped += scaler.get_scale() < before  # a backoff: this step was skipped
    assert all(p.dtype == ember.float32 and p.grad.dtype == ember.float32 for p in model.parameters())
    with ember.no_grad(), ember.autocast("cpu", dtype=ember.float16):
        accuracy = (model(x_test).argmax(dim=1) == y_test).float().mean().item()
    assert accuracy > 0.9
    assert skipped < 30
