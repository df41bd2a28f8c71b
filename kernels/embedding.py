"""Kernels of the embedding family: the backward of a row lookup, a scatter-add of gradient rows."""
import numpy as np

from .cpu_extension import kernel
from .registry import register


def embedding_backward(grad, indices, num_embeddings, padding_idx):
    """Row n of ``grad`` added into row ``indices[n]`` of a zero table (repeated indices sum), except
    where ``indices[n] == padding_idx`` (-1: no padding row). grad (N, D) float, indices (N,) int64
    in [0, num_embeddings) -> (num_embeddings, D)."""
    out = np.zeros((num_embeddings, grad.shape[1]), grad.dtype)
    kept = indices != padding_idx
    np.add.at(out, indices[kept], grad[kept])
    return out


register("embedding_backward", "cpu", "cpp", kernel("embedding_backward"))
register("embedding_backward", "cpu", "numpy", lambda: embedding_backward)
