"""Recurrent layers with PyTorch's names, parameters and semantics: the cells ``RNNCell``,
``LSTMCell`` and ``GRUCell`` (one time step) and the multi-layer ``RNN``, ``LSTM`` and ``GRU`` (a
whole sequence, optionally bidirectional, with dropout between layers).

A layer projects its whole input sequence through ``weight_ih`` with one product, then loops over
the time steps in Python; a step is the product with ``weight_hh`` and the cell's update (one fused
op for LSTM and GRU: engine/ops/recurrent.py). An LSTM's state (h, c) travels as one (2, N, H)
tensor.

Shapes, with L = num_layers, D = 2 if bidirectional else 1, H = hidden_size: input
(T, N, input_size) ((N, T, input_size) with batch_first, (T, input_size) unbatched) and h_0, c_0
(D * L, N, H) ((D * L, H) unbatched) -> output (T, N, D * H) (batch first, or unbatched, like the
input) and h_n, c_n shaped like h_0.
"""
import math
import numbers
import warnings

from ..engine import empty, zeros
from ..engine.ops import cat, dropout, linear, relu, stack
from ..engine.ops.nn_ops import Linear as LinearFunction
from ..engine.ops.recurrent import GRULayer, GRUStep, LSTMLayer, LSTMStep
from . import init
from .module import Module, Parameter

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

# weight_ih and weight_hh stack this many (hidden_size, *) blocks: one per gate, in PyTorch's order
# (LSTM: input, forget, cell, output; GRU: reset, update, new).
_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


# ---- the computation, shared by the cells and the layers ----------------------------------------

def _input_bias(mode, bias_ih, bias_hh):
    """The bias that goes with the input's projection ``x W_ih^T``. An LSTM or plain RNN only ever
    uses ``b_ih + b_hh``, so both go in with the one product over the whole sequence; the GRU's
    ``b_hn`` is scaled by the reset gate, so ``b_hh`` stays with the hidden product."""
    if bias_ih is None or mode == "GRU":
        return bias_ih
    return bias_ih + bias_hh


def _projection(mode, input, weight_ih, bias_ih, bias_hh, state):
    """The input's share of the gates at every step, ``x W_ih^T`` plus ``_input_bias``, in the
    state's dtype: under autocast the product comes out float16 while the recurrence (and its cell
    kernels) stay in the state's float32."""
    return linear(input, weight_ih, _input_bias(mode, bias_ih, bias_hh)).to(state.dtype)


def _step(mode, projected, state, weight_hh, bias_hh):
    """One time step. ``projected`` (N, gates * H) is the input's projection ``x W_ih^T`` plus
    ``_input_bias``; ``state`` is h (N, H), or h and c stacked (2, N, H) for an LSTM. Returns the
    next state."""
    if mode == "LSTM":
        return LSTMStep.apply(projected, state, weight_hh)
    if mode == "GRU":
        return GRUStep.apply(projected, state, weight_hh, bias_hh)
    # h W_hh^T + projected in one op: the projection is the product's bias. (The module checked the
    # shapes once; the functional linear would check them again at every step.)
    gates = LinearFunction.apply(state, weight_hh, projected)
    return gates.tanh() if mode == "RNN_TANH" else relu(gates)


def _hidden(mode, states):
    """The h of a state, or of states stacked in front: an LSTM's (*, 2, N, H) hold (h, c)."""
    return states.select(-3, 0) if mode == "LSTM" else states


def _time_steps(sequence):
    """The T steps of ``sequence`` (T, ...) as a list. The gradient of a slice is a zero tensor of
    its source's full size, and backward adds those up: T steps sliced straight out of the sequence
    would cost T full-size additions (quadratic in T). Halving recursively keeps the gradients of
    each level of halves adding up to one full size: O(T log T)."""
    length = sequence.shape[0]
    if length == 1:
        return [sequence[0]]
    middle = length // 2
    return _time_steps(sequence[:middle]) + _time_steps(sequence[middle:])


def _run_direction(mode, input, state, weights, reverse):
    """One layer in one direction over ``input`` (T, N, F) from ``state``: returns the output
    (T, N, H) (in input order, also when running in reverse) and the final state."""
    weight_ih, weight_hh, bias_ih, bias_hh = weights
    projected = _projection(mode, input, weight_ih, bias_ih, bias_hh, state)
    if mode in ("LSTM", "GRU"):
        # the whole sequence as one node: no per-step graph nodes, slices or stack
        if mode == "LSTM":
            states = LSTMLayer.apply(projected, state, weight_hh, reverse)
        else:
            states = GRULayer.apply(projected, state, weight_hh, bias_hh, reverse)
        return _hidden(mode, states), states[0 if reverse else -1]
    steps = _time_steps(projected)
    states = []
    for projected in reversed(steps) if reverse else steps:
        state = _step(mode, projected, state, weight_hh, bias_hh)
        states.append(state)
    if reverse:
        states.reverse()
    # one stack, then h out of all the steps at once (rather than an op per step)
    return _hidden(mode, stack(states)), state


def _check_dtype(name, input, weight, states):
    if input.dtype != weight.dtype:
        raise ValueError(f"{name} input dtype ({input.dtype}) does not match weight dtype ({weight.dtype}). "
                         f"Convert input: input.to({weight.dtype}), or convert model: "
                         f"model.to({input.dtype})")
    for k, state in enumerate(states):
        if state.dtype != input.dtype:
            raise RuntimeError(f"{name}: expected hidden{k} to have the input's dtype {input.dtype}, "
                               f"but got {state.dtype}")


def _as_states(name, hx, count):
    """``hx`` as a tuple of ``count`` state tensors: (h,) or (h, c)."""
    if count == 1:
        return (hx,)
    if not isinstance(hx, (tuple, list)) or len(hx) != count:
        raise TypeError(f"{name}: hx must be a tuple (h_0, c_0) of two tensors, got "
                        f"{type(hx).__name__}")
    return tuple(hx)


def _packed_state(states, shape, input, dim):
    """The user's states (h,) or (h, c) as the one tensor the steps take: h, or (h, c) stacked at
    ``dim``; zeros of that ``shape`` when omitted."""
    if states is None:
        return zeros(*shape, dtype=input.dtype, device=input.device)
    return states[0] if len(states) == 1 else stack(states, dim)


def _unpacked_state(state, count, dim):
    return (state,) if count == 1 else (state.select(dim, 0), state.select(dim, 1))


def _reset_uniform(module):
    """PyTorch's init of every recurrent weight and bias: U(-1/sqrt(H), 1/sqrt(H))."""
    stdv = 1.0 / math.sqrt(module.hidden_size)
    for weight in module.parameters():
        init.uniform_(weight, -stdv, stdv)


def _check_proj_size(proj_size, hidden_size):
    if proj_size < 0:
        raise ValueError("proj_size should be a positive integer or zero to disable projections")
    if proj_size >= hidden_size:
        raise ValueError("proj_size has to be smaller than hidden_size")
    if proj_size > 0:
        raise NotImplementedError("LSTM: proj_size > 0 (projected hidden states) is not supported by "
                                  "ember")


# ---- multi-layer ---------------------------------------------------------------------------------

class RNNBase(Module):
    """The multi-layer recurrent network shared by ``RNN``, ``LSTM`` and ``GRU``. ``mode`` is one of
    'RNN_TANH', 'RNN_RELU', 'LSTM', 'GRU'. Parameters, per layer k and direction (suffix
    '_reverse' for the backward one): ``weight_ih_l{k}`` (gates * H, input_size for k = 0 else
    D * H), ``weight_hh_l{k}`` (gates * H, H), and with ``bias`` ``bias_ih_l{k}``, ``bias_hh_l{k}``
    (gates * H); all initialised U(-1/sqrt(H), 1/sqrt(H)), as in PyTorch."""

    _name = "RNN"  # for error messages, as PyTorch words them

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of "
                             "an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"dropout option adds dropout after all but last recurrent layer, so non-zero "
                          f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}", stacklevel=3)
        for name, value, kind in (("bias", bias, bool), ("batch_first", batch_first, bool),
                                  ("input_size", input_size, int), ("hidden_size", hidden_size, int)):
            if not isinstance(value, kind):
                raise TypeError(f"{name} should be of type {kind.__name__}, got: {type(value).__name__}")
        if input_size <= 0:
            raise ValueError("input_size must be greater than zero")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        _check_proj_size(proj_size, hidden_size)
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        # Names per (layer, direction), in PyTorch's registration order (so state_dict keys match).
        self._all_weights = []
        for layer in range(num_layers):
            layer_input_size = input_size if layer == 0 else hidden_size * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = {"weight_ih": (gate_size, layer_input_size), "weight_hh": (gate_size, hidden_size)}
                if bias:
                    shapes.update(bias_ih=(gate_size,), bias_hh=(gate_size,))
                for name, shape in shapes.items():
                    setattr(self, name + suffix, Parameter(empty(*shape, dtype=dtype, device=device)))
                self._all_weights.append([name + suffix for name in shapes])
        self.reset_parameters()

    def reset_parameters(self):
        _reset_uniform(self)

    @property
    def all_weights(self):
        """The parameters, one list [weight_ih, weight_hh(, bias_ih, bias_hh)] per layer and direction."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def flatten_parameters(self):
        """Does nothing: PyTorch packs the weights into one buffer for cuDNN; ember has no such buffer."""

    def _weights(self, index):
        """(weight_ih, weight_hh, bias_ih, bias_hh) of layer-direction ``index`` (biases may be None)."""
        weights = [getattr(self, name) for name in self._all_weights[index]]
        return tuple(weights) + (None, None) * (not self.bias)

    def forward(self, input, hx=None):
        """Run the network over ``input``; ``hx`` is h_0, or the tuple (h_0, c_0) for an LSTM (zeros
        when omitted). Returns (output, h_n), or (output, (h_n, c_n)) for an LSTM."""
        name, count = self._name, 2 if self.mode == "LSTM" else 1
        if input.dim() not in (2, 3):
            tensor = " tensor" if name == "RNN" else ""  # PyTorch's wording differs by class
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D{tensor} instead")
        batched = input.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        states = None if hx is None else _as_states(name, hx, count)
        if states is not None and any(s.dim() != input.dim() for s in states):
            what = "hx should" if count == 1 else "hx and cx should"
            dims = ", ".join(f"{s.dim()}-D" for s in states)
            dims = f"{dims} tensor" if count == 1 else f"({dims}) tensors"
            raise RuntimeError(f"For {'batched 3-D' if batched else 'unbatched 2-D'} input, {what} also be "
                               f"{input.dim()}-D but got {dims}")
        if not batched:
            input = input.unsqueeze(batch_dim)
            states = None if states is None else tuple(s.unsqueeze(1) for s in states)
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.shape[-1]}")
        if self.batch_first:
            input = input.transpose(0, 1)
        expected = (self.num_layers * (2 if self.bidirectional else 1), input.shape[1], self.hidden_size)
        for k, state in enumerate(states or ()):
            if tuple(state.shape) != expected:
                which = "hidden" if count == 1 else f"hidden[{k}]"
                raise RuntimeError(f"Expected {which} size {expected}, got {list(state.shape)}")
        _check_dtype("RNN", input, self.weight_ih_l0, states or ())  # PyTorch says RNN for all three
        if input.shape[0] == 0:
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
        # one (D * L, N, H) tensor, or (D * L, 2, N, H) for an LSTM's (h, c)
        packed_shape = expected[:1] + (2,) * (count - 1) + expected[1:]
        output, final = self._run(input, _packed_state(states, packed_shape, input, 1))
        states = _unpacked_state(final, count, 1)
        if self.batch_first:
            output = output.transpose(0, 1)
        if not batched:
            output = output.squeeze(batch_dim)
            states = tuple(s.squeeze(1) for s in states)
        return output, (states if count == 2 else states[0])

    def _run(self, input, state):
        """The layers over time-major ``input`` (T, N, F) from the packed ``state`` (one entry per
        layer and direction): returns the last layer's output (T, N, D * H) and the final states,
        packed the same way."""
        directions = 2 if self.bidirectional else 1
        finals = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                index = layer * directions + direction
                output, final = _run_direction(self.mode, input, state[index], self._weights(index),
                                               reverse=direction == 1)
                outputs.append(output)
                finals.append(final)
            input = outputs[0] if directions == 1 else cat(outputs, -1)
            if self.training and layer < self.num_layers - 1:
                input = dropout(input, self.dropout)
        return input, stack(finals)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(RNNBase):
    """Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (``nonlinearity``
    'tanh' or 'relu'), stacked ``num_layers`` deep. See ``RNNBase`` for shapes and parameters."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size,
                         num_layers, bias, batch_first, dropout, bidirectional, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory, stacked ``num_layers`` deep; per step, with gates in PyTorch's order::

        i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
        c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t)

    ``forward(input, (h_0, c_0))`` returns ``(output, (h_n, c_n))``; see ``RNNBase`` for shapes.
    ``proj_size`` must be 0 (projections are not supported)."""

    _name = "LSTM"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, proj_size, device=device, dtype=dtype)


class GRU(RNNBase):
    """Gated recurrent unit, stacked ``num_layers`` deep; per step, with gates in PyTorch's order::

        r, z = sigmoid(x_t W_i{r,z}^T + b_i{r,z} + h_{t-1} W_h{r,z}^T + b_h{r,z})
        n = tanh(x_t W_in^T + b_in + r * (h_{t-1} W_hn^T + b_hn));  h_t = (1 - z) * n + z * h_{t-1}

    See ``RNNBase`` for shapes and parameters."""

    _name = "GRU"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)


# ---- cells ---------------------------------------------------------------------------------------

class RNNCellBase(Module):
    """One time step of a recurrent network. Parameters: ``weight_ih`` (gates * H, input_size),
    ``weight_hh`` (gates * H, H) and with ``bias`` ``bias_ih``, ``bias_hh`` (gates * H), all
    initialised U(-1/sqrt(H), 1/sqrt(H)). Shapes: input (N, input_size) or unbatched
    (input_size), states (N, H) or (H)."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(empty(num_chunks * hidden_size, input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(empty(num_chunks * hidden_size, hidden_size, dtype=dtype, device=device))
        if bias:
            self.bias_ih = Parameter(empty(num_chunks * hidden_size, dtype=dtype, device=device))
            self.bias_hh = Parameter(empty(num_chunks * hidden_size, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        _reset_uniform(self)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _forward(self, mode, input, states, state_names):
        """The step for ``mode`` from ``states`` (a tuple, or None for zeros); ``state_names`` name
        them in errors. Returns the next states, unbatched like the input."""
        name = type(self).__name__
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        if states is not None:
            for state_name, state in zip(state_names, states):
                if state.dim() not in (1, 2):
                    raise ValueError(f"{name}: Expected {state_name} to be 1D or 2D, got {state.dim()}D "
                                     f"instead")
                if state.dim() != input.dim():
                    raise RuntimeError(f"{name}: {state_name} of shape {tuple(state.shape)} does not match "
                                       f"the {input.dim()}D input of shape {tuple(input.shape)}")
        batched = input.dim() == 2
        if not batched:
            input = input.unsqueeze(0)
            states = None if states is None else tuple(s.unsqueeze(0) for s in states)
        if input.shape[1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.shape[1]} expected "
                               f"{self.input_size}")
        batch = input.shape[0]
        for k, state in enumerate(states or ()):
            if state.shape[0] != batch:
                raise RuntimeError(f"Input batch size {batch} doesn't match hidden{k} batch size "
                                   f"{state.shape[0]}")
            if state.shape[1] != self.hidden_size:
                raise RuntimeError(f"hidden{k} has inconsistent hidden_size: got {state.shape[1]}, expected "
                                   f"{self.hidden_size}")
        _check_dtype(name, input, self.weight_ih, states or ())
        count = len(state_names)
        state = _packed_state(states, (2,) * (count - 1) + (batch, self.hidden_size), input, 0)
        projected = _projection(mode, input, self.weight_ih, self.bias_ih, self.bias_hh, state)
        states = _unpacked_state(_step(mode, projected, state, self.weight_hh, self.bias_hh), count, 0)
        return states if batched else tuple(s.squeeze(0) for s in states)


class RNNCell(RNNCellBase):
    """``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (``nonlinearity`` 'tanh' or 'relu').
    ``forward(input, hx=None)`` returns h'; see ``RNNCellBase`` for shapes."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        mode = "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU"
        return self._forward(mode, input, None if hx is None else (hx,), ("hidden",))[0]


class LSTMCell(RNNCellBase):
    """One LSTM step (gates as in ``LSTM``). ``forward(input, (h, c)=None)`` returns ``(h', c')``;
    see ``RNNCellBase`` for shapes."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        states = None if hx is None else _as_states("LSTMCell", hx, 2)
        return self._forward("LSTM", input, states, ("hx[0]", "hx[1]"))


class GRUCell(RNNCellBase):
    """One GRU step (gates as in ``GRU``). ``forward(input, hx=None)`` returns h'; see
    ``RNNCellBase`` for shapes."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        return self._forward("GRU", input, None if hx is None else (hx,), ("hidden",))[0]
