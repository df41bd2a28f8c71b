"""The figures to compare a model before and after compression: parameters (and how many are
nonzero), checkpoint size, FLOPs per sample and inference latency.

    reports = {"float32": model_report(model, x), "pruned 90%": model_report(pruned, x)}
    print(format_reports(reports))
"""
import dataclasses
import math
import os
import statistics
import tempfile
import time

from ..engine import Tensor, no_grad
from ..engine.table import format_table
from ..serialization import save
from .prune import effective_parameters

__all__ = ["ModelReport", "model_report", "format_reports", "count_flops"]


@dataclasses.dataclass
class ModelReport:
    """``parameters``: parameter elements; ``nonzero``: those that are not zero (pruned weights
    count as zero); ``size_bytes``: the ``ember.save(model.state_dict())`` file; ``flops_per_sample``:
    2 x multiply-adds of the linear and convolution layers for one sample; ``latency_ms``: median
    time of one forward over the example batch."""

    parameters: int
    nonzero: int
    size_bytes: int
    flops_per_sample: int
    latency_ms: float

    @property
    def sparsity(self):
        return 1.0 - self.nonzero / max(self.parameters, 1)


def model_report(model, example_input, *, repeats=20):
    """Measure ``model`` on ``example_input`` (a batch, (N, ...), one unbatched sample, or a tuple of
    forward arguments).

    Parameters are counted as the model computes with them: a pruned weight as ``orig * mask``, and
    a weight a module keeps as a buffer named ``weight`` or ``bias`` (as quantized layers do) counts
    as a parameter. Latency is the median of ``repeats`` timed forwards under ``no_grad`` in eval
    mode, after two warm-up forwards; the model's training mode is restored afterwards."""
    if repeats < 1:
        raise ValueError(f"model_report: repeats must be at least 1, got {repeats}")
    args = example_input if isinstance(example_input, tuple) else (example_input,)
    tensors = [t for _, t in effective_parameters(model)]
    parameters = sum(t.numel() for t in tensors)
    nonzero = sum(int(t.count_nonzero().item()) for t in tensors)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            flops = count_flops(model, *args)
            latency = _median_latency_ms(model, args, repeats)
    finally:
        model.train(was_training)
    return ModelReport(parameters, nonzero, _checkpoint_bytes(model), flops, latency)


def count_flops(model, *args):
    """2 x multiply-adds per sample of one forward of ``model(*args)``, summed over the modules that look
    like layers: one with ``in_features`` and ``out_features`` is linear (``in_features`` multiply-adds per
    output element), one with ``in_channels``, ``out_channels`` and ``kernel_size`` a convolution
    ((in_channels / groups) x prod(kernel_size) multiply-adds per output element, per input element when
    transposed). Other modules (activations, pooling, normalization) are not counted: they are a small
    share of the work. The batch size is ``args[0]``'s first dimension, unless the input is unbatched: the
    first layer to run gets a single sample ((in_features,) for a linear layer, (C, *spatial) such as
    (C, H, W) for a convolution), and the whole forward counts as one sample."""
    macs, first_unbatched = [], []

    def count(module, inputs, output):
        if not macs:  # the first layer to run: does it see a batch?
            first_unbatched.append(inputs[0].ndim == (1 if _is_linear(module) else len(_pair(module.kernel_size)) + 1))
        if _is_linear(module):
            macs.append(module.in_features * output.numel())  # each output element: in_features products
        elif _is_conv(module):
            groups, kernel = getattr(module, "groups", 1), math.prod(_pair(module.kernel_size))
            if getattr(module, "transposed", False):  # each input element feeds out/groups x kernel outputs
                macs.append(inputs[0].numel() * module.out_channels // groups * kernel)
            else:  # each output element sums in/groups x kernel products
                macs.append(output.numel() * module.in_channels // groups * kernel)

    handles = [m.register_forward_hook(count) for m in model.modules() if _is_linear(m) or _is_conv(m)]
    try:
        model(*args)
    finally:
        for handle in handles:
            handle.remove()
    batched = first_unbatched == [False] and isinstance(args[0], Tensor) and args[0].ndim > 0
    return 2 * sum(macs) // (args[0].shape[0] if batched else 1)


def format_reports(reports):
    """An aligned table of ``{label: ModelReport}``, one row per report, in the dict's order."""
    header = ("model", "parameters", "nonzero", "size", "MFLOPs/sample", "latency (ms)")
    rows = [(label, f"{r.parameters:,}", f"{r.nonzero:,} ({100 * (1 - r.sparsity):.1f}%)",
             _human_bytes(r.size_bytes), f"{r.flops_per_sample / 1e6:.3f}", f"{r.latency_ms:.2f}")
            for label, r in reports.items()]
    return format_table(header, rows, right=range(1, len(header)), rule=True)


def _is_linear(module):
    return hasattr(module, "in_features") and hasattr(module, "out_features")


def _is_conv(module):
    return all(hasattr(module, a) for a in ("in_channels", "out_channels", "kernel_size"))


def _pair(kernel_size):
    """A kernel size as a tuple (a layer may keep an int for a square kernel)."""
    return tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (kernel_size,)


def _median_latency_ms(model, args, repeats):
    for _ in range(2):  # warm-up: first-call allocations, kernel selection, caches
        _synchronize(model(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _synchronize(model(*args))
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _synchronize(output):
    """Wait for a GPU forward to finish before the clock stops: reading one value does."""
    first = output[0] if isinstance(output, (tuple, list)) else output
    if isinstance(first, Tensor) and first.is_cuda:
        first.reshape(-1)[:1].cpu()


def _checkpoint_bytes(model):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.safetensors")
        save(model.state_dict(), path)
        return os.path.getsize(path)


def _human_bytes(size):
    for unit in ("B", "KiB", "MiB"):
        if size < 1024 or unit == "MiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
