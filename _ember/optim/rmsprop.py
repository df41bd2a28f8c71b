"""RMSprop: steps scaled by a moving root-mean-square of the gradient."""
from ..engine import Tensor, no_grad
from ..engine.device import array_module
from ..kernels.optim import lerp_
from .optimizer import Optimizer, _check_non_negative, _grads, _increment, _step_counter

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop (Hinton's lecture 6e), as ``torch.optim.RMSprop``.

    With gradient :math:`g_t` (negated when ``maximize``), per step:

    .. math::
        g_t &\leftarrow g_t + \lambda\theta_{t-1}                                      \\
        v_t &= \alpha v_{t-1} + (1 - \alpha) g_t^2                                     \\
        d_t &= \sqrt{v_t - \bar g_t^2} + \epsilon, \quad
               \bar g_t = \alpha \bar g_{t-1} + (1 - \alpha) g_t \text{ (centered)};
               \text{ else } d_t = \sqrt{v_t} + \epsilon                                \\
        \theta_t &= \theta_{t-1} - \gamma b_t, \quad b_t = \mu b_{t-1} + g_t / d_t
              \text{ (momentum } \mu > 0) \text{ else } \theta_{t-1} - \gamma g_t / d_t

    Args:
        params: parameters or parameter groups to optimize.
        lr (float): learning rate :math:`\gamma` (default: 1e-2).
        alpha (float): smoothing constant :math:`\alpha` (default: 0.99).
        eps (float): added to the denominator (default: 1e-8).
        weight_decay (float): L2 penalty :math:`\lambda` (default: 0).
        momentum (float): momentum factor :math:`\mu` (default: 0).
        centered (bool): normalize by the estimated variance instead of the second moment
            (default: False).
        maximize (bool): maximize the objective instead of minimizing it (default: False).
        capturable, foreach: accepted for PyTorch compatibility; ember has one implementation.
        differentiable: only False is supported.

    The state of each parameter is ``{"step", "square_avg"}`` (and ``"momentum_buffer"``,
    ``"grad_avg"`` when used).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        _check_non_negative(lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha)
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
                    "weight_decay": weight_decay, "capturable": capturable, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable}
        super().__init__(params, defaults)

    @no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns ``closure()`` if given."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, alpha, eps, weight_decay = group["lr"], group["alpha"], group["eps"], group["weight_decay"]
            momentum, centered, maximize = group["momentum"], group["centered"], group["maximize"]
            for p, grad in _grads(group):
                param = p._data
                xp = array_module(param)
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _step_counter()
                    state["square_avg"] = Tensor(xp.zeros_like(param))
                    if momentum > 0:
                        state["momentum_buffer"] = Tensor(xp.zeros_like(param))
                    if centered:
                        state["grad_avg"] = Tensor(xp.zeros_like(param))
                _increment(state["step"])
                if maximize:
                    grad = -grad
                if weight_decay != 0:
                    grad = grad + weight_decay * param
                square_avg = state["square_avg"]._data
                square_avg *= alpha
                square_avg += (1 - alpha) * grad * grad
                if centered:
                    grad_avg = state["grad_avg"]._data
                    lerp_(grad_avg, grad, 1 - alpha)
                    avg = xp.sqrt(square_avg - grad_avg * grad_avg)
                else:
                    avg = xp.sqrt(square_avg)
                avg += eps
                if momentum > 0:
                    buf = state["momentum_buffer"]._data
                    buf *= momentum
                    buf += grad / avg
                    param += -lr * buf
                else:
                    update = -lr * grad
                    update /= avg
                    param += update
                p._version[0] += 1
        return loss
