"""The CUDA LSTM and GRU cells (recurrent.cu) through CuPy: a time step's gate math fused into one
kernel each, one thread per (sample, hidden unit), with the signatures and returned tuples of the NumPy
references in kernels/recurrent.py. Gates in PyTorch's order: LSTM (input, forget, cell, output),
GRU (reset, update, new)."""

from ..registry import register
from . import runtime

_INSTANTIATIONS = runtime.instantiations("lstm_cell_forward", "lstm_cell_backward", "gru_cell_forward",
                                          "gru_cell_backward")


def _launch(kernel, count, *args):
    """recurrent.cu's ``kernel`` on ``count`` threads (see ``runtime.launch``)."""
    runtime.launch("recurrent", _INSTANTIATIONS, kernel, count, *args)


def _operands(op, pairs):
    """(N, H, the arrays of ``pairs`` C-contiguous) after checking that each (array, G) of ``pairs`` is
    (N, G * H), with N and H those of the first one whose G is 1: the kernels index them so."""
    cp = runtime.cupy()
    state = next(array for array, gates in pairs if gates == 1)
    batch, hidden = state.shape if state.ndim == 2 else (-1, -1)
    if any(array.shape != (batch, gates * hidden) for array, gates in pairs):
        expected = ", ".join("(N, H)" if gates == 1 else f"(N, {gates}H)" for _, gates in pairs)
        raise ValueError(f"{op}: expected shapes {expected}, got {', '.join(str(a.shape) for a, _ in pairs)}")
    return batch, hidden, tuple(cp.ascontiguousarray(array) for array, _ in pairs)


def lstm_cell_forward(gates, c_prev):
    """One LSTM step from ``gates`` (N, 4H) = x W_ih^T + b_ih + b_hh + h W_hh^T and ``c_prev``
    (N, H)::

        i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of gates;  c = f c_prev + i g;  h = o tanh(c)

    Returns (hc (2, N, H): h and c stacked, acts (N, 4H): i, f, g, o, tanh_c (N, H))."""
    cp = runtime.cupy()
    batch, hidden, (gates, c_prev) = _operands("lstm_cell_forward", [(gates, 4), (c_prev, 1)])
    hc, acts, tanh_c = cp.empty((2,) + c_prev.shape, gates.dtype), cp.empty_like(gates), cp.empty_like(c_prev)
    _launch("lstm_cell_forward", batch * hidden, gates, c_prev, hc, acts, tanh_c, batch, hidden)
    return hc, acts, tanh_c


def lstm_cell_backward(grad_h, grad_c, acts, tanh_c, c_prev):
    """Gradients of ``lstm_cell_forward`` from those of h and c (N, H) and what it returned:
    (grad_gates (N, 4H), grad_c_prev (N, H))."""
    cp = runtime.cupy()
    batch, hidden, (grad_h, grad_c, acts, tanh_c, c_prev) = _operands(
        "lstm_cell_backward", [(grad_h, 1), (grad_c, 1), (acts, 4), (tanh_c, 1), (c_prev, 1)])
    grad_gates, grad_c_prev = cp.empty_like(acts), cp.empty_like(c_prev)
    _launch("lstm_cell_backward", batch * hidden, grad_h, grad_c, acts, tanh_c, c_prev, grad_gates, grad_c_prev,
            batch, hidden)
    return grad_gates, grad_c_prev


def gru_cell_forward(projected, hidden_gates, h_prev):
    """One GRU step from the input's gate pre-activations ``projected`` (N, 3H) = x W_ih^T + b_ih,
    the hidden state's ``hidden_gates`` (N, 3H) = h W_hh^T + b_hh and ``h_prev`` (N, H)::

        r, z = sigmoid(projected_{r,z} + hidden_gates_{r,z})
        n = tanh(projected_n + r hidden_gates_n);  h = (1 - z) n + z h_prev

    Returns (h (N, H), acts (N, 3H): r, z, n)."""
    cp = runtime.cupy()
    batch, hidden, (projected, hidden_gates, h_prev) = _operands(
        "gru_cell_forward", [(projected, 3), (hidden_gates, 3), (h_prev, 1)])
    h, acts = cp.empty_like(h_prev), cp.empty_like(projected)
    _launch("gru_cell_forward", batch * hidden, projected, hidden_gates, h_prev, h, acts, batch, hidden)
    return h, acts


def gru_cell_backward(grad_h, acts, hidden_gates, h_prev):
    """Gradients of ``gru_cell_forward`` from that of h (N, H): (grad_projected (N, 3H),
    grad_hidden_gates (N, 3H), grad_h * z (N, H): the share of h_prev's gradient that does not go
    through the weights)."""
    cp = runtime.cupy()
    batch, hidden, (grad_h, acts, hidden_gates, h_prev) = _operands(
        "gru_cell_backward", [(grad_h, 1), (acts, 3), (hidden_gates, 3), (h_prev, 1)])
    grad_projected, grad_hidden_gates, grad_h_prev = cp.empty_like(acts), cp.empty_like(acts), cp.empty_like(h_prev)
    _launch("gru_cell_backward", batch * hidden, grad_h, acts, hidden_gates, h_prev, grad_projected,
            grad_hidden_gates, grad_h_prev, batch, hidden)
    return grad_projected, grad_hidden_gates, grad_h_prev


for _op, _function in (("lstm_cell_forward", lstm_cell_forward), ("lstm_cell_backward", lstm_cell_backward),
                       ("gru_cell_forward", gru_cell_forward), ("gru_cell_backward", gru_cell_backward)):
    register(_op, "cuda", "cupy", runtime.loader(_function))
