"""Adagrad: per-coordinate steps scaled by the root of the summed squared gradients."""
from ..engine import Tensor, no_grad
from ..engine.device import array_module
from .optimizer import Optimizer, _check_non_negative, _grads, _increment, _step_counter

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al., 2011), as ``torch.optim.Adagrad``.

    With gradient :math:`g_t` (negated when ``maximize``), per step :math:`t = 1, 2, ...`:

    .. math::
        g_t &\leftarrow g_t + \lambda\theta_{t-1}, \qquad
        \tilde\gamma_t = \gamma / (1 + (t - 1)\eta)                                     \\
        s_t &= s_{t-1} + g_t^2 \quad (s_0 = \text{initial\_accumulator\_value})         \\
        \theta_t &= \theta_{t-1} - \tilde\gamma_t\, g_t / (\sqrt{s_t} + \epsilon)

    Args:
        params: parameters or parameter groups to optimize.
        lr (float): learning rate :math:`\gamma` (default: 1e-2).
        lr_decay (float): learning-rate decay :math:`\eta` (default: 0).
        weight_decay (float): L2 penalty :math:`\lambda` (default: 0).
        initial_accumulator_value (float): starting value of the sums (default: 0). As in PyTorch,
            the constructor's value applies to every group, whatever a group sets.
        eps (float): added to the denominator (default: 1e-10).
        maximize (bool): maximize the objective instead of minimizing it (default: False).
        foreach, fused: accepted for PyTorch compatibility; ember has one implementation.
        differentiable: only False is supported.

    The state of each parameter, created with the optimizer, is ``{"step", "sum"}``.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check_non_negative(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                            initial_accumulator_value=initial_accumulator_value, eps=eps)
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable, "fused": fused}
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p)

    def _init_state(self, p):
        xp = array_module(p._data)
        state = self.state[p]
        state["step"] = _step_counter()
        state["sum"] = Tensor(xp.full_like(p._data, self.defaults["initial_accumulator_value"]))

    @no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, lr_decay, eps = group["lr"], group["lr_decay"], group["eps"]
            weight_decay, maximize = group["weight_decay"], group["maximize"]
            for p, grad in _grads(group):
                param = p._data
                xp = array_module(param)
                if len(self.state[p]) == 0:  # a parameter of a group added after construction
                    self._init_state(p)
                state = self.state[p]
                step = _increment(state["step"])
                if maximize:
                    grad = -grad
                if weight_decay != 0:
                    grad = grad + weight_decay * param
                clr = lr / (1 + (step - 1) * lr_decay)
                state_sum = state["sum"]._data
                state_sum += grad * grad
                std = xp.sqrt(state_sum)
                std += eps
                update = -clr * grad
                update /= std
                param += update
                p._version[0] += 1
        return loss
