"""Recurrent layers and cells against PyTorch with copied weights: outputs, final states and the
gradients of the input, the initial states and every parameter, over layer counts, directions,
batch_first, bias, given or omitted states, batch 1, unbatched inputs and length-1 sequences;
inter-layer dropout; default initialisation; state_dict keys, repr and error messages; double
backward through the fused steps."""
import re
import zlib

import numpy as np
import pytest
import torch

import ember
from ember.engine.ops.recurrent import GRULayer, GRUStep, LSTMLayer, LSTMStep
from op_check import assert_close

F64 = dict(rtol=1e-9, atol=1e-11)
F32 = dict(rtol=1e-4, atol=1e-5)
LAYERS = {"RNN": dict(), "RNN_relu": dict(nonlinearity="relu"), "LSTM": dict(), "GRU": dict()}


def build(kind, *args, double=True, **kwargs):
    """The same module in both libraries, ember's with torch's weights."""
    name, extra = kind.split("_")[0], LAYERS.get(kind, {})
    t = getattr(torch.nn, name)(*args, **extra, **kwargs)
    t = t.double() if double else t
    e = getattr(ember.nn, name)(*args, **extra, **kwargs, dtype=ember.float64 if double else None)
    e.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    return e, t


def pair(array, requires_grad=True):
    return (ember.tensor(array, requires_grad=requires_grad),
            torch.tensor(array, requires_grad=requires_grad))


def flat(result):
    """(output, h) / (output, (h, c)) / h / (h, c) as a flat list of tensors."""
    if isinstance(result, (tuple, list)):
        return [t for r in result for t in flat(r)]
    return [result]


def check_same(e_module, t_module, e_inputs, t_inputs, rng, tol):
    """Equal outputs, and equal gradients of every input and parameter for a random projection."""
    e_out, t_out = flat(e_module(*e_inputs)), flat(t_module(*t_inputs))
    assert len(e_out) == len(t_out)
    for k, (e, t) in enumerate(zip(e_out, t_out)):
        assert_close(e, t, what=f"output {k}", **tol)
    seeds = [rng.standard_normal(tuple(t.shape)).astype(t.detach().numpy().dtype) for t in t_out]
    sum(((e * ember.tensor(s)).sum() for e, s in zip(e_out, seeds))).backward()
    sum(((t * torch.tensor(s)).sum() for t, s in zip(t_out, seeds))).backward()
    for k, (e, t) in enumerate(zip(flat(e_inputs), flat(t_inputs))):
        if t is not None and t.requires_grad:
            assert_close(e.grad, t.grad, what=f"grad of input {k}", **tol)
    e_params, t_params = dict(e_module.named_parameters()), dict(t_module.named_parameters())
    assert list(e_params) == list(t_params)
    for name, t in t_params.items():
        assert_close(e_params[name].grad, t.grad, what=f"grad of {name}", **tol)


# ---- the multi-layer modules against torch -------------------------------------------------------

CONFIGS = {
    "1layer": dict(),
    "2layers-bidirectional": dict(num_layers=2, bidirectional=True),
    "2layers-batch_first-nobias": dict(num_layers=2, batch_first=True, bias=False),
    "bidirectional-batch_first": dict(bidirectional=True, batch_first=True),
    "3layers-nobias-bidirectional": dict(num_layers=3, bias=False, bidirectional=True),
}
# (sequence length, batch) or (sequence length,) for an unbatched input; initial states given?
SHAPES = {"seq5-batch3": ((5, 3), True), "batch1-no-hx": ((4, 1), False), "seq1": ((1, 2), True),
          "unbatched": ((3,), True), "unbatched-seq1-no-hx": ((1,), False)}


def seeded(*key):
    """A generator seeded from the test's parameters (stable across runs, unlike hash())."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _layer_inputs(kind, config, shape, given_state, rng, input_size, hidden):
    directions = 2 if config.get("bidirectional") else 1
    states = config.get("num_layers", 1) * directions
    if len(shape) == 2 and config.get("batch_first"):
        shape = shape[::-1]
    x = pair(rng.standard_normal(shape + (input_size,)))
    if not given_state:
        return (x[0],), (x[1],)
    batch = (shape[0 if config.get("batch_first") else 1],) if len(shape) == 2 else ()
    state_shape = (states,) + batch + (hidden,)
    hx = [pair(rng.standard_normal(state_shape)) for _ in range(2 if kind == "LSTM" else 1)]
    if kind == "LSTM":
        return (x[0], (hx[0][0], hx[1][0])), (x[1], (hx[0][1], hx[1][1]))
    return (x[0], hx[0][0]), (x[1], hx[0][1])


@pytest.mark.parametrize("shape, given_state", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("kind", LAYERS)
def test_layer_matches_torch(kind, config, shape, given_state):
    rng = seeded(kind, config, shape)
    input_size, hidden = 4, 3
    e, t = build(kind, input_size, hidden, **config)
    e_in, t_in = _layer_inputs(kind, config, shape, given_state, rng, input_size, hidden)
    check_same(e, t, e_in, t_in, rng, F64)


@pytest.mark.parametrize("kind", LAYERS)
def test_layer_without_initial_state_matches_torch(kind):
    rng = np.random.default_rng(1)
    e, t = build(kind, 5, 6, num_layers=2, bidirectional=True)
    e_in, t_in = _layer_inputs(kind, dict(num_layers=2, bidirectional=True), (7, 2), False, rng, 5, 6)
    check_same(e, t, e_in, t_in, rng, F64)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_float32_default_init_matches_torch(kind):
    """float32 end to end, with torch's default-initialised parameters copied across."""
    rng = np.random.default_rng(2)
    e, t = build(kind, 6, 8, num_layers=2, double=False, batch_first=True)
    x = pair(rng.standard_normal((3, 9, 6)).astype(np.float32))
    check_same(e, t, (x[0],), (x[1],), rng, F32)
    assert e(x[0])[0].dtype == ember.float32


def test_layer_input_that_needs_no_gradient_and_no_grad_mode():
    rng = np.random.default_rng(3)
    e, t = build("LSTM", 3, 4, num_layers=2)
    x = rng.standard_normal((6, 2, 3))
    with ember.no_grad():
        out, (h, c) = e(ember.tensor(x))
    assert not out.requires_grad and not h.requires_grad
    with torch.no_grad():
        t_out, (t_h, t_c) = t(torch.tensor(x))
    for a, b in ((out, t_out), (h, t_h), (c, t_c)):
        assert_close(a, b, what="no_grad", **F64)
    out, _ = e(ember.tensor(x))  # parameters still get gradients when the input needs none
    out.sum().backward()
    assert all(p.grad is not None for p in e.parameters())


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_empty_batch_matches_torch(kind):
    e, t = build(kind, 3, 4, num_layers=2, bidirectional=True)
    x = pair(np.zeros((5, 0, 3)))
    check_same(e, t, (x[0],), (x[1],), np.random.default_rng(0), F64)


# ---- cells against torch ------------------------------------------------------------------------

CELLS = {"RNNCell": dict(), "RNNCell_relu": dict(nonlinearity="relu"), "LSTMCell": dict(), "GRUCell": dict()}
CELL_CASES = {"batch3": (3, True, True), "batch1": (1, True, True), "no-hx": (2, False, True),
              "unbatched": (None, True, True), "unbatched-no-hx": (None, False, True),
              "no-bias": (2, True, False)}


@pytest.mark.parametrize("case", CELL_CASES.values(), ids=CELL_CASES.keys())
@pytest.mark.parametrize("kind", CELLS)
def test_cell_matches_torch(kind, case):
    batch, given_state, bias = case
    rng = seeded(kind, case)
    name = kind.split("_")[0]
    t = getattr(torch.nn, name)(5, 4, bias=bias, **CELLS[kind]).double()
    e = getattr(ember.nn, name)(5, 4, bias=bias, **CELLS[kind], dtype=ember.float64)
    e.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    lead = () if batch is None else (batch,)
    x = pair(rng.standard_normal(lead + (5,)))
    e_in, t_in = [x[0]], [x[1]]
    if given_state:
        states = [pair(rng.standard_normal(lead + (4,))) for _ in range(2 if name == "LSTMCell" else 1)]
        e_in.append(tuple(s[0] for s in states) if name == "LSTMCell" else states[0][0])
        t_in.append(tuple(s[1] for s in states) if name == "LSTMCell" else states[0][1])
    check_same(e, t, e_in, t_in, rng, F64)


def test_cells_unrolled_equal_the_layer():
    """A layer is its cell applied step by step (the layer's fast paths change nothing)."""
    rng = np.random.default_rng(4)
    for layer_class, cell_class in ((ember.nn.LSTM, ember.nn.LSTMCell), (ember.nn.GRU, ember.nn.GRUCell),
                                    (ember.nn.RNN, ember.nn.RNNCell)):
        layer, cell = layer_class(3, 5, dtype=ember.float64), cell_class(3, 5, dtype=ember.float64)
        cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
        x = ember.tensor(rng.standard_normal((4, 2, 3)))
        state = None
        for step in x.unbind(0):
            state = cell(step, state)
        h = state[0] if isinstance(state, tuple) else state
        np.testing.assert_allclose(layer(x)[0][-1].detach().numpy(), h.detach().numpy(), rtol=1e-12)


# ---- dropout between layers ----------------------------------------------------------------------

def test_dropout_is_off_in_eval_mode_and_with_p0():
    rng = np.random.default_rng(5)
    for p, train in ((0.7, False), (0.0, True)):
        e, t = build("GRU", 3, 4, num_layers=3, dropout=p)
        e.train(train), t.train(train)
        x = pair(rng.standard_normal((5, 2, 3)))
        check_same(e, t, (x[0],), (x[1],), rng, F64)


def test_dropout_1_zeroes_the_input_of_every_later_layer():
    rng = np.random.default_rng(6)
    e, _ = build("LSTM", 3, 4, num_layers=2, dropout=1.0, bidirectional=True)
    x = rng.standard_normal((5, 2, 3))
    out, (h, c) = e(ember.tensor(x))
    # the second layer sees zeros: its output is that of a one-layer LSTM with its weights on zeros
    second = torch.nn.LSTM(8, 4, bidirectional=True).double()
    second.load_state_dict({k.replace("_l1", "_l0"): torch.tensor(v.numpy())
                            for k, v in e.state_dict().items() if "_l1" in k})
    t_out, (t_h, t_c) = second(torch.zeros(5, 2, 8, dtype=torch.float64))
    assert_close(out, t_out, what="output", **F64)
    assert_close(h[2:], t_h, what="h_n of layer 1", **F64)
    # the first layer is untouched: its final state is that of the first layer alone
    first = torch.nn.LSTM(3, 4, bidirectional=True).double()
    first.load_state_dict({k: torch.tensor(v.numpy()) for k, v in e.state_dict().items() if "_l0" in k})
    assert_close(c[:2], first(torch.tensor(x))[1][1], what="c_n of layer 0", **F64)
    e.eval()
    assert not np.allclose(e(ember.tensor(x))[0].detach().numpy(), out.detach().numpy())


@pytest.mark.parametrize("p", [0.25, 0.6])
def test_dropout_statistics_and_scaling(p):
    """With identity weights, a two-layer ReLU RNN outputs dropout(x): zeros at rate p, the kept
    values scaled by 1 / (1 - p)."""
    size = 64
    rnn = ember.nn.RNN(size, size, num_layers=2, nonlinearity="relu", dropout=p, dtype=ember.float64)
    with ember.no_grad():
        for name, param in rnn.named_parameters():
            param.copy_(ember.eye(size, dtype=ember.float64) if "weight_ih" in name else param * 0)
    x = np.random.default_rng(7).uniform(0.5, 1.5, (40, 50, size))
    ember.manual_seed(0)
    out = rnn(ember.tensor(x))[0].detach().numpy()
    kept = out != 0
    assert abs(1 - kept.mean() - p) < 0.01
    np.testing.assert_allclose(out[kept], x[kept] / (1 - p), rtol=1e-12)
    ember.manual_seed(0)
    np.testing.assert_array_equal(rnn(ember.tensor(x))[0].detach().numpy(), out)  # seeded
    assert not np.array_equal(rnn(ember.tensor(x))[0].detach().numpy(), out)


def test_dropout_with_one_layer_warns_and_does_nothing():
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        e, t = build("LSTM", 3, 4, dropout=0.5)
    rng = np.random.default_rng(8)
    x = pair(rng.standard_normal((4, 2, 3)))
    check_same(e, t, (x[0],), (x[1],), rng, F64)


# ---- parameters: names, shapes, initialisation ---------------------------------------------------

@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_parameter_names_shapes_and_repr_match_torch(kind, config):
    e, t = getattr(ember.nn, kind)(7, 5, **config), getattr(torch.nn, kind)(7, 5, **config)
    assert [(k, tuple(v.shape)) for k, v in e.state_dict().items()] == \
           [(k, tuple(v.shape)) for k, v in t.state_dict().items()]
    assert repr(e) == repr(t)
    assert [[tuple(p.shape) for p in ws] for ws in e.all_weights] == \
           [[tuple(p.shape) for p in ws] for ws in t.all_weights]
    e.flatten_parameters()


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cell_parameter_names_and_repr_match_torch(kind):
    for kwargs in (dict(), dict(bias=False)) + ((dict(nonlinearity="relu"),) if kind == "RNNCell" else ()):
        e, t = getattr(ember.nn, kind)(3, 6, **kwargs), getattr(torch.nn, kind)(3, 6, **kwargs)
        assert [(k, tuple(v.shape)) for k, v in e.state_dict().items()] == \
               [(k, tuple(v.shape)) for k, v in t.state_dict().items()]
        assert repr(e) == repr(t)
        if not kwargs.get("bias", True):
            assert e.bias_ih is None and e.bias_hh is None


@pytest.mark.parametrize("module", [lambda: ember.nn.LSTM(10, 40, num_layers=2, bidirectional=True),
                                    lambda: ember.nn.GRUCell(10, 40)], ids=["LSTM", "GRUCell"])
def test_default_init_is_uniform_over_one_over_sqrt_hidden(module):
    bound = 1 / np.sqrt(40)
    ember.manual_seed(3)
    params = [p.detach().numpy() for p in module().parameters()]
    values = np.concatenate([p.ravel() for p in params])
    assert np.abs(values).max() <= bound
    assert abs(values.std() - bound / np.sqrt(3)) < 0.02 * bound  # U(-a, a) has std a / sqrt(3)
    assert abs(values.mean()) < 0.02 * bound
    ember.manual_seed(3)
    for a, b in zip(params, module().parameters()):
        np.testing.assert_array_equal(a, b.detach().numpy())


# ---- double backward ------------------------------------------------------------------------------

def _step_inputs(kind, rng, bias=True):
    """Random float64 arguments of LSTMStep or GRUStep (batch 3, hidden 2)."""
    gates = 4 if kind == "LSTM" else 3
    shapes = [(3, gates * 2), (2, 3, 2) if kind == "LSTM" else (3, 2), (gates * 2, 2)]
    args = [ember.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    if kind == "GRU":
        args.append(ember.tensor(rng.standard_normal(gates * 2), requires_grad=True) if bias else None)
    return args


@pytest.mark.parametrize("kind, bias", [("LSTM", True), ("GRU", True), ("GRU", False)])
def test_fused_steps_gradients_and_double_backward(kind, bias):
    """Both ways of evaluating the gradient: on raw arrays (plain backward) and in Tensor ops
    (create_graph), which gradgradcheck differentiates again."""
    step = LSTMStep if kind == "LSTM" else GRUStep
    args = _step_inputs(kind, np.random.default_rng(9), bias)
    assert ember.autograd.gradcheck(step.apply, args)
    assert ember.autograd.gradgradcheck(step.apply, args)
    leaves = [a for a in args if a is not None]
    seed = ember.tensor(np.random.default_rng(10).standard_normal(tuple(step.apply(*args).shape)))
    arrays = ember.autograd.grad(step.apply(*args), leaves, seed)
    tensors = ember.autograd.grad(step.apply(*args), leaves, seed, create_graph=True)
    for a, t in zip(arrays, tensors):
        np.testing.assert_allclose(a.numpy(), t.detach().numpy(), rtol=1e-12, atol=1e-14)
    # only the gradients asked for
    args[2].requires_grad_(False)
    grads = ember.autograd.grad(step.apply(*args), args[:2], seed)
    for a, g in zip(arrays, grads):
        np.testing.assert_allclose(a.numpy(), g.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_layer_double_backward(kind):
    rng = np.random.default_rng(10)
    e = getattr(ember.nn, kind)(3, 2, bidirectional=True, dtype=ember.float64)
    x = ember.tensor(rng.standard_normal((3, 2, 3)), requires_grad=True)
    assert ember.autograd.gradgradcheck(lambda x: e(x)[0], (x,))


# ---- errors ---------------------------------------------------------------------------------------

def _torch_error(fn):
    try:
        fn()
    except Exception as error:  # noqa: BLE001 -- any exception: ember must raise the same
        return type(error), str(error)
    raise AssertionError("torch raised nothing")


def _raises_like_torch(ember_fn, torch_fn):
    kind, message = _torch_error(torch_fn)
    with pytest.raises(kind, match=re.escape(message)):
        ember_fn()


LAYER_ERRORS = {
    # kind, constructor kwargs, input shape, state shapes (None: omitted)
    "input_size": ("LSTM", dict(), (5, 2, 3), None),
    "input_4d": ("GRU", dict(), (5, 2, 4, 1), None),
    "input_1d": ("RNN", dict(), (4,), None),
    "hidden_size": ("GRU", dict(), (5, 2, 4), [(1, 2, 5)]),
    "hidden_batch": ("RNN", dict(num_layers=2), (5, 2, 4), [(2, 3, 3)]),
    "hidden_layers": ("GRU", dict(bidirectional=True), (5, 2, 4), [(1, 2, 3)]),
    "lstm_h0": ("LSTM", dict(batch_first=True), (2, 5, 4), [(1, 5, 3), (1, 2, 3)]),
    "lstm_c0": ("LSTM", dict(), (5, 2, 4), [(1, 2, 3), (1, 2, 4)]),
    "batched_2d_hx": ("GRU", dict(), (5, 2, 4), [(2, 3)]),
    "unbatched_3d_hx": ("RNN", dict(), (5, 4), [(1, 1, 3)]),
    "lstm_batched_2d_hx": ("LSTM", dict(), (5, 2, 4), [(2, 3), (1, 2, 3)]),
    "lstm_unbatched_3d_hx": ("LSTM", dict(), (5, 4), [(1, 1, 3), (1, 1, 3)]),
    "empty_sequence": ("GRU", dict(), (0, 2, 4), None),
}


@pytest.mark.parametrize("case", LAYER_ERRORS.values(), ids=LAYER_ERRORS.keys())
def test_layer_errors_match_torch(case):
    kind, kwargs, shape, state_shapes = case
    e, t = build(kind, 4, 3, **kwargs)
    x = np.zeros(shape)
    states = None if state_shapes is None else [np.zeros(s) for s in state_shapes]

    def call(module, lib):
        hx = None if states is None else [lib.tensor(s) for s in states]
        hx = hx if hx is None else (tuple(hx) if kind == "LSTM" else hx[0])
        return lambda: module(lib.tensor(x), hx)

    _raises_like_torch(call(e, ember), call(t, torch))


CELL_ERRORS = {
    "input_size": ("LSTMCell", (2, 5), [(2, 3), (2, 3)]),
    "input_3d": ("GRUCell", (2, 4, 1), None),
    "hidden_size": ("LSTMCell", (2, 4), [(2, 2), (2, 3)]),
    "cell_size": ("LSTMCell", (2, 4), [(2, 3), (2, 2)]),
    "hidden_batch": ("GRUCell", (2, 4), [(3, 3)]),
    "hidden_3d": ("RNNCell", (2, 4), [(1, 2, 3)]),
    "lstm_hx_3d": ("LSTMCell", (2, 4), [(2, 3), (1, 2, 3)]),
    "unbatched_hidden_size": ("GRUCell", (4,), [(5,)]),
}


@pytest.mark.parametrize("case", CELL_ERRORS.values(), ids=CELL_ERRORS.keys())
def test_cell_errors_match_torch(case):
    kind, shape, state_shapes = case
    e, t = getattr(ember.nn, kind)(4, 3), getattr(torch.nn, kind)(4, 3)
    x = np.zeros(shape, np.float32)
    states = None if state_shapes is None else [np.zeros(s, np.float32) for s in state_shapes]

    def call(module, lib):
        hx = None if states is None else [lib.tensor(s) for s in states]
        hx = hx if hx is None else (tuple(hx) if kind == "LSTMCell" else hx[0])
        return lambda: module(lib.tensor(x), hx)

    _raises_like_torch(call(e, ember), call(t, torch))


CONSTRUCTOR_ERRORS = {
    "dropout_range": ("LSTM", (4, 3), dict(dropout=1.5)),
    "dropout_bool": ("GRU", (4, 3), dict(dropout=True)),
    "nonlinearity": ("RNN", (4, 3), dict(nonlinearity="sigmoid")),
    "hidden_size_0": ("GRU", (4, 0), dict()),
    "input_size_0": ("RNN", (0, 3), dict()),
    "input_size_float": ("LSTM", (4.0, 3), dict()),
    "num_layers_0": ("LSTM", (4, 3), dict(num_layers=0)),
    "bias_int": ("GRU", (4, 3), dict(bias=1)),
    "batch_first_str": ("RNN", (4, 3), dict(batch_first="yes")),
    "proj_size_negative": ("LSTM", (4, 3), dict(proj_size=-1)),
    "proj_size_too_large": ("LSTM", (4, 3), dict(proj_size=3)),
}


@pytest.mark.parametrize("case", CONSTRUCTOR_ERRORS.values(), ids=CONSTRUCTOR_ERRORS.keys())
def test_constructor_errors_match_torch(case):
    kind, args, kwargs = case
    _raises_like_torch(lambda: getattr(ember.nn, kind)(*args, **kwargs),
                       lambda: getattr(torch.nn, kind)(*args, **kwargs))


def test_ember_specific_errors():
    with pytest.raises(NotImplementedError, match="proj_size > 0"):
        ember.nn.LSTM(4, 3, proj_size=2)
    with pytest.raises(ValueError, match=re.escape("RNN input dtype (ember.float64) does not match weight "
                                                   "dtype (ember.float32)")):
        ember.nn.LSTM(4, 3)(ember.zeros(2, 1, 4, dtype=ember.float64))
    with pytest.raises(RuntimeError, match="RNN: expected hidden0 to have the input's dtype"):
        ember.nn.GRU(4, 3)(ember.zeros(2, 1, 4), ember.zeros(1, 1, 3, dtype=ember.float64))
    with pytest.raises(ValueError, match="GRUCell input dtype"):
        ember.nn.GRUCell(4, 3)(ember.zeros(2, 4, dtype=ember.float64))
    with pytest.raises(TypeError, match=r"LSTM: hx must be a tuple \(h_0, c_0\)"):
        ember.nn.LSTM(4, 3)(ember.zeros(2, 1, 4), ember.zeros(1, 1, 3))
    with pytest.raises(RuntimeError, match=r"GRUCell: hidden of shape \(3,\) does not match the 2D input"):
        ember.nn.GRUCell(4, 3)(ember.zeros(3, 4), ember.zeros(3))
    cell = ember.nn.RNNCell(4, 3, nonlinearity="sigmoid")  # accepted, as in PyTorch, until used
    with pytest.raises(RuntimeError, match="Unknown nonlinearity: sigmoid"):
        cell(ember.zeros(2, 4))


# ---- whole-sequence layers and kernel choice ---------------------------------------------------------

def _layer_function_inputs(kind, rng, length, batch=3, hidden=2, bias=True):
    """Random float64 arguments of LSTMLayer or GRULayer, without ``reverse``."""
    gates = 4 if kind == "LSTM" else 3
    state = (2, batch, hidden) if kind == "LSTM" else (batch, hidden)
    shapes = [(length, batch, gates * hidden), state, (gates * hidden, hidden)]
    args = [ember.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    if kind == "GRU":
        args.append(ember.tensor(rng.standard_normal(gates * hidden), requires_grad=True) if bias else None)
    return args


def _unrolled(kind, projected, state, *weights, reverse):
    """What a layer Function computes, step by step with LSTMStep / GRUStep."""
    step = LSTMStep if kind == "LSTM" else GRUStep
    states = [None] * projected.shape[0]
    for t in (reversed(range(len(states))) if reverse else range(len(states))):
        state = states[t] = step.apply(projected[t], state, *weights)
    return ember.stack(states)


LAYER_FUNCTIONS = {"LSTM": LSTMLayer, "GRU": GRULayer}


@pytest.mark.parametrize("kind, bias", [("LSTM", True), ("GRU", True), ("GRU", False)])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("length, batch", [(1, 1), (5, 3)])
def test_layer_functions_equal_the_unrolled_steps(kind, bias, reverse, length, batch):
    rng = np.random.default_rng(length + batch)
    args = _layer_function_inputs(kind, rng, length, batch, bias=bias)
    leaves = [a for a in args if a is not None]
    layer = LAYER_FUNCTIONS[kind].apply(*args, reverse)
    unrolled = _unrolled(kind, *args, reverse=reverse)
    np.testing.assert_allclose(layer.detach().numpy(), unrolled.detach().numpy(), rtol=1e-12, atol=1e-14)
    seed = ember.tensor(rng.standard_normal(tuple(layer.shape)))
    for a, b in zip(ember.autograd.grad(layer, leaves, seed), ember.autograd.grad(unrolled, leaves, seed)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)
    # create_graph: the Tensor-op gradients equal the kernels', and only those asked for
    tensors = ember.autograd.grad(LAYER_FUNCTIONS[kind].apply(*args, reverse), leaves[1:], seed, create_graph=True)
    arrays = ember.autograd.grad(LAYER_FUNCTIONS[kind].apply(*args, reverse), leaves[1:], seed)
    for a, t in zip(arrays, tensors):
        np.testing.assert_allclose(a.numpy(), t.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind, bias", [("LSTM", True), ("GRU", True), ("GRU", False)])
def test_layer_functions_double_backward(kind, bias):
    args = _layer_function_inputs(kind, np.random.default_rng(3), 3, batch=2, bias=bias)
    assert ember.autograd.gradcheck(lambda *a: LAYER_FUNCTIONS[kind].apply(*a, True), args)
    assert ember.autograd.gradgradcheck(lambda *a: LAYER_FUNCTIONS[kind].apply(*a, False), args)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
def test_recurrent_kernels_give_the_same_layer(kind, dtype):
    """Every implementation of the cell kernels gives the same module outputs and gradients."""
    rng = np.random.default_rng(4)
    module = getattr(ember.nn, kind)(5, 7, num_layers=2, bidirectional=True, dtype=dtype)
    x = ember.tensor(rng.standard_normal((6, 3, 5)), dtype=dtype, requires_grad=True)
    kernel = "lstm_cell" if kind == "LSTM" else "gru_cell"
    results = []
    for name in ember.kernels.names(kernel + "_forward", "cpu"):
        with ember.kernels.use(**{kernel: name}):
            module.zero_grad()
            x.grad = None
            output = flat(module(x))
            sum((o * o).sum() for o in output).backward()
            results.append([o.detach().numpy() for o in output] + [x.grad.numpy()] +
                           [p.grad.numpy() for p in module.parameters()])
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == ember.float32 else dict(rtol=1e-10, atol=1e-12)
    for result in results[1:]:
        for a, b in zip(result, results[0]):
            np.testing.assert_allclose(a, b, **tol)
