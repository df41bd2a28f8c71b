"""Adam and AdamW: per-coordinate steps from bias-corrected moving averages of the gradient and of
its square."""
from .. import kernels
from ..engine import Tensor, no_grad
from ..engine.cuda_graphs import is_current_stream_capturing
from ..engine.device import array_module
from .optimizer import Optimizer, _check_capture, _check_non_negative, _grads, _group_scalar, _increment, _step_counter

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2014), as ``torch.optim.Adam``.

    With gradient :math:`g_t` (negated when ``maximize``), per step :math:`t = 1, 2, ...`:

    .. math::
        g_t &\leftarrow g_t + \lambda\theta_{t-1} \text{ (or } \theta_{t-1} \leftarrow
              (1 - \gamma\lambda)\theta_{t-1} \text{ when decoupled)}                 \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t                                      \\
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2) g_t^2
              \quad (\hat v_t = \max(\hat v_{t-1}, v_t) \text{ replaces } v_t \text{ with amsgrad}) \\
        \theta_t &= \theta_{t-1} - \frac{\gamma}{1 - \beta_1^t}\,
                    \frac{m_t}{\sqrt{v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    Args:
        params: parameters or parameter groups to optimize.
        lr (float): learning rate :math:`\gamma` (default: 1e-3).
        betas (tuple of two floats): :math:`(\beta_1, \beta_2)` (default: (0.9, 0.999)).
        eps (float): added to the denominator (default: 1e-8).
        weight_decay (float): :math:`\lambda` (default: 0).
        amsgrad (bool): use the running maximum of :math:`v_t` (default: False).
        maximize (bool): maximize the objective instead of minimizing it (default: False).
        decoupled_weight_decay (bool): AdamW's decay of the weights instead of an L2 term in the
            gradient (default: False).
        capturable (bool): keep the step count on the parameter's GPU, so that a CUDA graph can hold
            the step (``ember.cuda.graph``); needed there, as in PyTorch (default: False).
        foreach, fused: accepted for PyTorch compatibility; ember has one implementation.
        differentiable: only False is supported.

    The state of each parameter is ``{"step", "exp_avg", "exp_avg_sq"}`` (and ``"max_exp_avg_sq"``
    with amsgrad).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        _check_non_negative(lr=lr, eps=eps)
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        _check_non_negative(weight_decay=weight_decay)
        if not all(isinstance(beta, float) for beta in betas):
            raise ValueError("betas must be either both floats or both Tensors")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable, "fused": fused,
                    "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    @no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps, weight_decay, amsgrad = group["lr"], group["eps"], group["weight_decay"], group["amsgrad"]
            maximize, decoupled = group["maximize"], group["decoupled_weight_decay"]
            grads = _grads(group)
            _check_capture(self, group, any(len(self.state[p]) == 0 for p, _ in grads), live=("lr", "betas"))
            for p, grad in grads:
                param = p._data
                xp = array_module(param)
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _step_counter()
                    state["exp_avg"] = Tensor(xp.zeros_like(param))
                    state["exp_avg_sq"] = Tensor(xp.zeros_like(param))
                    if amsgrad:
                        state["max_exp_avg_sq"] = Tensor(xp.zeros_like(param))
                step = _next_step(state, group["capturable"], p)
                if not isinstance(step, float):  # counted on the device: lr and betas may live there too
                    lr = _group_scalar(group, "lr", "float64")
                    beta1, beta2 = (_group_scalar(group, "betas", "float64", i) for i in (0, 1))
                max_exp_avg_sq = state["max_exp_avg_sq"]._data if amsgrad else None
                kernels.dispatch("adam_step", param)(
                    param, grad, state["exp_avg"]._data, state["exp_avg_sq"]._data, max_exp_avg_sq, lr, beta1,
                    beta2, eps, weight_decay, decoupled, maximize, step)
                p._version[0] += 1
        return loss


def _next_step(state, capturable, param):
    """The parameter's step count plus one, stored back: a Python float, or with ``capturable`` on a
    GPU a 0-d device array, counted on the device, that the update reads there (a CUDA-graph replay then
    advances it; a count on the host would stay what it was at the capture)."""
    if not (capturable and param.device.type == "cuda"):
        if is_current_stream_capturing():
            raise RuntimeError("Adam.step: a CUDA-graph capture needs the step count on the GPU: build the "
                               "optimizer with capturable=True")
        return _increment(state["step"])
    count = state["step"]
    if count.device != param.device:  # a fresh or loaded count starts on the host: moved once
        count = state["step"] = count.to(param.device)
    count._data += 1
    return count._data


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2017), as ``torch.optim.AdamW``:
    each step first shrinks the weights, :math:`\theta \leftarrow (1 - \gamma\lambda)\theta`, then
    takes Adam's step without the decay in the gradient. ``weight_decay`` defaults to 1e-2; the
    other arguments are :class:`Adam`'s."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
