"""Attention: ``scaled_dot_product_attention`` and ``multi_head_attention_forward`` (the functional
form of ``nn.MultiheadAttention``).

Both are compositions of differentiable ops: ``softmax(q k^T * scale + bias) v``, where the bias
is 0 where a query may attend a key and -inf where it may not (or any float mask the caller gives).
A bool or causal mask becomes a constant bias array; a float mask stays a Tensor, so it can be
learned. The two masking conventions are PyTorch's: in ``scaled_dot_product_attention`` a True
entry of a bool mask means *attend*; in ``multi_head_attention_forward`` (``attn_mask`` and
``key_padding_mask``) it means *masked out*.
"""
import math
import warnings

import numpy as np

from ..cuda_graphs import is_current_stream_capturing
from ..device import array_module
from ..tensor import Tensor
from .linalg import matmul
from .nn_ops import dropout, linear, softmax
from .shape import cat, pad

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]


def _attend(query, key, value, bias, dropout_p, scale, safe):
    """``(softmax(query key^T * scale + bias) value, the softmax weights)`` over the last two dims.
    ``safe``: a query whose keys are all masked (bias -inf everywhere) gets zero weights and
    output, as in PyTorch's scaled_dot_product_attention, instead of NaN."""
    scores = matmul(query * scale, key.transpose(-2, -1))
    dead = None
    if bias is not None:
        scores = scores + bias
        if safe:
            rows = array_module(bias._data).isneginf(bias._data).all(axis=-1, keepdims=True)
            # a CUDA-graph capture cannot read rows.any() on the host: it masks always (a no-op without dead rows)
            if is_current_stream_capturing() or rows.any():
                # softmax over finite scores (zero gradient flows back from those rows)
                dead = Tensor(rows)
                scores = scores.masked_fill(dead, 0.0)
    weights = softmax(scores, -1)
    if dead is not None:
        weights = weights.masked_fill(dead, 0.0)
    if dropout_p > 0:
        weights = dropout(weights, dropout_p)
    return matmul(weights, value), weights


def _causal_bias(xp, length, source_length, dtype):
    """-inf above the diagonal of a (L, S) matrix, 0 on and below: query i sees keys 0..i."""
    return Tensor(xp.triu(xp.full((length, source_length), -np.inf, dtype=dtype), 1))


def _bias_from_bool(mask, allowed, dtype):
    """A bool mask as an additive bias: 0 where ``mask == allowed``, -inf elsewhere."""
    xp = array_module(mask._data)
    # 0-d arrays filled on the device: no copy from the host, which a CUDA-graph capture refuses
    return Tensor(xp.where(mask._data == allowed, xp.zeros((), dtype), xp.full((), -np.inf, dtype)))


def _repeat_heads(x, heads):
    """Repeat each head of (..., H, S, E) ``heads / H`` times, in place (h0 h0 h1 h1 ...)."""
    shape = tuple(x.shape)
    repeats = heads // shape[-3]
    return x.unsqueeze(-3).expand(*shape[:-2], repeats, *shape[-2:]).reshape(*shape[:-3], heads, *shape[-2:])


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """``softmax(query key^T * scale + bias) value`` with ``scale`` defaulting to 1/sqrt(E).
    ``attn_mask``: bool (True = may attend) or float (added to the scores), broadcastable to
    (*, L, S); ``is_causal``: query i attends keys 0..i (no attn_mask then); ``dropout_p``: dropout
    on the attention weights, always applied (from ember's seeded generator); ``enable_gqa``: key
    and value may have fewer heads (dim -3) than query, each shared by a group of query heads.
    A query with no key to attend gives zeros. Shapes: query (*, L, E), key (*, S, E), value
    (*, S, Ev) -> (*, L, Ev), the leading dims broadcast."""
    op = "scaled_dot_product_attention"
    if any(t.ndim < 2 for t in (query, key, value)):
        raise RuntimeError(f"{op}: Expected query, key, and value to all be at least 2 dimensional, but got "
                           f"query.dim: {query.ndim} key.dim: {key.ndim} and value.dim: {value.ndim} instead.")
    if not (query.dtype == key.dtype == value.dtype) or not query.is_floating_point():
        raise RuntimeError(f"{op}: Expected query, key, and value to have the same floating point dtype, but "
                           f"got query.dtype: {query.dtype} key.dtype: {key.dtype} and value.dtype: "
                           f"{value.dtype} instead.")
    length, source_length = query.shape[-2], key.shape[-2]
    if key.shape[-1] != query.shape[-1] or value.shape[-2] != source_length:
        raise RuntimeError(f"{op}: expected query (*, L, E), key (*, S, E) and value (*, S, Ev), got "
                           f"query {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}")
    if enable_gqa and query.ndim >= 3:
        heads = query.shape[-3]
        if heads % key.shape[-3] or heads % value.shape[-3]:
            raise RuntimeError(f"{op}: Number of heads in key and value must divide the number of heads in "
                               f"query (query {tuple(query.shape)}, key {tuple(key.shape)}, value "
                               f"{tuple(value.shape)})")
        key, value = _repeat_heads(key, heads), _repeat_heads(value, heads)
    xp = array_module(query._data)
    dtype = query._data.dtype
    bias = None
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError(f"{op}: Explicit attn_mask should not be set when is_causal=True")
        bias = _causal_bias(xp, length, source_length, dtype)
    elif attn_mask is not None:
        if attn_mask.dtype.is_floating_point:
            bias = attn_mask.to(query.dtype)
        elif attn_mask._data.dtype == np.bool_:
            bias = _bias_from_bool(attn_mask, True, dtype)
        else:
            raise RuntimeError(f"{op}: Expected attn_mask dtype to be bool or float, but got attn_mask.dtype: "
                               f"{attn_mask.dtype} and query.dtype: {query.dtype} instead.")
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    return _attend(query, key, value, bias, dropout_p, scale, safe=True)[0]


# ---- multi-head attention -------------------------------------------------------------------------

def _canonical_mask(mask, name, other, other_name, dtype):
    """A bool mask (True = masked out) as a float bias of ``dtype``; a float mask as is. Warns, as
    PyTorch, when it and the ``other`` mask have different dtypes."""
    if mask is None:
        return None
    if mask._data.dtype != np.bool_ and not mask.is_floating_point():
        raise AssertionError(f"only bool and floating types of {name} are supported")
    if other is not None and mask.dtype != other.dtype:
        warnings.warn(f"Support for mismatched {name} and {other_name} is deprecated. Use same type for "
                      f"both instead.", stacklevel=3)
    if not mask.is_floating_point():
        return _bias_from_bool(mask, False, dtype)
    return mask


def _check_mha_shapes(query, key, value, key_padding_mask, attn_mask, num_heads):
    """Whether the input is batched (3-D) or not (2-D), after checking every shape agrees."""
    batched = query.ndim == 3
    if query.ndim not in (2, 3):
        raise AssertionError(f"query should be unbatched 2D or batched 3D tensor but received {query.ndim}-D "
                             f"query tensor")
    kind = "batched (3-D)" if batched else "unbatched (2-D)"
    if key.ndim != query.ndim or value.ndim != query.ndim:
        raise AssertionError(f"For {kind} `query`, expected `key` and `value` to be {query.ndim}-D but found "
                             f"{key.ndim}-D and {value.ndim}-D tensors respectively")
    if key_padding_mask is not None and key_padding_mask.ndim != query.ndim - 1:
        raise AssertionError(f"For {kind} `query`, expected `key_padding_mask` to be `None` or "
                             f"{query.ndim - 1}-D but found {key_padding_mask.ndim}-D tensor instead")
    if attn_mask is not None:
        if attn_mask.ndim not in (2, 3):
            raise AssertionError(f"For {kind} `query`, expected `attn_mask` to be `None`, 2-D or 3-D but found "
                                 f"{attn_mask.ndim}-D tensor instead")
        if not batched and attn_mask.ndim == 3:
            expected = (num_heads, query.shape[0], key.shape[0])
            if tuple(attn_mask.shape) != expected:
                raise AssertionError(f"Expected `attn_mask` shape to be {expected} but got "
                                     f"{tuple(attn_mask.shape)}")
    return batched


def _in_projection(query, key, value, in_proj_weight, in_proj_bias, separate_weights):
    """q, k, v = each input times its (E, E_in) block of the projection, plus its bias block. Self
    attention (query is key is value) does it as one product with the packed (3E, E) weight."""
    biases = (None,) * 3 if in_proj_bias is None else in_proj_bias.chunk(3)
    if separate_weights is None and query is key and key is value:
        return linear(query, in_proj_weight, in_proj_bias).chunk(3, -1)
    weights = separate_weights or in_proj_weight.chunk(3)
    return tuple(linear(x, w, b) for x, w, b in zip((query, key, value), weights, biases))


def _heads(x, length, batch, num_heads):
    """(S, N, E) -> (N, H, S, E / H)."""
    return x.reshape(length, batch, num_heads, -1).permute(1, 2, 0, 3)


def _static(name, x, batch, num_heads, head_dim):
    """A precomputed key or value (N * H, S, E / H) -> (N, H, S, E / H)."""
    for dim, size in ((0, batch * num_heads), (2, head_dim)):
        if x.shape[dim] != size:
            raise AssertionError(f"expecting {name}.size({dim}) of {size}, but got {x.shape[dim]}")
    return x.reshape(batch, num_heads, x.shape[1], head_dim)


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """Multi-head attention as ``nn.MultiheadAttention`` computes it: project query, key, value
    (packed ``in_proj_weight`` (3E, E) or separate ``q/k/v_proj_weight``, plus ``in_proj_bias``),
    split E into ``num_heads`` heads, attend in each (with ``bias_k``/``bias_v`` appended to the
    keys/values, and a zero key/value if ``add_zero_attn``), concatenate the heads and project with
    ``out_proj_weight``/``out_proj_bias``. Masks: ``attn_mask`` (L, S) or (N * H, L, S) and
    ``key_padding_mask`` (N, S), bool (True = masked out) or float (added); ``is_causal`` is a hint
    that attn_mask is the causal mask. Returns ``(output, weights)``: weights (N, L, S) averaged over
    heads (``average_attn_weights``) or (N, H, L, S), None unless ``need_weights``.
    Shapes: query (L, N, E), key (S, N, E_k), value (S, N, E_v) -> (L, N, E); unbatched (L, E) ->
    (L, E) with weights (L, S) or (H, L, S)."""
    batched = _check_mha_shapes(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    length, batch, embed_dim = query.shape
    dtype = query._data.dtype
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", attn_mask, "attn_mask", dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                           "method `generate_square_subsequent_mask` to create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # attention builds the causal mask itself
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", dtype)
        if key_padding_mask is not None:
            is_causal = False  # the merged mask is no longer causal
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if key.shape[:2] != value.shape[:2]:
            raise AssertionError(f"key's sequence and batch dims {tuple(key.shape[:2])} do not match value's "
                                 f"{tuple(value.shape[:2])}")
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is True but q_proj_weight, k_proj_weight or "
                                 "v_proj_weight is None")
        q, k, v = _in_projection(query, key, value, None, in_proj_bias,
                                 (q_proj_weight, k_proj_weight, v_proj_weight))
    else:
        if key.shape != value.shape:
            raise AssertionError(f"key shape {tuple(key.shape)} does not match value shape {tuple(value.shape)}")
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        q, k, v = _in_projection(query, key, value, in_proj_weight, in_proj_bias, None)

    source_length = key.shape[0]
    if attn_mask is not None:
        expected = (length, source_length) if attn_mask.ndim == 2 else (batch * num_heads, length, source_length)
        if tuple(attn_mask.shape) != expected:
            raise RuntimeError(f"The shape of the {attn_mask.ndim}D attn_mask is {tuple(attn_mask.shape)}, but "
                               f"should be {expected}.")
    if (bias_k is None) != (bias_v is None):
        raise AssertionError("bias_k and bias_v must both be set or both be None")
    if bias_k is not None:
        if static_k is not None or static_v is not None:
            raise AssertionError("bias cannot be added to static key or value.")
        # one more key and value, the learned biases, seen by every query
        k = cat([k, bias_k.expand(1, batch, embed_dim)])
        v = cat([v, bias_v.expand(1, batch, embed_dim)])
    q = _heads(q, length, batch, num_heads)
    k = _heads(k, k.shape[0], batch, num_heads) if static_k is None else \
        _static("static_k", static_k, batch, num_heads, head_dim)
    v = _heads(v, v.shape[0], batch, num_heads) if static_v is None else \
        _static("static_v", static_v, batch, num_heads, head_dim)
    if add_zero_attn:
        k = pad(k, (0, 0, 0, 1))
        v = pad(v, (0, 0, 0, 1))
    extra_keys = (bias_k is not None) + add_zero_attn  # the bias key and the zero key: never masked
    source_length = k.shape[2]
    if attn_mask is not None:
        attn_mask = pad(attn_mask, (0, extra_keys)) if extra_keys else attn_mask
        if attn_mask.ndim == 3:  # (N * H, L, S) -> (N, H, L, S); an (L, S) mask broadcasts as is
            attn_mask = attn_mask.reshape(batch, num_heads, length, source_length)
    if key_padding_mask is not None:
        key_padding_mask = pad(key_padding_mask, (0, extra_keys)) if extra_keys else key_padding_mask
        for dim, size in enumerate((batch, source_length)):
            if key_padding_mask.shape[dim] != size:
                raise AssertionError(f"Expected key_padded_mask.shape[{dim}] to be {size}, but got "
                                     f"{key_padding_mask.shape[dim]}")
        key_padding_mask = key_padding_mask.reshape(batch, 1, 1, source_length)
        attn_mask = key_padding_mask if attn_mask is None else attn_mask + key_padding_mask
    if not training:
        dropout_p = 0.0
    if is_causal and attn_mask is None:
        attn_mask = _causal_bias(array_module(query._data), length, source_length, dtype)
    # need_weights follows PyTorch's explicit path, where a query with every key masked gives NaN;
    # without weights, scaled_dot_product_attention's zeros
    out, weights = _attend(q, k, v, attn_mask, dropout_p, 1.0 / math.sqrt(head_dim), safe=not need_weights)
    out = linear(out.permute(2, 0, 1, 3).reshape(length, batch, embed_dim), out_proj_weight, out_proj_bias)
    if not need_weights:
        weights = None
    elif average_attn_weights:
        weights = weights.mean(1)
    if not batched:
        out = out.squeeze(1)
        weights = weights.squeeze(0) if weights is not None else None
    return out, weights
