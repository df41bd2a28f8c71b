"""ember.optim's optimizers against torch.optim: the same parameters and the same gradient sequence
give the same parameters and state after 20 steps, for every optimizer and option (two groups with
different options, several shapes, a parameter that sometimes has no gradient); state dicts,
checkpoints, errors, hooks and zero_grad behave as PyTorch's."""
import copy

import numpy as np
import pytest
import torch

import ember
from ember import optim
from ember.optim.optimizer import required

SHAPES = [(3, 4), (5,), (), (2, 3, 2)]
STEPS = 20
TOLERANCES = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-13)}

# (name, constructor options, options of the second group)
CONFIGS = [
    ("SGD", {}, {"lr": 0.05}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}, {"momentum": 0.5}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3}, {"lr": 0.02, "weight_decay": 0.05}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, {"weight_decay": 0.1}),
    ("SGD", {"lr": 0.1, "weight_decay": 0.1}, {"maximize": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1, "maximize": True}, {"lr": 0.01}),
    ("Adam", {}, {"lr": 0.02}),
    ("Adam", {"lr": 0.01, "amsgrad": True}, {"betas": (0.8, 0.99)}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}, {"amsgrad": True}),
    ("Adam", {"lr": 0.01, "maximize": True}, {"eps": 1e-3}),
    # a beta1 below 0.5: the moving average's update weight is at least a half (lerp's other form)
    ("Adam", {"lr": 0.01, "betas": (0.3, 0.5)}, {"weight_decay": 0.2}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}, {"lr": 0.05}),
    ("Adam", {"lr": 0.03, "eps": 1e-3, "amsgrad": True, "maximize": True, "weight_decay": 0.05}, {}),
    ("AdamW", {}, {"lr": 0.02}),
    ("AdamW", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.3}, {"weight_decay": 0.0}),
    ("AdamW", {"lr": 0.01, "maximize": True, "betas": (0.5, 0.9)}, {"amsgrad": True}),
    ("RMSprop", {}, {"lr": 0.005}),
    ("RMSprop", {"centered": True}, {"alpha": 0.9}),
    ("RMSprop", {"momentum": 0.9}, {"lr": 0.001, "weight_decay": 0.1}),
    ("RMSprop", {"centered": True, "momentum": 0.5, "weight_decay": 0.1, "maximize": True}, {"eps": 1e-4}),
    ("RMSprop", {"alpha": 0.3, "centered": True}, {"alpha": 0.8}),
    ("Adagrad", {}, {"lr": 0.05}),
    ("Adagrad", {"lr_decay": 0.1}, {"lr_decay": 0.01}),
    ("Adagrad", {"weight_decay": 0.1, "initial_accumulator_value": 0.5}, {"lr": 0.1}),
    # a group's own initial_accumulator_value is ignored, in both libraries
    ("Adagrad", {"eps": 1e-3, "maximize": True}, {"initial_accumulator_value": 2.0}),
]


def config_id(config):
    name, options, group = config
    return name + "-" + "-".join(f"{k}={v}" for k, v in {**options, **{"g1." + k: v for k, v in group.items()}}.items())


def initial_arrays(rng, dtype):
    return [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]


def gradient_sequence(rng, dtype, steps=STEPS):
    """Per step, one gradient per parameter; the third parameter has none every fourth step."""
    return [[None if (i == 2 and t % 4 == 3) else rng.standard_normal(shape).astype(dtype)
             for i, shape in enumerate(SHAPES)] for t in range(steps)]


def make(lib, name, options, group_options, arrays):
    """Parameters in two groups (first two, then the rest) and ``lib.optim.<name>`` over them."""
    if lib is ember:
        params = [ember.nn.Parameter(ember.tensor(a.copy())) for a in arrays]
    else:
        params = [torch.nn.Parameter(torch.tensor(a.copy())) for a in arrays]
    groups = [{"params": params[:2]}, {"params": params[2:], **group_options}]
    return params, getattr(lib.optim, name)(groups, **options)


def run(lib, optimizer, params, grads):
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else lib.tensor(g.copy())
        optimizer.step()


def to_numpy(value):
    if isinstance(value, (torch.Tensor, ember.Tensor)):
        return np.asarray(value.detach().numpy())
    return value


def assert_state_dicts_match(ember_state, torch_state, tolerance):
    """Same groups (options and parameter indices) and, per parameter, the same buffers."""
    assert ember_state["param_groups"] == torch_state["param_groups"]
    assert ember_state["state"].keys() == torch_state["state"].keys()
    for index, buffers in torch_state["state"].items():
        mine = ember_state["state"][index]
        assert list(mine) == list(buffers)
        for key, value in buffers.items():
            assert isinstance(mine[key], ember.Tensor) and mine[key].dtype.name == str(value.dtype)[6:]
            np.testing.assert_allclose(to_numpy(mine[key]), to_numpy(value), **tolerance, err_msg=f"{index}.{key}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_matches_torch(config, dtype):
    name, options, group_options = config
    rng = np.random.default_rng(0)
    arrays, grads = initial_arrays(rng, dtype), gradient_sequence(rng, dtype)
    ember_params, ember_opt = make(ember, name, options, group_options, arrays)
    torch_params, torch_opt = make(torch, name, options, group_options, arrays)
    run(ember, ember_opt, ember_params, grads)
    run(torch, torch_opt, torch_params, grads)
    for mine, theirs in zip(ember_params, torch_params):
        assert mine.dtype.name == str(theirs.dtype)[6:]
        np.testing.assert_allclose(mine.detach().numpy(), theirs.detach().numpy(), **TOLERANCES[dtype])
    assert_state_dicts_match(ember_opt.state_dict(), torch_opt.state_dict(), TOLERANCES[dtype])
    assert repr(ember_opt) == repr(torch_opt)


@pytest.mark.parametrize("config", [CONFIGS[i] for i in (3, 12, 19, 23)], ids=config_id)
def test_state_dict_round_trip_continues_identically(config):
    """Save mid-training, load into a fresh optimizer over copies of the parameters: the next steps
    are bit-identical to those of the optimizer that kept going."""
    name, options, group_options = config
    rng = np.random.default_rng(1)
    arrays, grads = initial_arrays(rng, np.float32), gradient_sequence(rng, np.float32)
    params, opt = make(ember, name, options, group_options, arrays)
    run(ember, opt, params, grads[:10])
    saved = copy.deepcopy(opt.state_dict())
    resumed_params, resumed = make(ember, name, {}, {}, [p.detach().numpy() for p in params])
    resumed.load_state_dict(saved)
    assert resumed.param_groups[1]["params"][0] is resumed_params[2]
    run(ember, opt, params, grads[10:])
    run(ember, resumed, resumed_params, grads[10:])
    for a, b in zip(params, resumed_params):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    assert [{k: v for k, v in g.items() if k != "params"} for g in resumed.param_groups] == \
        [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]


@pytest.mark.parametrize("name, options", [("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"amsgrad": True}),
                                           ("RMSprop", {"centered": True, "momentum": 0.3}), ("Adagrad", {})])
def test_loads_a_torch_state_dict(name, options):
    """A torch optimizer's state dict, its tensors converted, continues in ember as in torch."""
    rng = np.random.default_rng(2)
    arrays, grads = initial_arrays(rng, np.float64), gradient_sequence(rng, np.float64)
    torch_params, torch_opt = make(torch, name, options, {"lr": 0.003}, arrays)
    run(torch, torch_opt, torch_params, grads[:7])
    converted = copy.deepcopy(torch_opt.state_dict())
    for buffers in converted["state"].values():
        buffers.update({k: ember.tensor(v.numpy()) for k, v in buffers.items()})
    ember_params, ember_opt = make(ember, name, options, {}, [p.detach().numpy() for p in torch_params])
    ember_opt.load_state_dict(converted)
    run(torch, torch_opt, torch_params, grads[7:])
    run(ember, ember_opt, ember_params, grads[7:])
    for mine, theirs in zip(ember_params, torch_params):
        np.testing.assert_allclose(mine.detach().numpy(), theirs.detach().numpy(), **TOLERANCES[np.float64])


def test_load_state_dict_casts_buffers_to_the_parameters_dtype():
    p32 = ember.nn.Parameter(ember.zeros(3))
    p64 = ember.nn.Parameter(ember.zeros(3, dtype=ember.float64))
    source = optim.Adam([p64])
    p64.grad = ember.ones(3, dtype=ember.float64)
    source.step()
    target = optim.Adam([p32])
    target.load_state_dict(source.state_dict())
    state = target.state[p32]
    assert state["exp_avg"].dtype == ember.float32 and state["step"].dtype == ember.float32
    assert float(state["step"]) == 1.0


def test_load_state_dict_turns_numeric_steps_into_tensors():
    p = ember.nn.Parameter(ember.zeros(2))
    opt = optim.RMSprop([p], lr=0.1)
    opt.load_state_dict({"state": {0: {"step": 4, "square_avg": ember.ones(2)}},
                         "param_groups": [{**opt.state_dict()["param_groups"][0]}]})
    p.grad = ember.ones(2)
    opt.step()
    assert isinstance(opt.state[p]["step"], ember.Tensor) and float(opt.state[p]["step"]) == 5.0


def test_state_dict_shares_the_live_buffers_and_names_parameters():
    """As torch: the state dict holds the optimizer's own buffers; named parameters are recorded."""
    rng = np.random.default_rng(3)
    arrays = initial_arrays(rng, np.float32)
    named = {f"w{i}": ember.nn.Parameter(ember.tensor(a)) for i, a in enumerate(arrays)}
    torch_named = {f"w{i}": torch.nn.Parameter(torch.tensor(a)) for i, a in enumerate(arrays)}
    opt = optim.SGD(named.items(), lr=0.1, momentum=0.9)
    torch_opt = torch.optim.SGD(torch_named.items(), lr=0.1, momentum=0.9)
    for p in named.values():
        p.grad = ember.ones(*p.shape)
    opt.step()
    state = opt.state_dict()
    assert state["param_groups"] == torch_opt.state_dict()["param_groups"]
    assert state["param_groups"][0]["param_names"] == list(named)
    assert state["state"][1]["momentum_buffer"] is opt.state[named["w1"]]["momentum_buffer"]


def test_sgd_without_momentum_keeps_no_state():
    p = ember.nn.Parameter(ember.ones(2))
    opt = optim.SGD([p], lr=0.5)
    p.grad = ember.ones(2)
    opt.step()
    assert opt.state_dict()["state"] == {}
    np.testing.assert_array_equal(p.detach().numpy(), [0.5, 0.5])


def test_adagrad_creates_state_up_front_and_for_added_groups():
    a, b = ember.nn.Parameter(ember.zeros(2)), ember.nn.Parameter(ember.zeros(3))
    opt = optim.Adagrad([a], initial_accumulator_value=0.25)
    assert float(opt.state[a]["step"]) == 0 and opt.state[a]["sum"].tolist() == [0.25, 0.25]
    opt.add_param_group({"params": [b], "lr": 1.0})
    b.grad = ember.ones(3)
    opt.step()
    assert opt.state[b]["sum"].tolist() == [1.25] * 3 and float(opt.state[b]["step"]) == 1
    np.testing.assert_allclose(b.detach().numpy(), -1 / (np.sqrt(1.25) + 1e-10))


def test_step_updates_in_place_and_bumps_the_version():
    """The parameter keeps its memory (views see the update); a graph that saved the old value
    refuses to run backward, as after any in-place op."""
    p = ember.nn.Parameter(ember.ones(3))
    view = p.detach()
    loss = (p * p).sum()
    p.grad = ember.ones(3)
    optim.SGD([p], lr=0.5).step()
    np.testing.assert_array_equal(view.numpy(), [0.5, 0.5, 0.5])
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_step_records_no_graph_and_returns_the_closures_loss():
    p = ember.nn.Parameter(ember.tensor([1.0, -2.0]))
    opt = optim.Adam([p], lr=0.1)
    calls = []

    def closure():
        opt.zero_grad()
        loss = (p ** 2).sum()
        calls.append(ember.is_grad_enabled())
        loss.backward()
        return loss

    with ember.no_grad():
        loss = opt.step(closure)
    assert calls == [True] and float(loss) == 5.0
    assert p.grad_fn is None and p.requires_grad and p.is_leaf
    assert opt.state[p]["exp_avg"].requires_grad is False


def test_zero_grad():
    p = ember.nn.Parameter(ember.ones(2))
    (p * 3).sum().backward()
    grad = p.grad
    optim.SGD([p]).zero_grad(set_to_none=False)
    assert p.grad is grad and p.grad.tolist() == [0.0, 0.0]
    optim.SGD([p]).zero_grad()
    assert p.grad is None


def test_zero_grad_detaches_a_gradient_with_history():
    p = ember.nn.Parameter(ember.ones(2))
    (p * p).sum().backward(create_graph=True)
    assert p.grad.requires_grad
    optim.SGD([p]).zero_grad(set_to_none=False)
    assert not p.grad.requires_grad and p.grad.grad_fn is None and p.grad.tolist() == [0.0, 0.0]


def test_trains_a_model():
    ember.manual_seed(0)
    model = ember.nn.Sequential(ember.nn.Linear(3, 16), ember.nn.Tanh(), ember.nn.Linear(16, 1))
    x = ember.randn(64, 3)
    y = (x ** 2).sum(1, keepdim=True)
    opt = optim.AdamW(model.parameters(), lr=0.02)
    losses = []
    for _ in range(150):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.1 * losses[0]


# ---- hooks -----------------------------------------------------------------------------------------

def test_step_hooks():
    p = ember.nn.Parameter(ember.ones(2))
    opt = optim.SGD([p], lr=1.0)
    events = []
    pre = opt.register_step_pre_hook(lambda o, args, kwargs: events.append(("pre", o is opt, args, kwargs)))
    opt.register_step_post_hook(lambda o, args, kwargs: events.append(("post", float(p[0]))))
    global_handle = optim.register_optimizer_step_pre_hook(lambda o, args, kwargs: events.append("global"))
    try:
        p.grad = ember.ones(2)
        opt.step()
    finally:
        global_handle.remove()
    assert events == ["global", ("pre", True, (), {}), ("post", 0.0)]
    pre.remove()
    opt.step()
    assert events[-1] == ("post", -1.0) and len(events) == 4


def test_pre_hook_can_replace_the_arguments():
    p = ember.nn.Parameter(ember.ones(1))
    opt = optim.SGD([p])
    opt.register_step_pre_hook(lambda o, args, kwargs: ((), {"closure": lambda: 7.0}))
    assert opt.step() == 7.0
    opt.register_step_pre_hook(lambda o, args, kwargs: 3)
    with pytest.raises(RuntimeError, match="must return None or a tuple of"):
        opt.step()


def test_a_subclass_step_calling_super_runs_the_hooks_once():
    class Clipped(optim.SGD):
        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    p.grad = p.grad.clamp(-1, 1)
            return super().step(closure)

    p = ember.nn.Parameter(ember.zeros(2))
    opt = Clipped([p], lr=1.0)
    events = []
    opt.register_step_post_hook(lambda *args: events.append(1))
    p.grad = ember.tensor([5.0, -0.5])
    opt.step()
    assert events == [1] and p.tolist() == [-1.0, 0.5]


def test_state_dict_hooks():
    p = ember.nn.Parameter(ember.ones(2))
    opt = optim.SGD([p], lr=0.1)
    seen = []
    opt.register_state_dict_pre_hook(lambda o: seen.append("pre"))
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "extra": 1})
    opt.register_state_dict_post_hook(lambda o, sd: seen.append("first"), prepend=True)
    state = opt.state_dict()
    assert state["extra"] == 1 and seen == ["pre", "first"]

    def halve_lr(o, sd):
        sd["param_groups"] = [{**g, "lr": g["lr"] / 2} for g in sd["param_groups"]]
        return sd

    opt.register_load_state_dict_pre_hook(halve_lr)
    opt.register_load_state_dict_post_hook(lambda o: seen.append("loaded"))
    opt.load_state_dict(state)
    assert opt.param_groups[0]["lr"] == 0.05 and seen[-1] == "loaded"


# ---- parameter groups and errors ------------------------------------------------------------------

def test_groups_take_defaults_and_add_param_group():
    a, b = ember.nn.Parameter(ember.ones(2)), ember.nn.Parameter(ember.ones(2))
    opt = optim.SGD([{"params": a}, {"params": (b,), "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert opt.param_groups[0]["params"] == [a] and opt.param_groups[0]["lr"] == 0.1
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["dampening"] == 0
    c = ember.nn.Parameter(ember.ones(2))
    opt.add_param_group({"params": [c]})
    assert len(opt.param_groups) == 3 and opt.param_groups[2]["momentum"] == 0


class Plain(optim.Optimizer):
    def __init__(self, params):
        super().__init__(params, {"lr": required, "beta": 0.5})

    def step(self, closure=None):
        return self._evaluate(closure)


def same_error(ember_call, torch_call, exception):
    """Both calls raise ``exception`` with the same message."""
    with pytest.raises(exception) as theirs:
        torch_call()
    with pytest.raises(exception) as mine:
        ember_call()
    assert str(mine.value) == str(theirs.value)


CONSTRUCTOR_ERRORS = [
    ("SGD", {"lr": -0.1}), ("SGD", {"momentum": -0.5}), ("SGD", {"weight_decay": -1e-4}),
    ("SGD", {"nesterov": True}), ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}),
    ("Adam", {"lr": -1.0}), ("Adam", {"eps": -1e-8}), ("Adam", {"betas": (1.0, 0.999)}),
    ("Adam", {"betas": (0.9, -0.1)}), ("Adam", {"weight_decay": -0.1}), ("Adam", {"betas": (0.9, 1)}),
    ("AdamW", {"betas": (0.9, 1.5)}), ("AdamW", {"lr": -1e-3}),
    ("RMSprop", {"alpha": -0.1}), ("RMSprop", {"momentum": -0.1}), ("RMSprop", {"eps": -1.0}),
    ("RMSprop", {"weight_decay": -1.0}),
    ("Adagrad", {"lr_decay": -0.1}), ("Adagrad", {"initial_accumulator_value": -1.0}), ("Adagrad", {"eps": -1.0}),
    ("Adam", {"fused": True, "foreach": True}),
]


@pytest.mark.parametrize("name, options", CONSTRUCTOR_ERRORS, ids=lambda v: str(v))
def test_invalid_options_raise_like_torch(name, options):
    exception = RuntimeError if "fused" in options else ValueError
    same_error(lambda: getattr(optim, name)([ember.nn.Parameter(ember.ones(1))], **options),
               lambda: getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(1))], **options), exception)


def test_parameter_errors_raise_like_torch():
    e1, e2 = ember.nn.Parameter(ember.ones(1)), ember.nn.Parameter(ember.ones(1))
    t1, t2 = torch.nn.Parameter(torch.ones(1)), torch.nn.Parameter(torch.ones(1))
    same_error(lambda: optim.SGD([]), lambda: torch.optim.SGD([]), ValueError)
    same_error(lambda: optim.SGD([{"params": [e1]}, {"params": [e2, e1]}]),
               lambda: torch.optim.SGD([{"params": [t1]}, {"params": [t2, t1]}]), ValueError)
    same_error(lambda: optim.SGD([e1 * 2]), lambda: torch.optim.SGD([t1 * 2]), ValueError)
    same_error(lambda: optim.SGD([{"params": {e1}}]), lambda: torch.optim.SGD([{"params": {t1}}]), TypeError)
    same_error(lambda: optim.SGD([e1, 3]), lambda: torch.optim.SGD([t1, 3]), TypeError)
    same_error(lambda: optim.SGD([("a", e1), e2]), lambda: torch.optim.SGD([("a", t1), t2]), ValueError)
    same_error(lambda: optim.SGD([{"params": [("a", e1)]}, {"params": [e2]}]),
               lambda: torch.optim.SGD([{"params": [("a", t1)]}, {"params": [t2]}]), ValueError)
    same_error(lambda: optim.SGD([e1]).add_param_group([e2]),
               lambda: torch.optim.SGD([t1]).add_param_group([t2]), TypeError)
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts, but got ember.Tensor"):
        optim.SGD(e1)
    with pytest.raises(ValueError, match="didn't specify a value of required optimization parameter lr"):
        Plain([e1])
    assert Plain([{"params": [e1], "lr": 0.1}]).param_groups[0]["beta"] == 0.5
    with pytest.warns(UserWarning, match="duplicate parameters"):
        optim.SGD([e1, e1])
    with pytest.raises(NotImplementedError, match="differentiable=True is not supported"):
        optim.Adam([e1], differentiable=True)
    retained = e1 * 2
    retained.retain_grad()
    optim.SGD([retained])  # a non-leaf that retains its gradient may be optimized


def test_load_state_dict_errors_like_torch():
    def pair(lib, groups):
        params = [lib.nn.Parameter(lib.ones(1)) for _ in range(3)]
        return lib.optim.SGD([{"params": params[:g]} for g in groups] if len(groups) > 1 else params[:groups[0]])

    for saved, target in [((1, 2), (3,)), ((3,), (2,))]:
        same_error(lambda: pair(ember, target).load_state_dict(pair(ember, saved).state_dict()),
                   lambda: pair(torch, target).load_state_dict(pair(torch, saved).state_dict()), ValueError)
