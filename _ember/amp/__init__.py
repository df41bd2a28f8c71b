"""``ember.amp``: automatic mixed precision, as ``torch.amp``: ``autocast`` regions where matrix
products and convolutions run in float16 and precision-hungry ops in float32, and ``GradScaler``,
which scales the loss so float16 gradients do not underflow."""
from ..engine import autocast_mode  # noqa: F401  (where autocast lives: engine ops consult it)
from ..engine.autocast_mode import autocast, is_autocast_enabled
from .grad_scaler import GradScaler

__all__ = ["autocast", "is_autocast_enabled", "GradScaler"]
