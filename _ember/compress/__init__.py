"""``ember.compress``: make a trained model smaller or faster, and measure what it cost.

- ``prune``: magnitude pruning (per tensor, global, structured by channel), with masks that hold
  through training, iterative schedules and a sparsity report;
- ``distill``: the distillation loss (Hinton et al.) and a trainer that distils a teacher into a
  smaller student;
- ``quantize``: int8 post-training quantization and quantization-aware training;
- ``report``: parameters, checkpoint size, FLOPs and latency of a model, as a table across versions.
"""
from . import distill, prune, quantize, report
from .report import ModelReport, format_reports, model_report

__all__ = ["prune", "distill", "quantize", "report", "ModelReport", "model_report", "format_reports"]

