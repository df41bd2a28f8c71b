"""Stochastic gradient descent, with momentum, dampening, Nesterov momentum and weight decay."""
from .. import kernels
from ..engine import Tensor, no_grad
from ..engine.device import array_module
from .optimizer import Optimizer, _check_capture, _check_non_negative, _grads, _group_scalar

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent (optionally with momentum), as ``torch.optim.SGD``.

    With gradient :math:`g_t` (negated when ``maximize``), per step:

    .. math::
        g_t &\leftarrow g_t + \lambda\theta_{t-1}                              \\
        b_t &= \mu b_{t-1} + (1 - \tau) g_t \quad (b_1 = g_1)                   \\
        g_t &\leftarrow g_t + \mu b_t \text{ (nesterov) else } b_t \text{ (when } \mu \ne 0)  \\
        \theta_t &= \theta_{t-1} - \gamma g_t

    Args:
        params: parameters or parameter groups to optimize.
        lr (float): learning rate :math:`\gamma` (default: 1e-3).
        momentum (float): momentum factor :math:`\mu` (default: 0).
        dampening (float): dampening :math:`\tau` of the momentum (default: 0).
        weight_decay (float): L2 penalty :math:`\lambda` (default: 0).
        nesterov (bool): Nesterov momentum (default: False); needs momentum > 0 and no dampening.
        maximize (bool): maximize the objective instead of minimizing it (default: False).
        foreach, fused: accepted for PyTorch compatibility; ember has one implementation.
        differentiable: only False is supported.

    The state of each parameter is ``{"momentum_buffer": b}`` when momentum is used.
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        _check_non_negative(lr=lr, momentum=momentum, weight_decay=weight_decay)
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize, "foreach": foreach,
                    "differentiable": differentiable, "fused": fused}
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    @no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            momentum, dampening = group["momentum"], group["dampening"]
            weight_decay, nesterov, maximize = group["weight_decay"], group["nesterov"], group["maximize"]
            grads = _grads(group)
            _check_capture(self, group, momentum != 0 and any("momentum_buffer" not in self.state[p] for p, _ in grads),
                           live=("lr", "momentum"), zero_branches=("momentum",))
            for p, grad in grads:
                param = p._data
                buffer, first = None, False
                if momentum != 0:
                    state = self.state[p]
                    first = "momentum_buffer" not in state
                    if first:
                        state["momentum_buffer"] = Tensor(array_module(param).empty_like(param))
                    buffer = state["momentum_buffer"]._data
                kernels.dispatch("sgd_step", param)(
                    param, grad, buffer, _group_scalar(group, "lr", param.dtype),
                    _group_scalar(group, "momentum", param.dtype), dampening, weight_decay, nesterov, maximize, first)
                p._version[0] += 1
        return loss
