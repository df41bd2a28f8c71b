"""Kernels of the LSTM and GRU cells: a time step's gate nonlinearities and state update, forward
and backward, on the gate pre-activations (the products with the weights stay with the caller, in
NumPy's BLAS). Gates are in PyTorch's order: LSTM (input, forget, cell, output), GRU (reset,
update, new)."""
import numpy as np

from .cpu_extension import kernel
from .registry import register


def _sigmoid(x):
    # 1 / (1 + e^-x): e^-x overflows to inf for very negative x, and 1 / inf = 0 is the right limit
    with np.errstate(over="ignore"):
        denominator = np.exp(-x)
    denominator += 1
    return np.reciprocal(denominator, out=denominator)


def lstm_cell_forward(gates, c_prev):
    """One LSTM step from ``gates`` (N, 4H) = x W_ih^T + b_ih + b_hh + h W_hh^T and ``c_prev``
    (N, H)::

        i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of gates;  c = f c_prev + i g;  h = o tanh(c)

    Returns (hc (2, N, H): h and c stacked, acts (N, 4H): i, f, g, o, tanh_c (N, H)); acts and
    tanh_c are what ``lstm_cell_backward`` needs."""
    hidden = c_prev.shape[-1]
    acts = _sigmoid(gates)
    i, f, g, o = (acts[:, k * hidden:(k + 1) * hidden] for k in range(4))
    np.tanh(gates[:, 2 * hidden:3 * hidden], out=g)
    hc = np.empty((2,) + c_prev.shape, dtype=acts.dtype)
    np.multiply(f, c_prev, out=hc[1])
    hc[1] += i * g
    tanh_c = np.tanh(hc[1])
    np.multiply(o, tanh_c, out=hc[0])
    return hc, acts, tanh_c


def lstm_cell_backward(grad_h, grad_c, acts, tanh_c, c_prev):
    """Gradients of ``lstm_cell_forward`` from those of h and c (N, H) and what it returned:
    (grad_gates (N, 4H), grad_c_prev (N, H))."""
    hidden = c_prev.shape[-1]
    i, f, g, o = (acts[:, k * hidden:(k + 1) * hidden] for k in range(4))
    # c reaches the loss directly and through h = o tanh(c), where d tanh = 1 - tanh^2
    grad_c = grad_c + grad_h * o * (1 - tanh_c * tanh_c)
    grad_gates = np.concatenate([grad_c * g * i * (1 - i), grad_c * c_prev * f * (1 - f),
                                 grad_c * i * (1 - g * g), grad_h * tanh_c * o * (1 - o)], -1)
    return grad_gates, grad_c * f


def gru_cell_forward(projected, hidden_gates, h_prev):
    """One GRU step from the input's gate pre-activations ``projected`` (N, 3H) = x W_ih^T + b_ih,
    the hidden state's ``hidden_gates`` (N, 3H) = h W_hh^T + b_hh and ``h_prev`` (N, H)::

        r, z = sigmoid(projected_{r,z} + hidden_gates_{r,z})
        n = tanh(projected_n + r hidden_gates_n);  h = (1 - z) n + z h_prev

    Returns (h (N, H), acts (N, 3H): r, z, n)."""
    hidden = h_prev.shape[-1]
    r, z = np.split(_sigmoid(projected[:, :2 * hidden] + hidden_gates[:, :2 * hidden]), 2, axis=1)
    n = np.tanh(projected[:, 2 * hidden:] + r * hidden_gates[:, 2 * hidden:])
    return n + z * (h_prev - n), np.concatenate([r, z, n], -1)


def gru_cell_backward(grad_h, acts, hidden_gates, h_prev):
    """Gradients of ``gru_cell_forward`` from that of h (N, H): (grad_projected (N, 3H),
    grad_hidden_gates (N, 3H), grad_h * z (N, H): the share of h_prev's gradient that does not go
    through the weights)."""
    hidden = h_prev.shape[-1]
    r, z, n = np.split(acts, 3, axis=1)
    grad_n = grad_h * (1 - z) * (1 - n * n)                 # h = n + z (h_prev - n); tanh' = 1 - n^2
    grad_rz = np.concatenate([grad_n * hidden_gates[:, 2 * hidden:] * r * (1 - r),
                              grad_h * (h_prev - n) * z * (1 - z)], -1)
    return (np.concatenate([grad_rz, grad_n], -1), np.concatenate([grad_rz, grad_n * r], -1),
            grad_h * z)


for _op, _reference in [("lstm_cell_forward", lstm_cell_forward), ("lstm_cell_backward", lstm_cell_backward),
                        ("gru_cell_forward", gru_cell_forward), ("gru_cell_backward", gru_cell_backward)]:
    register(_op, "cpu", "cpp", kernel(_op))
    register(_op, "cpu", "numpy", lambda reference=_reference: reference)
