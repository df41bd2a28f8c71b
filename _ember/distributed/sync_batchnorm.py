"""``SyncBatchNorm``: batch normalization whose statistics are those of the global batch, all ranks'
shares together, so N ranks on a split batch normalize exactly as one process on the whole batch.

In training with an initialized process group of more than one rank, each channel's statistics are
reduced across ranks in two passes (the mean, then the mean squared deviation from it, which is as
stable as the one-process variance), through the differentiable ``all_reduce``: the backward then
sums the statistics' gradients across ranks too, with no hand-written backward. Otherwise (eval, a
single process, no group) it is ``BatchNorm``, as PyTorch's.
"""
from .. import engine
from ..engine import no_grad
from ..engine.dtypes import float16
from ..nn.normalization import _BatchNorm
from . import process_group
from .functional import all_reduce

__all__ = ["SyncBatchNorm"]


class SyncBatchNorm(_BatchNorm):
    """Batch normalization over (N, C, *) with statistics synchronized across the ranks of the
    default process group (``process_group`` other than None is not supported: there is one group).
    Shape: (N, C, *) -> same. Convert a model's BatchNorm layers with ``convert_sync_batchnorm``."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 process_group=None, device=None, dtype=None):
        if process_group is not None:
            raise ValueError("SyncBatchNorm: only the default process group exists in ember "
                             "(pass process_group=None)")
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def _check_input_dim(self, input):
        if input.ndim < 2:
            raise ValueError(f"expected at least 2D input (got {input.ndim}D input)")

    def forward(self, input):
        if not (self.training and process_group.is_initialized() and process_group.get_world_size() > 1):
            return super().forward(input)
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise ValueError(f"SyncBatchNorm: expected {self.num_features} channels at dim 1, got input of "
                             f"shape {tuple(input.shape)}")
        momentum = self._step_momentum()
        axes = (0,) + tuple(range(2, input.ndim))
        channels = (1, -1) + (1,) * (input.ndim - 2)
        # float16 sums over a global batch overflow (and a count above 2048 rounds): reduce in float32
        x = input.float() if input.dtype == float16 else input
        local_count = engine.full((1,), x.numel() // self.num_features, dtype=x.dtype, device=x.device)
        totals = all_reduce(engine.cat([x.sum(axes), local_count]))
        count = float(totals[-1].item())
        if count <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.shape} "
                             "on every rank together")
        mean = totals[:-1] / count
        centered = x - mean.reshape(channels)
        var = all_reduce((centered * centered).sum(axes)) / count
        out = centered * (var + self.eps).rsqrt().reshape(channels)
        if self.weight is not None:
            out = out * self.weight.reshape(channels)
        if self.bias is not None:
            out = out + self.bias.reshape(channels)
        if self.track_running_stats:
            with no_grad():
                dtype = self.running_mean.dtype
                self.running_mean.mul_(1 - momentum).add_(mean.detach().to(dtype), alpha=momentum)
                self.running_var.mul_(1 - momentum).add_((var.detach() * (count / (count - 1))).to(dtype),
                                                         alpha=momentum)
        return out.to(input.dtype)

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """``module`` with every ``BatchNorm1d/2d/3d`` replaced by a ``SyncBatchNorm`` holding the same
        parameters (the same Parameter objects), buffers and training mode; a BatchNorm passed
        directly comes back converted."""
        if isinstance(module, _BatchNorm) and not isinstance(module, cls):
            converted = cls(module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats, process_group)
            if module.affine:
                converted.weight, converted.bias = module.weight, module.bias
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                setattr(converted, name, getattr(module, name))
            converted.train(module.training)
            return converted
        for name, child in list(module.named_children()):
            replacement = cls.convert_sync_batchnorm(child, process_group)
            if replacement is not child:
                setattr(module, name, replacement)
        return module
