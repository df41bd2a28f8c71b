"""Fused LSTM and GRU: one time step (``LSTMStep``, ``GRUStep``, for the cells) or a whole layer
direction over a sequence (``LSTMLayer``, ``GRULayer``, for the multi-layer modules).

Op by op, an LSTM step is a dozen graph nodes forward and a few dozen Tensor ops backward, and that
per-op overhead, not the arithmetic, dominates. Here a step is the product with ``weight_hh`` (NumPy's
BLAS) and one fused kernel over the gates (``ember.kernels``' lstm_cell_* / gru_cell_*); a layer
Function runs all T steps in one node, and in backward sums the T weight gradients with one product
over the whole sequence instead of T small ones.

Backward evaluates the gradient in one of two ways. When nothing records the backward (the usual
``loss.backward()``), with the backward kernels on raw arrays and the activations forward kept.
Under ``create_graph=True``, with Tensor ops: the activations are recomputed from the saved inputs,
so the gradient is differentiable again (double backward).

PyTorch has no public functional form of these, so nothing here is exported (``__all__`` is empty).
"""
import numpy as np

from ... import kernels
from ..device import array_module
from ..function import Function
from ..grad_mode import is_grad_enabled
from ..tensor import Tensor
from .elementwise import sigmoid, tanh
from .nn_ops import Linear
from .shape import cat, stack

__all__ = []


def _kernel(op, array):
    """The kernel serving ``op`` for ``array``; the compiled kernels take float32/float64, so half
    precision runs on the NumPy reference."""
    if array.dtype.itemsize >= 4:
        return kernels.dispatch(op, array)
    return kernels.implementation(op, "cpu", "numpy")


def _chunks(x, n):
    """The ``n`` equal pieces of the last dim of Tensor ``x``, as views."""
    size = x.shape[-1] // n
    return [x[..., k * size:(k + 1) * size] for k in range(n)]


def _as_tensors(grads):
    return tuple(None if g is None else Tensor(g) for g in grads)


def _weight_gradient(grad_gates, inputs):
    """sum over steps and rows of grad_gates^T inputs, for (T, N, G) and (T, N, H): one product."""
    return kernels.matmul(grad_gates.reshape(-1, grad_gates.shape[-1]).T, inputs.reshape(-1, inputs.shape[-1]))


# ---- LSTM ----------------------------------------------------------------------------------------

def _lstm_step_tensor_gradients(needs, grad, projected, hc, weight):
    """Gradients of one LSTM step with respect to (projected, hc, weight_hh), in Tensor ops (so they
    are differentiable again), the activations recomputed from the step's inputs."""
    gates = Linear.apply(hc[0], weight, projected)
    i, f, _, o = _chunks(sigmoid(gates), 4)
    g = tanh(_chunks(gates, 4)[2])
    grad_h, grad_c = grad[0], grad[1]
    tanh_c = tanh(f * hc[1] + i * g)
    # c' reaches the loss directly and through h' = o tanh(c'), where d tanh = 1 - tanh^2
    grad_c = grad_c + grad_h * o * (1 - tanh_c * tanh_c)
    # through the nonlinearities: sigmoid' = s (1 - s), tanh' = 1 - t^2
    grad_gates = cat([grad_c * g * i * (1 - i), grad_c * hc[1] * f * (1 - f),
                      grad_c * i * (1 - g * g), grad_h * tanh_c * o * (1 - o)], -1)
    # gates = projected + h W^T
    grad_hc = stack([grad_gates @ weight, grad_c * f]) if needs[1] else None
    grad_weight = grad_gates.T @ hc[0] if needs[2] else None
    return grad_gates if needs[0] else None, grad_hc, grad_weight


def _lstm_step_forward(projected, hc, weight_hh, cell_forward):
    """(hc', acts, tanh_c) of one step on arrays, ``cell_forward`` the lstm_cell_forward kernel."""
    gates = kernels.matmul(hc[0], weight_hh.T)
    gates += projected
    return cell_forward(gates, hc[1])


class LSTMStep(Function):
    """One LSTM step. ``projected`` (N, 4H) is the input's share of the gate pre-activations,
    ``x W_ih^T + b_ih + b_hh``; ``hc`` (2, N, H) the previous h and c stacked; ``weight_hh``
    (4H, H). With the gates in PyTorch's order (input, forget, cell, output)::

        i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (projected + h W_hh^T)
        c' = f * c + i * g;  h' = o * tanh(c')

    Returns h' and c' stacked: (2, N, H)."""

    @staticmethod
    def forward(ctx, projected, hc, weight_hh):
        out, ctx.acts, ctx.tanh_c = _lstm_step_forward(projected, hc, weight_hh,
                                                       _kernel("lstm_cell_forward", hc))
        ctx.save_for_backward(projected, hc, weight_hh)
        return out

    @staticmethod
    def backward(ctx, grad):
        projected, hc, weight = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if is_grad_enabled():
            return _lstm_step_tensor_gradients(needs, grad, projected, hc, weight)
        grad, hc, weight = grad._data, hc._data, weight._data
        grad_gates, grad_c = _kernel("lstm_cell_backward", grad)(grad[0], grad[1], ctx.acts, ctx.tanh_c, hc[1])
        grad_hc = None
        if needs[1]:
            grad_hc = np.empty_like(hc)
            grad_hc[0] = kernels.matmul(grad_gates, weight)
            grad_hc[1] = grad_c
        return _as_tensors((grad_gates if needs[0] else None, grad_hc,
                            kernels.matmul(grad_gates.T, hc[0]) if needs[2] else None))


def _time_order(length, reverse):
    return range(length - 1, -1, -1) if reverse else range(length)


def _previous_states(states, initial, reverse):
    """The state each step started from, for every step's output ``states`` (T, *) in input order:
    the initial state, then the states shifted one step along the direction of time. Contiguous."""
    previous = array_module(states).empty(states.shape, dtype=states.dtype)
    if reverse:
        previous[-1], previous[:-1] = initial, states[1:]
    else:
        previous[0], previous[1:] = initial, states[:-1]
    return previous


class LSTMLayer(Function):
    """An LSTM over a whole sequence, one direction: ``LSTMStep`` at every step, as one node.
    ``projected`` (T, N, 4H) is the input's share of the gates at every step, ``hc`` (2, N, H) the
    initial h and c, ``weight_hh`` (4H, H); with ``reverse`` the steps run from T-1 down to 0.
    Returns every step's h and c: (T, 2, N, H), in input order."""

    @staticmethod
    def forward(ctx, projected, hc, weight_hh, reverse):
        states = array_module(hc).empty((projected.shape[0],) + hc.shape, dtype=projected.dtype)
        ctx.acts, ctx.tanh_c = [None] * len(states), [None] * len(states)
        cell_forward = _kernel("lstm_cell_forward", hc)
        state = hc
        for t in _time_order(len(states), reverse):
            state, ctx.acts[t], ctx.tanh_c[t] = _lstm_step_forward(projected[t], state, weight_hh, cell_forward)
            states[t] = state
        ctx.reverse = reverse
        ctx.save_for_backward(projected, hc, weight_hh, states)
        return states

    @staticmethod
    def backward(ctx, grad):
        projected, hc, weight, states = ctx.saved_tensors
        if is_grad_enabled():
            return _lstm_layer_tensor_gradients(ctx, grad, projected, hc, weight, states)
        grad, hc, weight, states = grad._data, hc._data, weight._data, states._data
        backward_step = _kernel("lstm_cell_backward", grad)
        grad_gates = np.empty_like(projected._data)
        previous_h = _previous_states(states[:, 0], hc[0], ctx.reverse)
        previous_c = _previous_states(states[:, 1], hc[1], ctx.reverse)
        steps = _time_order(len(states), ctx.reverse)
        # the gradient reaching the state each step returned: from the output, and from the next step
        grad_h, grad_c = grad[steps[-1], 0], grad[steps[-1], 1]
        for k in range(len(steps) - 1, -1, -1):
            t = steps[k]
            grad_gates[t], grad_c = backward_step(grad_h, grad_c, ctx.acts[t], ctx.tanh_c[t], previous_c[t])
            grad_h = kernels.matmul(grad_gates[t], weight)
            if k:
                grad_h += grad[steps[k - 1], 0]
                grad_c += grad[steps[k - 1], 1]
        needs = ctx.needs_input_grad
        return _as_tensors((grad_gates if needs[0] else None,
                            np.stack([grad_h, grad_c]) if needs[1] else None,
                            _weight_gradient(grad_gates, previous_h) if needs[2] else None, None))


def _lstm_layer_tensor_gradients(ctx, grad, projected, hc, weight, states):
    """``LSTMLayer``'s gradients in Tensor ops (create_graph): the steps' gradients, last step first."""
    needs = ctx.needs_input_grad
    steps = list(_time_order(len(states), ctx.reverse))
    grad_projected, grad_weight = [None] * len(steps), None
    grad_state = grad[steps[-1]]
    for k in range(len(steps) - 1, -1, -1):
        t = steps[k]
        previous = states[steps[k - 1]] if k else hc
        grad_projected[t], grad_previous, grad_weight_t = _lstm_step_tensor_gradients(
            (True, True, needs[2]), grad_state, projected[t], previous, weight)
        if needs[2]:
            grad_weight = grad_weight_t if grad_weight is None else grad_weight + grad_weight_t
        grad_state = grad_previous + grad[steps[k - 1]] if k else grad_previous
    return (stack(grad_projected) if needs[0] else None, grad_state if needs[1] else None, grad_weight, None)


# ---- GRU -----------------------------------------------------------------------------------------

def _gru_step_tensor_gradients(needs, grad, projected, h, weight, bias):
    """Gradients of one GRU step with respect to (projected, h, weight_hh, bias_hh), in Tensor ops
    (so they are differentiable again), the activations recomputed from the step's inputs."""
    hidden = h.shape[-1]
    hidden_gates = Linear.apply(h, weight, bias)
    r, z = _chunks(sigmoid(projected[..., :2 * hidden] + hidden_gates[..., :2 * hidden]), 2)
    hidden_n = hidden_gates[..., 2 * hidden:]
    n = tanh(projected[..., 2 * hidden:] + r * hidden_n)
    grad_n = grad * (1 - z) * (1 - n * n)                 # h' = n + z (h - n); tanh' = 1 - n^2
    grad_rz = cat([grad_n * hidden_n * r * (1 - r),       # sigmoid' = s (1 - s)
                   grad * (h - n) * z * (1 - z)], -1)
    grad_hidden = cat([grad_rz, grad_n * r], -1)          # of h W_hh^T + b_hh
    grad_h = grad * z + grad_hidden @ weight if needs[1] else None
    grad_weight = grad_hidden.T @ h if needs[2] else None
    grad_bias = grad_hidden.sum(0) if needs[3] else None
    return cat([grad_rz, grad_n], -1) if needs[0] else None, grad_h, grad_weight, grad_bias


def _gru_hidden_gates(h, weight_hh, bias_hh):
    hidden_gates = kernels.matmul(h, weight_hh.T)
    if bias_hh is not None:
        hidden_gates += bias_hh
    return hidden_gates


class GRUStep(Function):
    """One GRU step. ``projected`` (N, 3H) is ``x W_ih^T + b_ih``, ``h`` (N, H) the previous
    hidden state, ``weight_hh`` (3H, H) and ``bias_hh`` (3H) or None. With the gates in PyTorch's
    order (reset, update, new)::

        r, z = sigmoid(projected_{r,z} + h W_h{r,z}^T + b_h{r,z})
        n = tanh(projected_n + r * (h W_hn^T + b_hn));  h' = (1 - z) * n + z * h

    Returns h' (N, H)."""

    @staticmethod
    def forward(ctx, projected, h, weight_hh, bias_hh):
        ctx.hidden_gates = _gru_hidden_gates(h, weight_hh, bias_hh)
        out, ctx.acts = _kernel("gru_cell_forward", h)(projected, ctx.hidden_gates, h)
        ctx.save_for_backward(projected, h, weight_hh, bias_hh)
        return out

    @staticmethod
    def backward(ctx, grad):
        projected, h, weight, bias = ctx.saved_tensors
        needs = ctx.needs_input_grad
        if is_grad_enabled():
            return _gru_step_tensor_gradients(needs, grad, projected, h, weight, bias)
        h = h._data
        grad_projected, grad_hidden, grad_h = _kernel("gru_cell_backward", h)(
            grad._data, ctx.acts, ctx.hidden_gates, h)
        if needs[1]:
            grad_h += kernels.matmul(grad_hidden, weight._data)
        return _as_tensors((grad_projected if needs[0] else None, grad_h if needs[1] else None,
                            kernels.matmul(grad_hidden.T, h) if needs[2] else None,
                            grad_hidden.sum(0) if needs[3] else None))


class GRULayer(Function):
    """A GRU over a whole sequence, one direction: ``GRUStep`` at every step, as one node.
    ``projected`` (T, N, 3H), ``h`` (N, H) the initial state, ``weight_hh`` (3H, H), ``bias_hh``
    (3H) or None; with ``reverse`` the steps run from T-1 down to 0. Returns every step's h:
    (T, N, H), in input order."""

    @staticmethod
    def forward(ctx, projected, h, weight_hh, bias_hh, reverse):
        states = array_module(h).empty((projected.shape[0],) + h.shape, dtype=projected.dtype)
        forward_step = _kernel("gru_cell_forward", h)
        ctx.acts, ctx.hidden_gates = [None] * len(states), [None] * len(states)
        state = h
        for t in _time_order(len(states), reverse):
            ctx.hidden_gates[t] = _gru_hidden_gates(state, weight_hh, bias_hh)
            state, ctx.acts[t] = forward_step(projected[t], ctx.hidden_gates[t], state)
            states[t] = state
        ctx.reverse = reverse
        ctx.save_for_backward(projected, h, weight_hh, bias_hh, states)
        return states

    @staticmethod
    def backward(ctx, grad):
        projected, h, weight, bias, states = ctx.saved_tensors
        if is_grad_enabled():
            return _gru_layer_tensor_gradients(ctx, grad, projected, h, weight, bias, states)
        grad, h, weight, states = grad._data, h._data, weight._data, states._data
        backward_step = _kernel("gru_cell_backward", grad)
        grad_projected = np.empty_like(projected._data)
        grad_hidden = np.empty_like(grad_projected)
        previous = _previous_states(states, h, ctx.reverse)
        steps = _time_order(len(states), ctx.reverse)
        grad_h = grad[steps[-1]]
        for k in range(len(steps) - 1, -1, -1):
            t = steps[k]
            grad_projected[t], grad_hidden[t], grad_direct = backward_step(
                grad_h, ctx.acts[t], ctx.hidden_gates[t], previous[t])
            grad_h = kernels.matmul(grad_hidden[t], weight)
            grad_h += grad_direct
            if k:
                grad_h += grad[steps[k - 1]]
        needs = ctx.needs_input_grad
        return _as_tensors((grad_projected if needs[0] else None, grad_h if needs[1] else None,
                            _weight_gradient(grad_hidden, previous) if needs[2] else None,
                            grad_hidden.sum((0, 1)) if needs[3] else None, None))


def _gru_layer_tensor_gradients(ctx, grad, projected, h, weight, bias, states):
    """``GRULayer``'s gradients in Tensor ops (create_graph): the steps' gradients, last step first."""
    needs = ctx.needs_input_grad
    steps = list(_time_order(len(states), ctx.reverse))
    grad_projected, grad_weight, grad_bias = [None] * len(steps), None, None
    grad_state = grad[steps[-1]]
    for k in range(len(steps) - 1, -1, -1):
        t = steps[k]
        previous = states[steps[k - 1]] if k else h
        grad_projected[t], grad_previous, grad_weight_t, grad_bias_t = _gru_step_tensor_gradients(
            (True, True, needs[2], needs[3]), grad_state, projected[t], previous, weight, bias)
        if needs[2]:
            grad_weight = grad_weight_t if grad_weight is None else grad_weight + grad_weight_t
        if needs[3]:
            grad_bias = grad_bias_t if grad_bias is None else grad_bias + grad_bias_t
        grad_state = grad_previous + grad[steps[k - 1]] if k else grad_previous
    return (stack(grad_projected) if needs[0] else None, grad_state if needs[1] else None, grad_weight,
            grad_bias, None)
