"""``ember.autograd``: backward, grad, grad modes, anomaly detection, gradient checks and backward
traces."""
from .engine.anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .engine.autograd import backward, grad
from .engine.function import Function, once_differentiable
from .engine.gradcheck import GradcheckError, gradcheck, gradgradcheck
from .engine.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .viz.trace import trace

__all__ = ["backward", "grad", "Function", "once_differentiable", "no_grad", "enable_grad",
           "set_grad_enabled", "is_grad_enabled", "detect_anomaly", "set_detect_anomaly",
           "is_anomaly_enabled", "gradcheck", "gradgradcheck", "GradcheckError", "trace"]
