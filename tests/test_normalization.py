"""batch_norm, instance_norm, layer_norm, group_norm, rms_norm, local_response_norm against PyTorch
(forward, gradients, finite and second differences), and their modules with copied weights: running
statistics over several steps, train and eval modes, parameters, state_dict, repr and errors."""
import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as TF

import ember
import ember.nn as nn
import ember.nn.functional as F
from op_check import OpCase, assert_close, parametrize_cases, positive, randn, random_shape


@pytest.fixture(autouse=True, scope="module")
def single_torch_thread():
    """PyTorch's multithreaded CPU norms cost tens of milliseconds per call on these tiny inputs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---- functional ops against PyTorch ------------------------------------------------------------

def channel_samples(rng, dtype, ndims=(2, 3, 4, 5)):
    """(input (N, C, *), running_mean, running_var, weight, bias) with random sizes, batch 1 included."""
    samples = []
    for ndim in ndims:
        shape = random_shape(rng, ndim, 2, 4)
        if ndim == 3:
            shape = (1,) + shape[1:]  # batch 1 with a length: still more than one value per channel
        c = shape[1]
        samples.append([randn(rng, dtype, *shape) * 2 + 1, randn(rng, dtype, c), positive(rng, dtype, c),
                        randn(rng, dtype, c), randn(rng, dtype, c)])
    samples.append([randn(rng, dtype, 3, 2, 2), randn(rng, dtype, 2), positive(rng, dtype, 2), None, None])
    return samples


def with_running_stats(fn, **kwargs):
    """``fn(x, running_mean, running_var, ...)`` on private copies of the running statistics (PyTorch
    refuses ones that require grad), returned after the op as extra outputs to compare. (These
    outputs are not differentiable, so such cases skip gradcheck; test_double_backward and the
    cases without running statistics check the gradients.)"""
    def call(x, running_mean, running_var, *rest):
        running_mean, running_var = running_mean.detach().clone(), running_var.detach().clone()
        return fn(x, running_mean, running_var, *rest, **kwargs), running_mean, running_var
    return call


def layer_norm_samples(rng, dtype):
    a, b, c = random_shape(rng, 3, 2, 5)
    return [[randn(rng, dtype, a, b, c), (c,), randn(rng, dtype, c), randn(rng, dtype, c)],
            [randn(rng, dtype, a, b, c), (b, c), randn(rng, dtype, b, c), randn(rng, dtype, b, c)],
            [randn(rng, dtype, 1, c) * 5 + 3, [c], None, randn(rng, dtype, c)],
            [randn(rng, dtype, a, b), [b], randn(rng, dtype, b), None],
            [randn(rng, dtype, c), (c,), None, None]]


def group_norm_samples(rng, dtype):
    n, g, per_group, length = random_shape(rng, 4, 1, 3)
    c = g * per_group
    return [[randn(rng, dtype, n, c, length + 1), g, randn(rng, dtype, c), randn(rng, dtype, c)],
            [randn(rng, dtype, n, c, 2, length), 1, randn(rng, dtype, c), None],
            [randn(rng, dtype, 2, c, length + 2), c, None, None],  # torch fails on weight None with a bias
            [randn(rng, dtype, 3, 2 * c), 2, randn(rng, dtype, 2 * c), randn(rng, dtype, 2 * c)]]


def rms_norm_samples(rng, dtype):
    a, b, c = random_shape(rng, 3, 2, 5)
    return [[randn(rng, dtype, a, b, c), (c,), randn(rng, dtype, c)],
            [randn(rng, dtype, a, b, c), (b, c), None],
            [randn(rng, dtype, 1, c), [c], randn(rng, dtype, c)]]


def local_response_samples(rng, dtype):
    n, c, h, w = random_shape(rng, 4, 2, 3)
    return [[randn(rng, dtype, n, c + 2, h) * 3, 3], [randn(rng, dtype, n, c, h, w), 2],
            [randn(rng, dtype, 1, c + 3, h, 2, 2), 4], [randn(rng, dtype, n, c, h), 1]]


CASES = [
    OpCase("batch_norm", channel_samples, ember_fn=with_running_stats(F.batch_norm, training=True),
           torch_fn=with_running_stats(TF.batch_norm, training=True), gradcheck=False),
    OpCase("batch_norm", channel_samples, ember_fn=with_running_stats(F.batch_norm, training=True, momentum=0.3,
                                                                      eps=1e-3),
           torch_fn=with_running_stats(TF.batch_norm, training=True, momentum=0.3, eps=1e-3), gradcheck=False),
    OpCase("batch_norm", channel_samples, ember_fn=with_running_stats(F.batch_norm),
           torch_fn=with_running_stats(TF.batch_norm), gradcheck=False),
    OpCase("batch_norm", lambda rng, dtype: [[randn(rng, dtype, 4, 3, 2), None, None, randn(rng, dtype, 3), None]],
           kwargs={"training": True}),
    OpCase("instance_norm", lambda rng, dtype: [s[:1] + [None, None] + s[3:]
                                                for s in channel_samples(rng, dtype, (3, 4))]),
    OpCase("instance_norm", lambda rng, dtype: channel_samples(rng, dtype, (3, 4, 5)),
           ember_fn=with_running_stats(F.instance_norm, momentum=0.2),
           torch_fn=with_running_stats(TF.instance_norm, momentum=0.2), gradcheck=False),
    OpCase("instance_norm", lambda rng, dtype: channel_samples(rng, dtype, (3, 4)),
           ember_fn=with_running_stats(F.instance_norm, use_input_stats=False),
           torch_fn=with_running_stats(TF.instance_norm, use_input_stats=False), gradcheck=False),
    OpCase("layer_norm", layer_norm_samples),
    OpCase("layer_norm", layer_norm_samples, kwargs={"eps": 0.1}),
    OpCase("group_norm", group_norm_samples),
    OpCase("group_norm", group_norm_samples, kwargs={"eps": 1e-2}),
    OpCase("rms_norm", rms_norm_samples),
    OpCase("rms_norm", rms_norm_samples, kwargs={"eps": 0.5}),
    OpCase("local_response_norm", local_response_samples),
    OpCase("local_response_norm", local_response_samples, kwargs={"alpha": 0.3, "beta": 0.6, "k": 2.0}),
]

test_matches_torch, test_gradcheck = parametrize_cases(CASES)


def leaf(*shape, seed=0):
    return ember.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


@pytest.mark.parametrize("op", [
    lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
    lambda x, w, b: F.batch_norm(x, ember.tensor([0.5, -1.0, 0.0]).double(), ember.tensor([0.5, 2.0, 1.0]).double(),
                                 w, b),
    lambda x, w, b: F.instance_norm(x, weight=w, bias=b),
    lambda x, w, b: F.group_norm(x, 3, w, b),
    lambda x, w, b: F.layer_norm(x, (4,), w.repeat(4)[:4], b.repeat(4)[:4]),
    lambda x, w, b: F.rms_norm(x, (3, 4), w.reshape(3, 1).expand(3, 4)),
    lambda x, w, b: F.local_response_norm(x, 2, alpha=0.5) * w.reshape(3, 1),
], ids=["batch_norm", "batch_norm-eval", "instance_norm", "group_norm", "layer_norm", "rms_norm",
        "local_response_norm"])
def test_double_backward(op):
    x, w, b = leaf(2, 3, 4, seed=1), leaf(3, seed=2), leaf(3, seed=3)
    assert ember.autograd.gradgradcheck(lambda x, w, b: op(x, w, b).tanh(), [x, w, b])


def test_output_may_be_modified_in_place():
    # The input, not the output, is saved for backward: relu_ after a norm without affine works.
    for dims in [(2, 3, 5), (4, 3)]:
        e, t = leaf(*dims, seed=4), torch.tensor(np.random.default_rng(4).standard_normal(dims), requires_grad=True)
        F.relu_(F.batch_norm(e, None, None, training=True)).sum().backward()
        TF.relu_(TF.batch_norm(t, None, None, training=True)).sum().backward()
        assert_close(e.grad, t.grad, rtol=1e-7, atol=1e-9, what="grad through relu_")


def test_running_statistics_are_updated_in_place_without_autograd():
    running_mean, running_var = ember.zeros(3), ember.ones(3)
    x = leaf(4, 3, seed=5).float()
    F.batch_norm(x, running_mean, running_var, training=True)
    # one in-place update of each (one kernel moves both): a graph that saved a buffer refuses to use it
    assert running_mean._version_number == 1 and running_var._version_number == 1
    assert running_mean.grad_fn is None and not running_mean.requires_grad
    np.testing.assert_allclose(running_mean.numpy(), 0.1 * x.detach().numpy().mean(0), rtol=1e-5)
    np.testing.assert_allclose(running_var.numpy(), 0.9 + 0.1 * x.detach().numpy().var(0, ddof=1), rtol=1e-5)


def test_functional_errors():
    x = ember.randn(4, 3)
    with pytest.raises(ValueError, match=r"Expected more than 1 value per channel when training, got input size "
                                         r"ember.Size\(\[1, 3\]\)"):
        F.batch_norm(ember.randn(1, 3), None, None, training=True)
    with pytest.raises(RuntimeError, match="batch_norm: running_mean must be defined in evaluation mode"):
        F.batch_norm(x, None, None)
    with pytest.raises(RuntimeError, match=r"running_mean should contain 3 elements not 2 \(input of shape "
                                           r"\(4, 3\)\)"):
        F.batch_norm(x, ember.zeros(2), ember.ones(3))
    with pytest.raises(RuntimeError, match="weight should contain 3 elements not 4"):
        F.batch_norm(x, None, None, ember.ones(4), training=True)
    with pytest.raises(ValueError, match=r"batch_norm: expected input of shape \(N, C\) or \(N, C, \*\), got \(4,\)"):
        F.batch_norm(ember.randn(4), None, None, training=True)
    with pytest.raises(RuntimeError, match="batch_norm: expected a floating point input, got ember.int64"):
        F.batch_norm(ember.tensor([[1, 2], [3, 4]]), None, None, training=True)
    with pytest.raises(ValueError, match="Expected more than 1 spatial element when training"):
        F.instance_norm(ember.randn(4, 3, 1))
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[4\], expected input with shape \[\*, 4\], but "
                                           r"got input of size\[4, 3\]"):
        F.layer_norm(x, [4])
    with pytest.raises(RuntimeError, match=r"Expected weight to be of same shape as normalized_shape, but got weight "
                                           r"of shape \[2\] and normalized_shape = \[3\]"):
        F.layer_norm(x, [3], ember.ones(2))
    with pytest.raises(RuntimeError, match=r"rms_norm: Given normalized_shape=\[2, 3\], expected input with shape "
                                           r"\[\*, 2, 3\]"):
        F.rms_norm(ember.randn(3), (2, 3))
    with pytest.raises(RuntimeError, match=r"Expected number of channels in input to be divisible by num_groups, but "
                                           r"got input of shape \[2, 5, 3\] and num_groups=2"):
        F.group_norm(ember.randn(2, 5, 3), 2)
    with pytest.raises(RuntimeError, match=r"Expected weight to be a vector of size equal to the number of channels "
                                           r"in input, but got weight of shape \[3\] and input of shape \[2, 4, 3\]"):
        F.group_norm(ember.randn(2, 4, 3), 2, ember.ones(3))
    with pytest.raises(RuntimeError, match="Expected at least 2 dimensions for input tensor but received 1"):
        F.group_norm(ember.randn(4), 2)
    with pytest.raises(ValueError, match=r"Expected 3D or higher dimensionality input \(got 2 dimensions\)"):
        F.local_response_norm(x, 2)


# ---- modules -----------------------------------------------------------------------------------

def copy_state(ember_module, torch_module):
    """Give the ember module the torch module's parameters and buffers."""
    ember_module.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in torch_module.state_dict().items()})


def check_module_step(ember_module, torch_module, arrays, rng, tol, call=lambda module, *xs: module(*xs)):
    """Run both modules on the same inputs (float arrays become leaves that require grad), compare
    the outputs, backpropagate the same random cotangents and compare the gradients of the inputs and
    of every parameter; returns the ember outputs."""
    e_in = [ember.tensor(a, requires_grad=a.dtype.kind == "f") if isinstance(a, np.ndarray) else a for a in arrays]
    t_in = [torch.tensor(a, requires_grad=a.dtype.kind == "f") if isinstance(a, np.ndarray) else a for a in arrays]
    e_out, t_out = call(ember_module, *e_in), call(torch_module, *t_in)
    e_out, t_out = (e_out, t_out) if isinstance(t_out, tuple) else ((e_out,), (t_out,))
    assert len(e_out) == len(t_out)
    pairs = []
    for i, (e, t) in enumerate(zip(e_out, t_out)):
        if t is None:
            assert e is None, f"output {i}: ember gives a tensor, torch None"
            continue
        assert_close(e, t, what=f"output {i}", **tol)
        if t.requires_grad:
            pairs.append((e, t))
    if not pairs:
        return e_out
    seeds = [rng.standard_normal(tuple(t.shape)).astype(np.asarray(t.detach()).dtype) for _, t in pairs]
    ember.autograd.backward([e for e, _ in pairs], [ember.tensor(s) for s in seeds])
    torch.autograd.backward([t for _, t in pairs], [torch.tensor(s) for s in seeds])
    for i, (e, t) in enumerate(zip(e_in, t_in)):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            assert_close(e.grad, t.grad, what=f"grad of input {i}", **tol)
    e_params, t_params = dict(ember_module.named_parameters()), dict(torch_module.named_parameters())
    assert list(e_params) == list(t_params)
    for name, t in t_params.items():
        assert t.grad is not None and e_params[name].grad is not None, f"no gradient for {name}"
        assert_close(e_params[name].grad, t.grad, what=f"grad of {name}", **tol)
    ember_module.zero_grad()
    torch_module.zero_grad()
    return e_out


def assert_same_state(ember_module, torch_module, tol):
    e_state, t_state = ember_module.state_dict(), torch_module.state_dict()
    assert list(e_state) == list(t_state)
    for key, value in t_state.items():
        assert_close(e_state[key], value, what=key, **tol)


TOL64 = dict(rtol=1e-7, atol=1e-9)
TOL32 = dict(rtol=1e-4, atol=1e-5)


BATCH_NORMS = [("BatchNorm1d", (5, 3)), ("BatchNorm1d", (1, 3, 4)), ("BatchNorm2d", (2, 3, 3, 2)),
               ("BatchNorm3d", (2, 3, 2, 1, 3))]


@pytest.mark.parametrize("name,shape", BATCH_NORMS, ids=[f"{n}-{len(s)}d" for n, s in BATCH_NORMS])
@pytest.mark.parametrize("kwargs", [{}, {"momentum": None}, {"momentum": 0.5, "eps": 1e-3},
                                    {"affine": False}, {"bias": False}, {"track_running_stats": False}],
                         ids=["default", "cumulative", "momentum", "no-affine", "no-bias", "untracked"])
def test_batch_norm_modules_match_torch_over_steps(name, shape, kwargs):
    rng = np.random.default_rng(abs(hash((name, shape, str(kwargs)))) % 2 ** 32)
    e, t = getattr(nn, name)(3, **kwargs).double(), getattr(tnn, name)(3, **kwargs).double()
    if t.weight is not None:  # non-trivial affine parameters
        with torch.no_grad():
            t.weight.uniform_(0.5, 2.0)
            if t.bias is not None:
                t.bias.normal_()
    copy_state(e, t)
    for step in range(3):
        check_module_step(e, t, [rng.standard_normal(shape) * (step + 1) + step], rng, TOL64)
        assert_same_state(e, t, TOL64)
    e.eval(), t.eval()
    check_module_step(e, t, [rng.standard_normal(shape)], rng, TOL64)
    assert_same_state(e, t, TOL64)  # eval does not touch the running statistics


def test_batch_norm_float32_and_buffers():
    e, t = nn.BatchNorm2d(4), tnn.BatchNorm2d(4)
    rng = np.random.default_rng(0)
    for _ in range(2):
        check_module_step(e, t, [rng.standard_normal((3, 4, 5, 5)).astype(np.float32) * 3 + 1], rng, TOL32)
    assert_same_state(e, t, TOL32)
    assert e.running_mean.dtype == ember.float32 and e.num_batches_tracked.dtype == ember.int64
    assert e.num_batches_tracked.item() == 2
    assert [n for n, _ in e.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    e.reset_running_stats()
    assert e.num_batches_tracked.item() == 0 and (e.running_var.numpy() == 1).all()


INSTANCE_NORMS = [("InstanceNorm1d", (2, 3, 5)), ("InstanceNorm1d", (3, 4)), ("InstanceNorm2d", (2, 3, 3, 2)),
                  ("InstanceNorm2d", (3, 2, 4)), ("InstanceNorm3d", (1, 3, 2, 2, 3))]


@pytest.mark.parametrize("name,shape", INSTANCE_NORMS, ids=[f"{n}-{len(s)}d" for n, s in INSTANCE_NORMS])
@pytest.mark.parametrize("kwargs", [{}, {"affine": True}, {"affine": True, "track_running_stats": True}],
                         ids=["default", "affine", "tracked"])
def test_instance_norm_modules_match_torch(name, shape, kwargs):
    rng = np.random.default_rng(len(shape) + len(kwargs))
    num_features = shape[1] if len(shape) == getattr(tnn, name)(1)._get_no_batch_dim() + 1 else shape[0]
    e, t = getattr(nn, name)(num_features, **kwargs).double(), getattr(tnn, name)(num_features, **kwargs).double()
    copy_state(e, t)
    for _ in range(2):
        check_module_step(e, t, [rng.standard_normal(shape) * 2 + 1], rng, TOL64)
    e.eval(), t.eval()
    check_module_step(e, t, [rng.standard_normal(shape)], rng, TOL64)
    assert_same_state(e, t, TOL64)


@pytest.mark.parametrize("kwargs", [{}, {"elementwise_affine": False}, {"bias": False, "eps": 1e-3}])
@pytest.mark.parametrize("normalized_shape,shape", [(4, (2, 3, 4)), ((3, 4), (2, 3, 4)), ([5], (1, 5))])
def test_layer_norm_module(kwargs, normalized_shape, shape):
    rng = np.random.default_rng(len(shape))
    e, t = nn.LayerNorm(normalized_shape, **kwargs).double(), tnn.LayerNorm(normalized_shape, **kwargs).double()
    if t.weight is not None:
        with torch.no_grad():
            t.weight.normal_()
    copy_state(e, t)
    check_module_step(e, t, [rng.standard_normal(shape)], rng, TOL64)


@pytest.mark.parametrize("kwargs", [{}, {"affine": False}, {"bias": False, "eps": 0.1}])
@pytest.mark.parametrize("groups,channels,shape", [(2, 4, (3, 4, 5)), (1, 3, (2, 3)), (3, 3, (1, 3, 2, 2))])
def test_group_norm_module(kwargs, groups, channels, shape):
    rng = np.random.default_rng(channels)
    e, t = nn.GroupNorm(groups, channels, **kwargs).double(), tnn.GroupNorm(groups, channels, **kwargs).double()
    if t.weight is not None:
        with torch.no_grad():
            t.weight.normal_()
    copy_state(e, t)
    check_module_step(e, t, [rng.standard_normal(shape)], rng, TOL64)


@pytest.mark.parametrize("module", [lambda lib: lib.RMSNorm(4), lambda lib: lib.RMSNorm([3, 4], eps=1e-2),
                                    lambda lib: lib.RMSNorm(4, elementwise_affine=False),
                                    lambda lib: lib.LocalResponseNorm(3, alpha=0.1)],
                         ids=["rms", "rms-2d", "rms-no-affine", "local-response"])
def test_rms_and_local_response_norm_modules(module):
    rng = np.random.default_rng(1)
    e, t = module(nn).double(), module(tnn).double()
    copy_state(e, t)
    check_module_step(e, t, [rng.standard_normal((2, 3, 4))], rng, TOL64)


def test_init_state_dict_keys_and_repr():
    cases = [lambda lib: lib.BatchNorm1d(3), lambda lib: lib.BatchNorm2d(4, momentum=None, affine=False),
             lambda lib: lib.BatchNorm3d(2, track_running_stats=False, bias=False, eps=1e-3),
             lambda lib: lib.InstanceNorm1d(3),
             lambda lib: lib.InstanceNorm2d(3, affine=True, track_running_stats=True),
             lambda lib: lib.InstanceNorm3d(2, momentum=0.2),
             lambda lib: lib.LayerNorm(3), lambda lib: lib.LayerNorm([2, 3], elementwise_affine=False, bias=False),
             lambda lib: lib.LayerNorm((4,), bias=False), lambda lib: lib.GroupNorm(2, 4),
             lambda lib: lib.GroupNorm(1, 3, affine=False), lambda lib: lib.RMSNorm([2, 3], eps=1e-6),
             lambda lib: lib.LocalResponseNorm(2, k=2.0)]
    for make in cases:
        e, t = make(nn), make(tnn)
        assert repr(e) == repr(t)
        assert_same_state(e, t, dict(rtol=0, atol=0))  # weight 1, bias 0, running mean 0, var 1, count 0
        assert [n for n, _ in e.named_buffers()] == [n for n, _ in t.named_buffers()]
        for name, param in e.named_parameters():
            assert isinstance(param, nn.Parameter) and param.requires_grad, name
    assert nn.BatchNorm1d(3).running_mean is not None
    assert nn.BatchNorm1d(3, track_running_stats=False).running_var is None
    assert nn.LayerNorm(3, dtype=ember.float64).weight.dtype == ember.float64


def test_turning_tracking_off_after_construction_freezes_the_running_statistics():
    e, t = nn.BatchNorm1d(3).double(), tnn.BatchNorm1d(3).double()
    rng = np.random.default_rng(2)
    check_module_step(e, t, [rng.standard_normal((4, 3))], rng, TOL64)
    e.track_running_stats = t.track_running_stats = False
    check_module_step(e, t, [rng.standard_normal((4, 3)) + 5], rng, TOL64)  # batch statistics, no update
    assert_same_state(e, t, TOL64)
    assert e.num_batches_tracked.item() == 1
    e.eval(), t.eval()
    check_module_step(e, t, [rng.standard_normal((4, 3))], rng, TOL64)  # the running statistics


def test_eval_without_running_stats_uses_batch_statistics():
    x = ember.randn(6, 3) * 4 + 2
    module = nn.BatchNorm1d(3, track_running_stats=False, affine=False).eval()
    np.testing.assert_allclose(module(x).numpy().mean(0), 0, atol=1e-5)


def test_module_errors():
    for module, bad, message in [(nn.BatchNorm1d(3), (2, 3, 4, 4), r"expected 2D or 3D input \(got 4D input\)"),
                                 (nn.BatchNorm2d(3), (2, 3, 4), r"expected 4D input \(got 3D input\)"),
                                 (nn.BatchNorm3d(3), (2, 3), r"expected 5D input \(got 2D input\)"),
                                 (nn.InstanceNorm2d(3), (2, 3), r"expected 3D or 4D input \(got 2D input\)")]:
        with pytest.raises(ValueError, match=message):
            module(ember.randn(*bad))
    with pytest.raises(RuntimeError, match="running_mean should contain 5 elements not 3"):
        nn.BatchNorm1d(3)(ember.randn(4, 5))
    with pytest.raises(ValueError, match=r"expected input's size at dim=1 to match num_features \(3\), but got: 4"):
        nn.InstanceNorm1d(3, affine=True)(ember.randn(2, 4, 5))
    with pytest.warns(UserWarning, match="input's size at dim=0 does not match num_features"):
        nn.InstanceNorm1d(3)(ember.randn(4, 5))
    with pytest.raises(ValueError, match=r"num_channels \(5\) must be divisible by num_groups \(2\)"):
        nn.GroupNorm(2, 5)
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[3\], expected input with shape \[\*, 3\]"):
        nn.LayerNorm(3)(ember.randn(3, 4))


# ---- the fused layer_norm and training-mode batch_norm kernels ---------------------------------

FUSED_CASES = [
    ("layer_norm", (4, 5, 6), lambda x, w, b: F.layer_norm(x, (6,), w, b), (6,)),
    ("layer_norm-2d-shape", (3, 4, 5), lambda x, w, b: F.layer_norm(x, (4, 5), w, b), (4, 5)),
    ("layer_norm-one-row", (7,), lambda x, w, b: F.layer_norm(x, (7,), w, b), (7,)),
    ("batch_norm-2d", (6, 3), lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), (3,)),
    ("batch_norm-3d", (2, 3, 40), lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), (3,)),
    ("batch_norm-4d", (2, 3, 4, 5), lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), (3,)),
]


def _fused_inputs(shape, parameter_shape, dtype, affine):
    rng = np.random.default_rng(len(shape) + len(parameter_shape))
    x = ember.tensor((rng.standard_normal(shape) * 3 + 2).astype(dtype), requires_grad=True)
    w = ember.tensor(rng.standard_normal(parameter_shape).astype(dtype), requires_grad=True) if affine[0] else None
    b = ember.tensor(rng.standard_normal(parameter_shape).astype(dtype), requires_grad=True) if affine[1] else None
    return x, w, b


def _output_and_grads(op, x, w, b, seed):
    out = op(x, w, b)
    out.backward(ember.tensor(seed))
    leaves = [t for t in (x, w, b) if t is not None]
    results = [out.detach().numpy()] + [t.grad.numpy() for t in leaves]
    for t in leaves:
        t.grad = None
    return results


@pytest.mark.parametrize("name,shape,op,parameter_shape", FUSED_CASES, ids=[c[0] for c in FUSED_CASES])
@pytest.mark.parametrize("affine", [(True, True), (True, False), (False, True), (False, False)],
                         ids=["weight-bias", "weight", "bias", "plain"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_norms_are_the_same_with_every_kernel(name, shape, op, parameter_shape, affine, dtype):
    x, w, b = _fused_inputs(shape, parameter_shape, dtype, affine)
    seed = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    kernel = name.split("-")[0]
    results = {}
    for implementation in ember.kernels.names(f"{kernel}_forward", "cpu"):
        with ember.kernels.use(**{kernel: implementation}):
            results[implementation] = _output_and_grads(op, x, w, b, seed)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    for implementation, result in results.items():
        for got, expected in zip(result, results["numpy"]):
            assert got.dtype == dtype
            np.testing.assert_allclose(got, expected, err_msg=implementation, **tol)


@pytest.mark.parametrize("name,shape,op,parameter_shape", FUSED_CASES, ids=[c[0] for c in FUSED_CASES])
@pytest.mark.parametrize("affine", [(True, False), (False, True)], ids=["weight", "bias"])
def test_fused_norms_double_backward(name, shape, op, parameter_shape, affine):
    x, w, b = _fused_inputs(shape, parameter_shape, np.float64, affine)
    leaves = [t for t in (x, w, b) if t is not None]

    def call(*args):
        it = iter(args)
        return op(next(it), next(it) if w is not None else None, next(it) if b is not None else None).tanh()
    assert ember.autograd.gradgradcheck(call, leaves)


def test_fused_norms_running_statistics_match_the_op_by_op_path():
    """The fused batch_norm derives the unbiased variance from rstd; the running statistics match
    the numpy kernels' and PyTorch's."""
    x = np.random.default_rng(3).standard_normal((8, 3, 5)).astype(np.float32) * 4 + 7
    results = []
    for implementation in ember.kernels.names("batch_norm_forward", "cpu"):
        mean, var = ember.zeros(3), ember.ones(3)
        with ember.kernels.use(batch_norm=implementation):
            F.batch_norm(ember.tensor(x), mean, var, training=True, momentum=0.3)
        results.append((mean.numpy(), var.numpy()))
    t_mean, t_var = torch.zeros(3), torch.ones(3)
    TF.batch_norm(torch.tensor(x), t_mean, t_var, training=True, momentum=0.3)
    for mean, var in results:
        np.testing.assert_allclose(mean, t_mean.numpy(), rtol=1e-5)
        np.testing.assert_allclose(var, t_var.numpy(), rtol=1e-5)


def test_parameters_of_another_dtype_promote_as_before():
    """The fused kernels take parameters of the input's dtype; others take the op by op path, where
    float32 * float64 promotes to float64."""
    x = ember.randn(4, 3)
    w64, b64 = ember.ones(3, dtype=ember.float64) * 2, ember.zeros(3, dtype=ember.float64)
    for out in (F.layer_norm(x, (3,), w64, b64), F.batch_norm(x, None, None, w64, b64, training=True)):
        assert out.dtype == ember.float64
    fused = F.layer_norm(x, (3,), w64.float(), b64.float())
    np.testing.assert_allclose(F.layer_norm(x, (3,), w64, b64).numpy(), fused.numpy(), rtol=1e-5, atol=1e-6)

