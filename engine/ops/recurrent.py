"""Fused time steps of the LSTM and GRU, for ``ember.nn``'s recurrent layers and cells.

A recurrent layer runs its cell once per time step, so every op of a step costs a graph node per
step: op by op, an LSTM step is a dozen nodes forward and a few dozen Tensor ops backward, and
that overhead, not the arithmetic, would dominate. Here a step (the product with ``weight_hh``,
the gate nonlinearities and the state update) is one Function, forward in one pass over raw arrays.

Backward evaluates one gradient formula in one of two ways. When nothing records the backward
(the usual ``loss.backward()``), on the raw arrays, with the activations that forward kept. Under
``create_graph=True``, on Tensors: the activations are recomputed from the saved inputs with Tensor
ops, so the gradient is differentiable again (double backward).

PyTorch has no public functional form of these, so nothing here is exported (``__all__`` is empty).
"""
from types import SimpleNamespace

from ..device import array_module
from ..function import Function
from ..grad_mode import is_grad_enabled
from ..tensor import Tensor
from .elementwise import _sigmoid_forward, sigmoid, tanh
from .nn_ops import Linear
from .shape import cat, stack

__all__ = []

# The few operations whose spelling differs between Tensors and arrays (the arithmetic does not).
_TENSOR_OPS = SimpleNamespace(cat=cat, stack=stack, sigmoid=sigmoid, tanh=tanh)


def _array_ops(xp):
    return SimpleNamespace(cat=xp.concatenate, stack=xp.stack, sigmoid=lambda x: _sigmoid_forward(xp, x),
                           tanh=xp.tanh)


def _chunks(x, n):
    """The ``n`` equal pieces of the last dim of ``x`` (a Tensor or an array), as views."""
    size = x.shape[-1] // n
    return [x[..., k * size:(k + 1) * size] for k in range(n)]


def _as_tensors(grads):
    return tuple(None if g is None else Tensor(g) for g in grads)


# ---- LSTM ----------------------------------------------------------------------------------------

def _lstm_gradients(ops, needs, grad, hc, weight, i, f, g, o, tanh_c):
    """Gradients of ``LSTMStep`` with respect to (projected, hc, weight_hh), in operations that
    arrays and Tensors share (``ops`` spells the others); ``i, f, g, o`` are the activated gates and
    ``tanh_c`` is tanh(c')."""
    grad_h, grad_c = grad[0], grad[1]
    # c' reaches the loss directly and through h' = o tanh(c'), where d tanh = 1 - tanh^2
    grad_c = grad_c + grad_h * o * (1 - tanh_c * tanh_c)
    # through the nonlinearities: sigmoid' = s (1 - s), tanh' = 1 - t^2
    grad_gates = ops.cat([grad_c * g * i * (1 - i), grad_c * hc[1] * f * (1 - f),
                          grad_c * i * (1 - g * g), grad_h * tanh_c * o * (1 - o)], -1)
    # gates = projected + h W^T
    grad_hc = ops.stack([grad_gates @ weight, grad_c * f]) if needs[1] else None
    grad_weight = grad_gates.T @ hc[0] if needs[2] else None
    return grad_gates if needs[0] else None, grad_hc, grad_weight


class LSTMStep(Function):
    """One LSTM step. ``projected`` (N, 4H) is the input's share of the gate pre-activations,
    ``x W_ih^T + b_ih + b_hh``; ``hc`` (2, N, H) the previous h and c stacked; ``weight_hh``
    (4H, H). With the gates in PyTorch's order (input, forget, cell, output)::

        i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (projected + h W_hh^T)
        c' = f * c + i * g;  h' = o * tanh(c')

    Returns h' and c' stacked: (2, N, H)."""

    @staticmethod
    def forward(ctx, projected, hc, weight_hh):
        xp = array_module(hc)
        gates = hc[0] @ weight_hh.T
        gates += projected
        # one sigmoid over all four gates, then the cell gate's tanh over its quarter
        acts = _sigmoid_forward(xp, gates)
        i, f, g, o = _chunks(acts, 4)
        xp.tanh(_chunks(gates, 4)[2], out=g)
        out = xp.empty(hc.shape, dtype=acts.dtype)
        h_new, c_new = out[0], out[1]
        xp.multiply(f, hc[1], out=c_new)
        c_new += i * g
        tanh_c = xp.tanh(c_new)
        xp.multiply(o, tanh_c, out=h_new)
        ctx.acts, ctx.tanh_c = acts, tanh_c
        ctx.save_for_backward(projected, hc, weight_hh, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        projected, hc, weight, out = ctx.saved_tensors
        if is_grad_enabled():
            gates = Linear.apply(hc[0], weight, projected)
            i, f, _, o = _chunks(sigmoid(gates), 4)
            g = tanh(_chunks(gates, 4)[2])
            return _lstm_gradients(_TENSOR_OPS, ctx.needs_input_grad, grad, hc, weight, i, f, g, o,
                                   tanh(out[1]))
        i, f, g, o = _chunks(ctx.acts, 4)
        return _as_tensors(_lstm_gradients(_array_ops(array_module(grad._data)), ctx.needs_input_grad,
                                           grad._data, hc._data, weight._data, i, f, g, o, ctx.tanh_c))


# ---- GRU -----------------------------------------------------------------------------------------

def _gru_gradients(ops, needs, grad, h, weight, r, z, n, hidden_n):
    """Gradients of ``GRUStep`` with respect to (projected, h, weight_hh, bias_hh), in operations
    that arrays and Tensors share (``ops`` spells the others); ``r, z, n`` are the activated gates and
    ``hidden_n`` is h W_hn^T + b_hn."""
    grad_n = grad * (1 - z) * (1 - n * n)                 # h' = n + z (h - n); tanh' = 1 - n^2
    grad_rz = ops.cat([grad_n * hidden_n * r * (1 - r),   # sigmoid' = s (1 - s)
                       grad * (h - n) * z * (1 - z)], -1)
    grad_hidden = ops.cat([grad_rz, grad_n * r], -1)      # of h W_hh^T + b_hh
    grad_h = grad * z + grad_hidden @ weight if needs[1] else None
    grad_weight = grad_hidden.T @ h if needs[2] else None
    grad_bias = grad_hidden.sum(0) if needs[3] else None
    return ops.cat([grad_rz, grad_n], -1) if needs[0] else None, grad_h, grad_weight, grad_bias


def _gru_gates(ops, projected, hidden_gates, hidden):
    """(r, z, n) from the input's and the hidden state's gate pre-activations."""
    r, z = _chunks(ops.sigmoid(projected[..., :2 * hidden] + hidden_gates[..., :2 * hidden]), 2)
    return r, z, ops.tanh(projected[..., 2 * hidden:] + r * hidden_gates[..., 2 * hidden:])


class GRUStep(Function):
    """One GRU step. ``projected`` (N, 3H) is ``x W_ih^T + b_ih``, ``h`` (N, H) the previous
    hidden state, ``weight_hh`` (3H, H) and ``bias_hh`` (3H) or None. With the gates in PyTorch's
    order (reset, update, new)::

        r, z = sigmoid(projected_{r,z} + h W_h{r,z}^T + b_h{r,z})
        n = tanh(projected_n + r * (h W_hn^T + b_hn));  h' = (1 - z) * n + z * h

    Returns h' (N, H)."""

    @staticmethod
    def forward(ctx, projected, h, weight_hh, bias_hh):
        xp = array_module(h)
        hidden = h.shape[-1]
        hidden_gates = h @ weight_hh.T
        if bias_hh is not None:
            hidden_gates += bias_hh
        ctx.r, ctx.z, ctx.n = _gru_gates(_array_ops(xp), projected, hidden_gates, hidden)
        ctx.hidden_n = hidden_gates[..., 2 * hidden:]
        ctx.save_for_backward(projected, h, weight_hh, bias_hh)
        # (1 - z) n + z h = n + z (h - n)
        return ctx.n + ctx.z * (h - ctx.n)

    @staticmethod
    def backward(ctx, grad):
        projected, h, weight, bias = ctx.saved_tensors
        if is_grad_enabled():
            hidden_gates = Linear.apply(h, weight, bias)
            r, z, n = _gru_gates(_TENSOR_OPS, projected, hidden_gates, h.shape[-1])
            return _gru_gradients(_TENSOR_OPS, ctx.needs_input_grad, grad, h, weight, r, z, n,
                                  _chunks(hidden_gates, 3)[2])
        return _as_tensors(_gru_gradients(_array_ops(array_module(grad._data)), ctx.needs_input_grad,
                                          grad._data, h._data, weight._data, ctx.r, ctx.z, ctx.n,
                                          ctx.hidden_n))
