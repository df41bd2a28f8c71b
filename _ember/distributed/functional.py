"""Collectives that autograd can differentiate through (as ``torch.distributed.nn.functional``).

``all_reduce(x)`` returns a new Tensor holding the sum over ranks of every rank's ``x``. Its backward
is the same all-reduce of the incoming gradients: with one loss per rank, the objective data-parallel
training minimizes is their sum (DDP then averages), and ``d(sum_r L_r) / dx_r = sum_r' dL_r'/dy``,
where y is the reduced value every rank saw. Every rank must therefore run the same backward, in the
same order, as DDP already requires.
"""
from ..engine import Function
from . import process_group
from .process_group import ReduceOp

__all__ = ["all_reduce"]


class AllReduceSum(Function):
    @staticmethod
    def forward(ctx, x):
        out = x.copy(order="C")  # a fresh array: the input stays this rank's own value
        process_group.all_reduce_array(out, ReduceOp.SUM).wait()
        return out

    @staticmethod
    def backward(ctx, grad):
        # d y / d x_r = identity on every rank: the gradient of x_r sums every rank's gradient of y
        return AllReduceSum.apply(grad)


def all_reduce(tensor, op=ReduceOp.SUM):
    """The sum (``ReduceOp.SUM``) or mean (``ReduceOp.AVG``) over ranks of ``tensor``, as a new Tensor
    whose gradient flows back to every rank's input. Shape: any -> same."""
    process_group._require("all_reduce")
    op = ReduceOp(op) if not isinstance(op, ReduceOp) else op
    if op not in (ReduceOp.SUM, ReduceOp.AVG):
        raise ValueError(f"distributed all_reduce: only SUM and AVG are differentiable, got {op}")
    total = AllReduceSum.apply(tensor)
    return total / process_group.get_world_size() if op is ReduceOp.AVG else total
