"""CuPy glue for the embedding's backward CUDA kernel (kernels/cuda/embedding.cu), with the
signature, shapes and dtype of the NumPy reference in kernels/embedding.py, on cupy arrays."""
from ..registry import register
from . import runtime

_INSTANTIATIONS = runtime.instantiations("embedding_backward")


def embedding_backward(grad, indices, num_embeddings, padding_idx):
    """Row n of ``grad`` added into row ``indices[n]`` of a zero table (repeated indices sum, in an
    order that varies from run to run), except where ``indices[n] == padding_idx`` (-1: no padding
    row). grad (N, D) float, indices (N,) int in [0, num_embeddings) -> (num_embeddings, D)."""
    cp = runtime.cupy()
    expression = runtime.template_name("embedding_backward", grad.dtype)
    grad = cp.ascontiguousarray(grad)
    indices = cp.ascontiguousarray(indices, dtype=cp.int64)
    width = grad.shape[1]
    out = cp.zeros((num_embeddings, width), grad.dtype)
    if grad.size:
        runtime.raw_module("embedding", _INSTANTIATIONS).get_function(expression)(
            runtime.blocks(grad.size), (runtime.BLOCK,),
            (grad, indices, out, grad.size, width, int(num_embeddings), int(padding_idx)))
    return out


register("embedding_backward", "cuda", "cupy", runtime.loader(embedding_backward))
