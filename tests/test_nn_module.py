"""The Module API (nn/module.py, nn/containers.py, nn/summary.py) against PyTorch's: registration,
parameters and buffers, walking the tree, state_dict round trips and error messages, modes, dtype
moves, hooks (backward hooks compared with torch's full backward hooks), repr, the containers and
summary."""
import copy
import warnings
from collections import OrderedDict

import numpy as np
import pytest
import torch

import ember
import ember.nn as enn
from op_check import assert_close


def two_layer(nn):
    return nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))


def make_composite(nn):
    """A model using every container, a buffer, a non-persistent buffer and a shared submodule."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = two_layer(nn)
            self.heads = nn.ModuleDict({"a": nn.Linear(2, 2), "b": nn.Linear(2, 1, bias=False)})
            self.blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)] + [nn.Tanh()])
            self.scales = nn.ParameterList([nn.Parameter(torch.ones(2) if nn is torch.nn else ember.ones(2))])
            self.shared = self.heads["a"]
            self.register_buffer("steps", (torch if nn is torch.nn else ember).zeros(3))
            self.register_buffer("cache", (torch if nn is torch.nn else ember).zeros(2), persistent=False)

        def forward(self, x):
            x = self.features(x) * self.scales[0]
            for block in self.blocks:
                x = block(x)
            return self.heads["a"](x) + self.heads["b"](x) + self.shared(x)

    return Net()


def copy_from_torch(ember_module, torch_module, **kwargs):
    return ember_module.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in
                                         torch_module.state_dict().items()}, **kwargs)


# ---- registration ------------------------------------------------------------------------------------

def test_attribute_assignment_registers():
    m = enn.Module()
    m.weight = enn.Parameter(ember.randn(2, 3))
    m.child = enn.Linear(2, 2)
    m.plain = ember.zeros(2)  # a plain Tensor is just an attribute
    m.number = 3
    assert list(m._parameters) == ["weight"] and list(m._modules) == ["child"]
    assert [n for n, _ in m.named_parameters()] == ["weight", "child.weight", "child.bias"]
    assert "plain" not in m.state_dict() and m.number == 3
    m.weight = None  # a declared-but-absent parameter
    assert m.weight is None and [n for n, _ in m.named_parameters()] == ["child.weight", "child.bias"]
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'weight'"):
        m.weight = ember.zeros(2)
    with pytest.raises(TypeError, match="cannot assign 'int' as child module 'child'"):
        m.child = 3
    m.child = enn.Parameter(ember.zeros(1))  # re-registered as a parameter, no longer a module
    assert "child" not in m._modules and m._parameters["child"] is m.child
    del m.child
    assert not hasattr(m, "child")
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'missing'"):
        m.missing


def test_register_methods_and_their_errors():
    m = enn.Module()
    m.register_parameter("p", enn.Parameter(ember.ones(1)))
    m.register_buffer("b", ember.ones(1))
    m.add_module("c", enn.ReLU())
    m.register_module("d", None)
    assert m.p is m._parameters["p"] and m.b is m._buffers["b"] and m.c is m._modules["c"] and m.d is None
    m.b = ember.zeros(2)  # a buffer takes a new tensor by assignment
    assert m._buffers["b"].shape == (2,)
    with pytest.raises(TypeError, match="cannot assign 'list' as buffer 'b'"):
        m.b = [1]
    with pytest.raises(KeyError, match="contain"):
        m.register_buffer("a.b", ember.ones(1))
    with pytest.raises(KeyError, match="attribute 'training' already exists"):
        m.register_buffer("training", ember.ones(1))
    with pytest.raises(TypeError, match="cannot assign 'Tensor' object to parameter 'q'"):
        m.register_parameter("q", ember.ones(1))
    with pytest.raises(TypeError, match="int is not a Module subclass"):
        m.add_module("e", 3)
    assert m.get_submodule("c") is m.c
    with pytest.raises(AttributeError, match="has no attribute `x`"):
        m.get_submodule("c.x")


def test_assignment_before_init():
    class Early(enn.Module):
        def __init__(self, parameter):
            self.size = 3  # plain attributes before super().__init__() are fine, as in torch
            if parameter:
                self.weight = enn.Parameter(ember.ones(1))
            super().__init__()

    assert Early(False).size == 3
    with pytest.raises(AttributeError, match="cannot assign parameters before Module.__init__"):
        Early(True)


def test_forward_is_required():
    for nn, x in ((enn, ember.zeros(1)), (torch.nn, torch.zeros(1))):
        with pytest.raises(NotImplementedError, match='Module \\[Module\\] is missing the required "forward"'):
            nn.Module()(x)


def test_shared_parameters_and_modules_appear_once():
    for nn in (enn, torch.nn):
        layer = nn.Linear(2, 2)
        model = nn.Sequential(layer, nn.ReLU(), layer)
        other = nn.Linear(2, 2)
        other.weight = layer.weight
        model.append(other)
        ours = [name for name, _ in model.named_parameters()]
        assert ours == ["0.weight", "0.bias", "3.bias"]
        assert len(list(model.named_parameters(remove_duplicate=False))) == 6
        assert [n for n, _ in model.named_modules()] == ["", "0", "1", "3"]
        assert [n for n, _ in model.named_children()] == ["0", "1", "3"]
        assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias", "3.weight", "3.bias"]


def test_tree_walks_match_torch():
    ours, theirs = make_composite(enn), make_composite(torch.nn)
    for walk in ("named_parameters", "named_buffers", "named_modules", "named_children"):
        assert [n for n, _ in getattr(ours, walk)()] == [n for n, _ in getattr(theirs, walk)()], walk
    assert [n for n, _ in ours.named_parameters(recurse=False)] == []
    assert [n for n, _ in ours.named_buffers(prefix="net")] == ["net.steps", "net.cache"]
    assert [type(m).__name__ for m in ours.modules()] == [type(m).__name__ for m in theirs.modules()]
    assert [type(m).__name__ for m in ours.children()] == [type(m).__name__ for m in theirs.children()]
    assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()]


# ---- state_dict --------------------------------------------------------------------------------------

def test_state_dict_matches_torch_and_round_trips():
    ours, theirs = make_composite(enn), make_composite(torch.nn)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert "cache" not in ours.state_dict()  # non-persistent
    params_before = list(ours.parameters())
    result = copy_from_torch(ours, theirs)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == repr(theirs.load_state_dict(theirs.state_dict())) == "<All keys matched successfully>"
    assert [id(p) for p in ours.parameters()] == [id(p) for p in params_before]
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    assert_close(ours(ember.tensor(x)), theirs(torch.tensor(x)), rtol=1e-5, atol=1e-6, what="output")
    state = ours.state_dict()
    assert not any(v.requires_grad for v in state.values())
    assert all(v.requires_grad for k, v in ours.state_dict(keep_vars=True).items() if k != "steps")
    # the state is a view: loading copies values, parameters stay the same objects
    fresh = make_composite(enn)
    weight = fresh.features[0].weight
    fresh.load_state_dict(state)
    assert fresh.features[0].weight is weight
    np.testing.assert_array_equal(weight.detach().numpy(), ours.features[0].weight.detach().numpy())


def test_load_state_dict_errors_match_torch():
    ours, theirs = two_layer(enn), two_layer(torch.nn)
    bad = OrderedDict([("0.weight", np.zeros((4, 3), np.float32)), ("0.bias", np.zeros(5, np.float32)),
                       ("2.weight", np.zeros((2, 5), np.float32)), ("extra", np.zeros(1, np.float32))])
    messages = []
    for module, convert in ((ours, ember.tensor), (theirs, torch.tensor)):
        with pytest.raises(RuntimeError) as error:
            module.load_state_dict({k: convert(v) for k, v in bad.items()})
        messages.append(str(error.value))
    assert messages[0] == messages[1].replace("torch.", "ember.")
    assert 'Missing key(s) in state_dict: "2.bias"' in messages[0]
    # not strict: missing and unexpected keys are reported, a wrong shape still raises
    good = {k: v for k, v in bad.items() if k != "0.weight"}
    result = ours.load_state_dict({k: ember.tensor(v) for k, v in good.items()}, strict=False)
    expected = theirs.load_state_dict({k: torch.tensor(v) for k, v in good.items()}, strict=False)
    assert result.missing_keys == expected.missing_keys == ["0.weight", "2.bias"]
    assert result.unexpected_keys == expected.unexpected_keys == ["extra"]
    assert (ours[0].bias.detach().numpy() == 0).all()  # what matched was loaded
    with pytest.raises(RuntimeError, match="size mismatch for 0.weight"):
        ours.load_state_dict({"0.weight": ember.zeros(3, 3)}, strict=False)
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        ours.load_state_dict([1, 2])


# ---- modes, dtypes, gradients ------------------------------------------------------------------------

def test_train_eval_propagate():
    model = make_composite(enn)
    assert all(m.training for m in model.modules())
    assert model.eval() is model and not any(m.training for m in model.modules())
    model.blocks.train()
    assert model.blocks[0].training and not model.features.training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        model.train("yes")


def test_to_dtype_keeps_parameter_identity():
    model = make_composite(enn)
    model.register_buffer("count", ember.tensor(3))
    params = list(model.parameters())
    model(ember.randn(2, 3)).sum().backward()
    assert model.to(ember.float64) is model
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]
    assert all(p.dtype == ember.float64 and p.grad.dtype == ember.float64 for p in model.parameters())
    assert model.steps.dtype == ember.float64 and model.count.dtype == ember.int64  # ints stay
    assert all(isinstance(p, enn.Parameter) and p.requires_grad and p.is_leaf for p in model.parameters())
    assert model(ember.randn(2, 3, dtype=ember.float64)).dtype == ember.float64
    model.float()
    assert model.features[0].weight.dtype == ember.float32
    model.to("cpu", ember.float64)
    assert model.features[0].weight.dtype == ember.float64
    with pytest.raises(TypeError, match="only accepts floating point dtypes"):
        model.to(ember.int64)


def test_zero_grad_requires_grad_and_apply():
    model = two_layer(enn)
    model(ember.randn(4, 3)).sum().backward()
    grad = model[0].weight.grad
    model.zero_grad(set_to_none=False)
    assert model[0].weight.grad is grad and (grad.numpy() == 0).all()
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    assert model.requires_grad_(False) is model and not any(p.requires_grad for p in model.parameters())
    model.requires_grad_()
    visited = {nn: [] for nn in (enn, torch.nn)}
    for nn in visited:
        returned = make_composite(nn).apply(lambda m: visited[nn].append(type(m).__name__))
        assert isinstance(returned, nn.Module)
    assert visited[enn] == visited[torch.nn]  # children first, then the module itself
    model.apply(lambda m: enn.init.zeros_(m.weight) if isinstance(m, enn.Linear) else None)
    assert (model[2].weight.detach().numpy() == 0).all()


def test_deepcopy_is_independent():
    model = make_composite(enn)
    clone = copy.deepcopy(model)
    assert clone.shared is clone.heads["a"]  # sharing survives the copy
    with ember.no_grad():
        clone.features[0].weight.fill_(1.0)
    assert not (model.features[0].weight.detach().numpy() == 1.0).all()
    assert list(clone.state_dict()) == list(model.state_dict())


# ---- hooks ---------------------------------------------------------------------------------------------

def test_forward_hooks():
    layer = enn.Linear(3, 2)
    calls = []
    pre = layer.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    post = layer.register_forward_hook(lambda m, args, out: calls.append((m, args[0], out)) or out + 1)
    x = ember.randn(4, 3)
    out = layer(x)
    assert calls[0][0] is layer and (calls[0][1].numpy() == 0).all()  # the hook saw the replaced input
    np.testing.assert_allclose(out.detach().numpy(), layer.bias.detach().numpy() + 1 + np.zeros((4, 2)), rtol=1e-6)
    pre.remove()
    post.remove()
    np.testing.assert_allclose(layer(x).detach().numpy(),
                               x.numpy() @ layer.weight.detach().numpy().T + layer.bias.detach().numpy(), rtol=1e-5)
    assert len(calls) == 1
    doubled = layer(x * 2).detach().numpy()
    with layer.register_forward_pre_hook(lambda m, args: args[0] * 2):  # a single value is wrapped
        np.testing.assert_allclose(layer(x).detach().numpy(), doubled, rtol=1e-6)


def _backward_hook_run(nn, lib, state, x, seed_grad, input_requires_grad, replace):
    layer = nn.Linear(3, 2)
    layer.load_state_dict(state)
    seen = []

    def hook(module, grad_input, grad_output):
        seen.append((grad_input, grad_output))
        if replace:
            return tuple(None if g is None else g * 3 for g in grad_input)

    layer.register_full_backward_hook(hook)
    x = lib.tensor(x, requires_grad=input_requires_grad)
    (layer(x) * lib.tensor(seed_grad)).sum().backward()
    return seen, x.grad, layer.weight.grad


@pytest.mark.parametrize("input_requires_grad, replace", [(True, False), (True, True), (False, False)])
def test_full_backward_hook_matches_torch(input_requires_grad, replace):
    reference = torch.nn.Linear(3, 2)
    rng = np.random.default_rng(0)
    x, seed_grad = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((4, 2)).astype(np.float32)
    ours = _backward_hook_run(enn, ember, {k: ember.tensor(v.detach().numpy()) for k, v in
                                           reference.state_dict().items()}, x, seed_grad, input_requires_grad, replace)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch notes that its hook fires with no input gradient
        theirs = _backward_hook_run(torch.nn, torch, reference.state_dict(), x, seed_grad, input_requires_grad,
                                    replace)
    assert len(ours[0]) == len(theirs[0]) == 1
    (e_in, e_out), (t_in, t_out) = ours[0][0], theirs[0][0]
    assert len(e_in) == len(t_in) and len(e_out) == len(t_out) == 1
    for e, t in zip(e_in + e_out, t_in + t_out):
        assert (e is None) == (t is None)
        if t is not None:
            assert_close(e, t, rtol=1e-5, atol=1e-6, what="hook gradient")
    for e, t in zip(ours[1:], theirs[1:]):  # x.grad (replaced by the hook's result) and weight.grad
        assert (e is None) == (t is None)
        if t is not None:
            assert_close(e, t, rtol=1e-5, atol=1e-6, what="gradient after hook")


def test_backward_hook_with_two_inputs():
    layer = enn.Bilinear(2, 3, 1)
    seen = []
    handle = layer.register_full_backward_hook(lambda m, gi, go: seen.append(gi))
    a, b = ember.randn(4, 2, requires_grad=True), ember.randn(4, 3, requires_grad=True)
    layer(a, b).sum().backward()
    assert len(seen) == 1 and [tuple(g.shape) for g in seen[0]] == [(4, 2), (4, 3)]
    np.testing.assert_allclose(seen[0][0].numpy(), a.grad.numpy())
    handle.remove()
    layer(a, b).sum().backward()
    assert len(seen) == 1


# ---- repr ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    two_layer, make_composite,
    lambda nn: nn.Sequential(OrderedDict([("conv", nn.Linear(1, 1)), ("act", nn.Sequential(nn.GELU(), nn.Dropout(0.1)))])),
    lambda nn: nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.ReLU(), nn.Sequential(nn.Tanh()),
                              nn.Sequential(nn.Tanh())]),
    lambda nn: nn.ModuleList(), lambda nn: nn.Sequential(), lambda nn: nn.ModuleDict({"x": nn.Identity()}),
], ids=["sequential", "composite", "named", "modulelist", "empty-list", "empty-sequential", "moduledict"])
def test_repr_matches_torch(make):
    assert repr(make(enn)) == repr(make(torch.nn)).replace("torch.", "ember.")


def test_parameter_container_reprs_match_torch():
    for values in ([(2, 3), (4,)], [(5,)]):
        ours = enn.ParameterList([enn.Parameter(ember.zeros(*s)) for s in values])
        theirs = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(*s)) for s in values])
        assert repr(ours) == repr(theirs).replace("torch.", "ember.")
    for kind in (dict, OrderedDict):  # a plain dict's keys are sorted, as torch does
        ours = enn.ParameterDict(kind(w=enn.Parameter(ember.zeros(2, 3)), b=enn.Parameter(ember.zeros(3))))
        theirs = torch.nn.ParameterDict(kind(w=torch.nn.Parameter(torch.zeros(2, 3)),
                                             b=torch.nn.Parameter(torch.zeros(3))))
        assert repr(ours) == repr(theirs).replace("torch.", "ember.")


# ---- containers ------------------------------------------------------------------------------------------

def test_sequential_matches_torch():
    for nn, lib in ((enn, ember), (torch.nn, torch)):
        a, b, c, d = nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 3), nn.Tanh()
        seq = nn.Sequential(a, b, c)
        assert seq[0] is a and seq[-1] is c and len(seq) == 3 and list(seq) == [a, b, c]
        tail = seq[1:]
        assert type(tail) is nn.Sequential and list(tail._modules) == ["1", "2"]  # keys kept
        seq[1] = d
        assert seq[1] is d
        assert seq.append(b) is seq and list(seq._modules) == ["0", "1", "2", "3"]
        del seq[1]
        assert list(seq) == [a, c, b] and list(seq._modules) == ["0", "1", "2"]  # renumbered
        seq.insert(1, d)
        assert list(seq) == [a, d, c, b]
        assert seq.pop(0) is a and list(seq) == [d, c, b]
        seq.extend([a])
        del seq[0:2]
        assert list(seq) == [b, a] and list(seq._modules) == ["0", "1"]
        with pytest.raises(IndexError, match="index 5 is out of range"):
            seq[5]
        x = lib.ones(1, 2)
        assert seq(x).shape == a(b(x)).shape
        named = nn.Sequential(OrderedDict([("first", a), ("second", b)]))
        assert named.first is a and list(named._modules) == ["first", "second"]


def test_module_list_matches_torch():
    for nn in (enn, torch.nn):
        layers = [nn.Linear(2, 2) for _ in range(4)]
        ml = nn.ModuleList(layers[:2])
        ml.append(layers[2])
        ml += [layers[3]]
        assert list(ml) == layers and ml[-1] is layers[3] and len(ml) == 4
        assert type(ml[1:3]) is nn.ModuleList and list(ml[1:3]) == layers[1:3]
        assert len(list(ml.parameters())) == 8
        del ml[0]
        assert list(ml._modules) == ["0", "1", "2"] and ml[0] is layers[1]
        ml.insert(0, layers[0])
        assert list(ml) == layers
        assert ml.pop(1) is layers[1] and list(ml) == [layers[0], layers[2], layers[3]]
        ml[0] = layers[1]
        assert ml[0] is layers[1]
        assert list(ml + nn.ModuleList([layers[0]]))[-1] is layers[0]
        with pytest.raises(IndexError, match="out of range"):
            ml[7]


def test_module_dict_matches_torch():
    for nn in (enn, torch.nn):
        a, b, c = nn.Linear(1, 1), nn.ReLU(), nn.Tanh()
        md = nn.ModuleDict({"a": a, "b": b})
        md["c"] = c
        md.update([("d", nn.Identity())])
        assert list(md.keys()) == ["a", "b", "c", "d"] and list(md.values())[:3] == [a, b, c]
        assert "a" in md and len(md) == 4 and list(md) == ["a", "b", "c", "d"]
        assert md.pop("b") is b and "b" not in md
        del md["c"]
        assert [k for k, _ in md.items()] == ["a", "d"]
        assert [n for n, _ in md.named_parameters()] == ["a.weight", "a.bias"]
        md.clear()
        assert len(md) == 0


def test_parameter_containers_match_torch():
    for nn, lib in ((enn, ember), (torch.nn, torch)):
        pl = nn.ParameterList([nn.Parameter(lib.ones(2)), lib.zeros(3)])  # a tensor becomes a Parameter
        pl.append(nn.Parameter(lib.ones(1)))
        assert isinstance(pl[1], nn.Parameter) and pl[1].requires_grad and len(pl) == 3
        assert list(pl.state_dict()) == ["0", "1", "2"] and len(list(pl.parameters())) == 3
        assert pl[-1].shape == (1,)
        pd = nn.ParameterDict({"w": nn.Parameter(lib.ones(2))})
        pd["b"] = lib.zeros(1)
        assert isinstance(pd["b"], nn.Parameter) and list(pd.keys()) == ["w", "b"] and "w" in pd
        assert list(pd.state_dict()) == ["w", "b"]
        assert pd.pop("w").shape == (2,) and list(pd) == ["b"]


# ---- summary ---------------------------------------------------------------------------------------------

def test_summary_lists_leaf_layers():
    model = enn.Sequential(enn.Linear(3, 4), enn.ReLU(), enn.Sequential(enn.Linear(4, 2), enn.Softmax(1)))
    model[0].requires_grad_(False)
    lines = []
    total = enn.summary(model, (2, 3), print_fn=lines.append)
    assert total == 26
    text = "\n".join(lines)
    rows = [line.split() for line in lines if line.split() and line.split()[0] in ("0", "1", "2.0", "2.1")]
    assert rows == [["0", "(Linear)", "[2,", "4]", "16"], ["1", "(ReLU)", "[2,", "4]", "0"],
                    ["2.0", "(Linear)", "[2,", "2]", "10"], ["2.1", "(Softmax)", "[2,", "2]", "0"]]
    assert "Total params: 26" in text and "Trainable params: 10" in text and "Non-trainable params: 16" in text
    assert all(not m._forward_hooks for m in model.modules())  # its hooks are removed
    assert model[2][0].weight.grad is None  # run without recording the graph
