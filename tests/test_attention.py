"""scaled_dot_product_attention and multi_head_attention_forward against PyTorch (forward, gradients,
finite differences); MultiheadAttention, TransformerEncoderLayer and TransformerEncoder with weights
copied from PyTorch's: masks, batch_first, pre/post norm, train and eval, gradients of inputs and of
every parameter; init, state_dict keys, repr, dropout and errors."""
import math

import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as TF

import ember
import ember.nn as nn
import ember.nn.functional as F
from op_check import OpCase, parametrize_cases, randn, random_shape
from test_normalization import TOL32, TOL64, check_module_step, copy_state, single_torch_thread  # noqa: F401


# ---- scaled_dot_product_attention --------------------------------------------------------------

def attention_samples(rng, dtype):
    """query, key, value with random sizes: batched, multi-head with broadcast batch dims, unbatched,
    a single query."""
    n, h, length, source, e, ev = random_shape(rng, 6, 1, 3)
    return [[randn(rng, dtype, n, length, e), randn(rng, dtype, n, source, e), randn(rng, dtype, n, source, ev)],
            [randn(rng, dtype, n, h, length, e), randn(rng, dtype, 1, h, source, e),
             randn(rng, dtype, n, 1, source, ev)],
            [randn(rng, dtype, length, e), randn(rng, dtype, source, e), randn(rng, dtype, source, ev)],
            [randn(rng, dtype, 2, 1, e) * 3, randn(rng, dtype, 2, source, e), randn(rng, dtype, 2, source, ev)]]


def masked_samples(rng, dtype):
    """Samples with a bool mask (True = attend; one query sees no key) or a float mask."""
    n, length, source, e = random_shape(rng, 4, 2, 4)
    allowed = rng.random((length, source)) > 0.4
    allowed[0] = False  # a query with nothing to attend: zeros, as PyTorch
    allowed[1:, 0] = True
    q, k, v = randn(rng, dtype, n, length, e), randn(rng, dtype, n, source, e), randn(rng, dtype, n, source, e)
    per_batch = rng.random((n, 1, source)) > 0.3
    per_batch[..., -1] = True
    return [[q, k, v, allowed], [q, k, v, per_batch], [q, k, v, randn(rng, dtype, length, source)],
            [q, k, v, randn(rng, dtype, n, length, source)]]


def grouped_samples(rng, dtype):
    n, groups, length, source, e = random_shape(rng, 5, 1, 3)
    heads = 2 * groups
    return [[randn(rng, dtype, n, heads, length, e), randn(rng, dtype, n, groups, source, e),
             randn(rng, dtype, n, groups, source, e)],
            [randn(rng, dtype, heads, length, e), randn(rng, dtype, 1, source, e), randn(rng, dtype, 1, source, e)]]


# ---- multi_head_attention_forward --------------------------------------------------------------

def mha(functional):
    """``functional.multi_head_attention_forward`` with the tensors positional, in the order the
    samples give them, and the options as keywords."""
    def call(query, key, value, in_proj_weight, in_proj_bias, bias_k, bias_v, out_proj_weight, out_proj_bias,
             key_padding_mask, attn_mask, q_proj_weight=None, k_proj_weight=None, v_proj_weight=None, *,
             num_heads=2, add_zero_attn=False, dropout_p=0.0, **options):
        return functional.multi_head_attention_forward(
            query, key, value, query.shape[-1], num_heads, in_proj_weight, in_proj_bias, bias_k, bias_v,
            add_zero_attn, dropout_p, out_proj_weight, out_proj_bias, key_padding_mask=key_padding_mask,
            attn_mask=attn_mask, use_separate_proj_weight=q_proj_weight is not None, q_proj_weight=q_proj_weight,
            k_proj_weight=k_proj_weight, v_proj_weight=v_proj_weight, **options)
    return call


def mha_samples(rng, dtype, batched=True, masks=True, bias_kv=False, heads=2):
    """Random query, key, value and projections for E = 4 split in ``heads`` heads, and masks with a
    key that every query may attend."""
    e = 4
    n, length, source = random_shape(rng, 3, 1, 2)
    source += 1
    batch = (n,) if batched else ()

    def seq(size):
        return randn(rng, dtype, size, *batch, e)

    padding = rng.random(batch + (source,)) > 0.6
    padding[..., 0] = False
    blocked = rng.random((length, source)) > 0.6
    blocked[:, 0] = False
    weights = [randn(rng, dtype, 3 * e, e) * 0.5, randn(rng, dtype, 3 * e),
               randn(rng, dtype, 1, 1, e) if bias_kv else None, randn(rng, dtype, 1, 1, e) if bias_kv else None,
               randn(rng, dtype, e, e) * 0.5, randn(rng, dtype, e)]
    samples = [[seq(length), seq(source), seq(source)] + weights + [None, None]]
    if masks:
        samples += [[seq(length), seq(source), seq(source)] + weights + [padding, blocked],
                    [seq(length), seq(source), seq(source)] + weights +
                    [np.where(padding, -1e4, 0).astype(dtype),
                     randn(rng, dtype, heads * (n if batched else 1), length, source)]]
        if batched:
            weights_without_bias = weights[:1] + [None] + weights[2:5] + [None]
            samples.append([seq(length), seq(source), seq(source)] + weights_without_bias + [None, blocked])
    return samples


def separate_projection_samples(rng, dtype):
    n, length, source, kdim, vdim = random_shape(rng, 5, 1, 3)
    e = 4
    return [[randn(rng, dtype, length, n, e), randn(rng, dtype, source, n, kdim), randn(rng, dtype, source, n, vdim),
             None, randn(rng, dtype, 3 * e), None, None, randn(rng, dtype, e, e), randn(rng, dtype, e), None, None,
             randn(rng, dtype, e, e), randn(rng, dtype, e, kdim), randn(rng, dtype, e, vdim)]]


def causal_samples(rng, dtype):
    sample = mha_samples(rng, dtype, masks=False)[0]
    length = sample[0].shape[0]
    sample[1], sample[2] = randn(rng, dtype, *sample[0].shape), randn(rng, dtype, *sample[0].shape)
    sample[-1] = np.triu(np.full((length, length), -np.inf, dtype), 1)  # the hint needs the causal mask
    return [sample]


MHA = dict(ember_fn=mha(F), torch_fn=mha(TF))

CASES = [
    OpCase("scaled_dot_product_attention", attention_samples),
    OpCase("scaled_dot_product_attention", attention_samples, kwargs={"is_causal": True}),
    OpCase("scaled_dot_product_attention", attention_samples, kwargs={"scale": 0.3}),
    OpCase("scaled_dot_product_attention", masked_samples),
    OpCase("scaled_dot_product_attention", grouped_samples, kwargs={"enable_gqa": True}),
    OpCase("scaled_dot_product_attention", attention_samples, kwargs={"dropout_p": 1.0}, gradcheck=False),
    OpCase("multi_head_attention_forward", mha_samples, **MHA),
    # Finite differences of every option would take seconds each: gradcheck covers the main paths,
    # and every case compares the gradients with PyTorch's.
    OpCase("multi_head_attention_forward", mha_samples, **MHA, kwargs={"need_weights": False}, gradcheck=False),
    OpCase("multi_head_attention_forward", mha_samples, **MHA, kwargs={"average_attn_weights": False},
           gradcheck=False),
    OpCase("multi_head_attention_forward", lambda rng, dtype: mha_samples(rng, dtype, batched=False), **MHA),
    OpCase("multi_head_attention_forward", lambda rng, dtype: mha_samples(rng, dtype, bias_kv=True), **MHA,
           kwargs={"add_zero_attn": True}, gradcheck=False),
    OpCase("multi_head_attention_forward", lambda rng, dtype: mha_samples(rng, dtype, bias_kv=True, heads=1), **MHA,
           kwargs={"need_weights": False, "num_heads": 1}, gradcheck=False),
    OpCase("multi_head_attention_forward", separate_projection_samples, **MHA),
    OpCase("multi_head_attention_forward", lambda rng, dtype: mha_samples(rng, dtype, masks=False), **MHA,
           kwargs={"dropout_p": 0.5, "training": False}),
    # -inf in the mask: no finite differences there
    OpCase("multi_head_attention_forward", causal_samples, **MHA, kwargs={"is_causal": True, "need_weights": False},
           gradcheck=False),
]

test_matches_torch, test_gradcheck = parametrize_cases(CASES)


def gradgradcheck(func, inputs):
    """gradcheck of the first derivatives of ``func`` (vector-Jacobian products with a random seed),
    made contiguous: ember.autograd.gradgradcheck seeds non-C-contiguous outputs (the gradient of a
    transposed key) wrongly, a gradcheck bug outside this family."""
    seed = ember.tensor(np.random.default_rng(0).standard_normal(tuple(func(*inputs).shape)))

    def first_derivatives(*xs):
        grads = ember.autograd.grad(func(*xs), xs, seed, create_graph=True)
        return tuple(g.contiguous() for g in grads)
    return ember.autograd.gradcheck(first_derivatives, inputs, atol=1e-5, rtol=1e-3)


def test_attention_double_backward():
    rng = np.random.default_rng(3)
    q, k, v = (ember.tensor(rng.standard_normal((2, 3, 2)), requires_grad=True) for _ in range(3))
    mask = ember.tensor(rng.random((3, 3)) > 0.3)
    assert gradgradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, mask), [q, k, v])
    assert gradgradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), [q, k, v])


def test_fully_masked_rows():
    # scaled_dot_product_attention gives zeros (and zero gradients); MHA's need_weights path NaN, as PyTorch
    q = ember.randn(3, 4, requires_grad=True)
    mask = ember.tensor([[True, True, False], [False, False, False], [True, False, True]])
    out = F.scaled_dot_product_attention(q, q, q, mask)
    out.sum().backward()
    assert (out[1].detach().numpy() == 0).all() and np.isfinite(q.grad.numpy()).all()
    module = nn.MultiheadAttention(4, 2)
    padding = ember.tensor([True, True, True])
    assert np.isnan(module(q, q, q, key_padding_mask=padding)[0].detach().numpy()).all()
    assert (module(q, q, q, key_padding_mask=padding, need_weights=False)[0].detach().numpy() == 0).all()


def one_hot_values(n, length, source):
    """query, key and an identity value matrix: the output of attention is then its weights."""
    rng = np.random.default_rng(0)
    q, k = (ember.tensor(rng.standard_normal((n, size, 4))) for size in (length, source))
    return q, k, ember.tensor(np.broadcast_to(np.eye(source), (n, source, source)).copy())


def test_attention_dropout_scales_kept_weights_and_follows_the_seed():
    p = 0.4
    q, k, v = one_hot_values(50, 20, 20)
    weights = F.scaled_dot_product_attention(q, k, v).numpy()
    ember.manual_seed(3)
    dropped = F.scaled_dot_product_attention(q, k, v, dropout_p=p).numpy()
    kept = dropped != 0
    assert abs(1 - kept.mean() - p) < 0.02  # 20,000 draws: the standard deviation is 0.0035
    np.testing.assert_allclose(dropped[kept], weights[kept] / (1 - p), rtol=1e-5)
    ember.manual_seed(3)
    np.testing.assert_array_equal(F.scaled_dot_product_attention(q, k, v, dropout_p=p).numpy(), dropped)


def test_attention_errors():
    q = ember.randn(2, 3, 4)
    with pytest.raises(RuntimeError, match="Explicit attn_mask should not be set when is_causal=True"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=ember.ones(3, 3).bool(), is_causal=True)
    with pytest.raises(RuntimeError, match=r"Expected query, key, and value to all be at least 2 dimensional, but "
                                           r"got query.dim: 1 key.dim: 3 and value.dim: 3 instead"):
        F.scaled_dot_product_attention(ember.randn(4), q, q)
    with pytest.raises(RuntimeError, match="Expected query, key, and value to have the same floating point dtype"):
        F.scaled_dot_product_attention(q.double(), q, q)
    with pytest.raises(RuntimeError, match=r"expected query \(\*, L, E\), key \(\*, S, E\) and value \(\*, S, Ev\), "
                                           r"got query \(2, 3, 4\), key \(2, 3, 4\), value \(2, 2, 4\)"):
        F.scaled_dot_product_attention(q, q, q[:, :2])
    with pytest.raises(RuntimeError, match="Expected attn_mask dtype to be bool or float, but got attn_mask.dtype: "
                                           "ember.int64"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=ember.zeros(3, 3, dtype=ember.int64))
    with pytest.raises(RuntimeError, match="Number of heads in key and value must divide the number of heads"):
        F.scaled_dot_product_attention(ember.randn(1, 4, 3, 2), ember.randn(1, 3, 3, 2), ember.randn(1, 3, 3, 2),
                                       enable_gqa=True)


# ---- MultiheadAttention ------------------------------------------------------------------------

def make_pair(build):
    """The same module in both libraries, float64, with ember's weights copied from torch's."""
    t = build(tnn).double()
    e = build(nn).double()
    copy_state(e, t)
    return e, t


MHA_CONFIGS = {
    "default": dict(),
    "batch-first": dict(batch_first=True),
    "no-bias": dict(bias=False),
    "bias-kv": dict(add_bias_kv=True, add_zero_attn=True),
    "kdim-vdim": dict(kdim=3, vdim=5, batch_first=True),
}


@pytest.mark.parametrize("config", list(MHA_CONFIGS), ids=list(MHA_CONFIGS))
@pytest.mark.parametrize("call", ["self", "key-is-value", "distinct", "unbatched"])
def test_multihead_attention_matches_torch(config, call):
    kwargs = MHA_CONFIGS[config]
    e, t = make_pair(lambda lib: lib.MultiheadAttention(6, 3, **kwargs))
    rng = np.random.default_rng(len(config) + len(call))
    n, length, source = 2, 3, 5
    kdim, vdim = kwargs.get("kdim", 6), kwargs.get("vdim", 6)
    first = kwargs.get("batch_first", False)
    if call in ("self", "key-is-value") and config == "kdim-vdim":
        call = "distinct"  # key and value differ in size

    def shape(size, dim):
        if call == "unbatched":
            return size, dim
        return (n, size, dim) if first else (size, n, dim)

    if call == "self":
        source = length
    inputs = [rng.standard_normal(shape(length, 6)), rng.standard_normal(shape(source, kdim)),
              rng.standard_normal(shape(source, vdim))]
    # which input is query, key and value: one tensor for all three, key and value shared, or three
    uses = {"self": (0, 0, 0), "key-is-value": (0, 1, 1)}.get(call, (0, 1, 2))
    inputs = inputs[:max(uses) + 1]
    padding = rng.random((n, source)) > 0.6
    padding[:, 0] = False
    if call == "unbatched":
        padding = padding[0]
    blocked = rng.random((length, source)) > 0.6
    blocked[:, 0] = False

    def attend(module, *args, **options):
        query, key, value = (args[i] for i in uses)
        return module(query, key, value, key_padding_mask=args[-2], attn_mask=args[-1], **options)

    for mode in ("train", "eval"):
        getattr(e, mode)(), getattr(t, mode)()
        for masks, options in [((None, None), {}), ((padding, blocked), {}),
                               ((padding, None), dict(need_weights=False)),
                               ((None, blocked), dict(average_attn_weights=False))]:
            check_module_step(e, t, inputs + list(masks), rng, TOL64,
                              call=lambda m, *args: attend(m, *args, **options))


def test_multihead_attention_float32_float_masks_and_causal_hint():
    e, t = make_pair(lambda lib: lib.MultiheadAttention(8, 2, batch_first=True))
    e.float(), t.float()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 8)).astype(np.float32)
    causal = np.triu(np.full((4, 4), -np.inf, np.float32), 1)
    padding = np.array([[0, 0, 0, -np.inf], [0, 0, 0, 0]], np.float32)
    check_module_step(e, t, [x, causal, padding], rng, TOL32,
                      call=lambda m, x, mask, kpm: m(x, x, x, attn_mask=mask, key_padding_mask=kpm))
    check_module_step(e, t, [x, causal], rng, TOL32,
                      call=lambda m, x, mask: m(x, x, x, attn_mask=mask, need_weights=False, is_causal=True))


def test_multihead_attention_init_state_dict_and_repr():
    torch.manual_seed(0)
    for kwargs in [dict(), dict(bias=False, batch_first=True), dict(add_bias_kv=True, kdim=3, vdim=5)]:
        e, t = nn.MultiheadAttention(16, 4, **kwargs), tnn.MultiheadAttention(16, 4, **kwargs)
        assert list(e.state_dict()) == list(t.state_dict())
        assert [n for n, _ in e.named_parameters()] == [n for n, _ in t.named_parameters()]
        assert repr(e) == repr(t)
        for name, param in t.state_dict().items():
            assert tuple(e.state_dict()[name].shape) == tuple(param.shape), name
    e = nn.MultiheadAttention(64, 4, add_bias_kv=True)
    bound = math.sqrt(6 / (64 + 3 * 64))  # Xavier uniform over (3E, E)
    w = e.in_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    assert (e.in_proj_bias.detach().numpy() == 0).all() and (e.out_proj.bias.detach().numpy() == 0).all()
    assert np.abs(e.out_proj.weight.detach().numpy()).max() <= 1 / math.sqrt(64)  # Linear's init
    assert abs(e.bias_k.detach().numpy().std() - math.sqrt(1 / 64)) < 0.3 / 8  # Xavier normal over (1, 1, E)
    assert isinstance(e.out_proj, nn.Linear)
    separate = nn.MultiheadAttention(6, 2, kdim=4)
    assert separate.in_proj_weight is None and tuple(separate.k_proj_weight.shape) == (6, 4)


def test_multihead_attention_dropout_in_training():
    module = nn.MultiheadAttention(4, 2, dropout=0.5, batch_first=True)
    x = ember.randn(3, 6, 4)
    module.eval()
    weights = module(x, x, x, average_attn_weights=False)[1].detach().numpy()
    module.train()
    ember.manual_seed(1)
    dropped = module(x, x, x, average_attn_weights=False)[1].detach().numpy()
    kept = dropped != 0
    assert 0.3 < kept.mean() < 0.7
    np.testing.assert_allclose(dropped[kept], weights[kept] * 2, rtol=1e-5)
    ember.manual_seed(1)
    np.testing.assert_array_equal(module(x, x, x, average_attn_weights=False)[1].detach().numpy(), dropped)


def test_multihead_attention_errors():
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        nn.MultiheadAttention(6, 4)
    with pytest.raises(ValueError, match="embed_dim and num_heads must be greater than 0, got embed_dim=0"):
        nn.MultiheadAttention(0, 1)
    module = nn.MultiheadAttention(4, 2)
    x = ember.randn(3, 2, 4)
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        module(x, x, x, is_causal=True)
    with pytest.raises(AssertionError, match="query should be unbatched 2D or batched 3D tensor but received 4-D"):
        module(x[None], x[None], x[None])
    with pytest.raises(AssertionError, match=r"For batched \(3-D\) `query`, expected `key` and `value` to be 3-D but "
                                             r"found 2-D and 3-D"):
        module(x, x[0], x)
    with pytest.raises(AssertionError, match=r"For batched \(3-D\) `query`, expected `key_padding_mask` to be `None` "
                                             r"or 2-D but found 1-D"):
        module(x, x, x, key_padding_mask=ember.zeros(3).bool())
    with pytest.raises(RuntimeError, match=r"The shape of the 2D attn_mask is \(3, 2\), but should be \(3, 3\)"):
        module(x, x, x, attn_mask=ember.zeros(3, 2))
    with pytest.raises(AssertionError, match=r"Expected key_padded_mask.shape\[1\] to be 3, but got 2"):
        module(x, x, x, key_padding_mask=ember.zeros(2, 2).bool())
    with pytest.raises(AssertionError, match="only bool and floating types of attn_mask are supported"):
        module(x, x, x, attn_mask=ember.zeros(3, 3, dtype=ember.int64))
    with pytest.raises(AssertionError, match="was expecting embedding dimension of 4, but got 5"):
        module(ember.randn(3, 2, 5), x, x)
    with pytest.warns(UserWarning, match="Support for mismatched key_padding_mask and attn_mask is deprecated"):
        module(x, x, x, key_padding_mask=ember.zeros(2, 3).bool(), attn_mask=ember.zeros(3, 3))


# ---- TransformerEncoderLayer and TransformerEncoder -----------------------------------------------

ENCODER_CONFIGS = {
    "post-norm": dict(),
    "pre-norm-batch-first": dict(norm_first=True, batch_first=True),
    "gelu-no-bias": dict(activation="gelu", bias=False, layer_norm_eps=1e-3),
    "module-activation": dict(activation=lambda lib: lib.GELU(approximate="tanh"), batch_first=True),
    "function-activation": dict(activation=lambda lib: (F if lib is nn else TF).silu, norm_first=True),
}


def encoder_layer(lib, config, **extra):
    kwargs = dict(ENCODER_CONFIGS[config], **extra)
    if callable(kwargs.get("activation")):
        kwargs["activation"] = kwargs["activation"](lib)
    return lib.TransformerEncoderLayer(8, 2, dim_feedforward=12, dropout=0.0, **kwargs)


def encoder_inputs(rng, config, n=2, length=5):
    first = ENCODER_CONFIGS[config].get("batch_first", False)
    x = rng.standard_normal((n, length, 8) if first else (length, n, 8))
    padding = np.zeros((n, length), bool)
    padding[-1, 3:] = True
    causal = np.triu(np.full((length, length), -np.inf), 1)
    return x, padding, causal


@pytest.mark.parametrize("config", list(ENCODER_CONFIGS), ids=list(ENCODER_CONFIGS))
def test_transformer_encoder_layer_matches_torch(config):
    e, t = make_pair(lambda lib: encoder_layer(lib, config))
    assert list(e.state_dict()) == list(t.state_dict()) and repr(e) == repr(t)
    rng = np.random.default_rng(len(config))
    x, padding, causal = encoder_inputs(rng, config)
    blocked = rng.random(causal.shape) > 0.7
    np.fill_diagonal(blocked, False)
    for mode in ("train", "eval"):
        getattr(e, mode)(), getattr(t, mode)()
        check_module_step(e, t, [x], rng, TOL64)
        check_module_step(e, t, [x, causal, padding], rng, TOL64,
                          call=lambda m, x, mask, kpm: m(x, src_mask=mask, src_key_padding_mask=kpm))
        check_module_step(e, t, [x, causal], rng, TOL64, call=lambda m, x, mask: m(x, mask, is_causal=True))
        check_module_step(e, t, [x, blocked, padding], rng, TOL64,
                          call=lambda m, x, mask, kpm: m(x, src_mask=mask, src_key_padding_mask=kpm))
        unbatched = x[0] if ENCODER_CONFIGS[config].get("batch_first") else x[:, 0]
        check_module_step(e, t, [unbatched], rng, TOL64)  # (S, E)


@pytest.mark.parametrize("config", ["post-norm", "pre-norm-batch-first"])
def test_transformer_encoder_matches_torch(config):
    def build(lib):
        extra = {"enable_nested_tensor": False} if lib is tnn else {}
        return lib.TransformerEncoder(encoder_layer(lib, config), 3, norm=lib.LayerNorm(8), **extra)
    e, t = make_pair(build)
    assert list(e.state_dict()) == list(t.state_dict()) and repr(e) == repr(t)
    rng = np.random.default_rng(7)
    x, padding, causal = encoder_inputs(rng, config, n=3, length=4)
    for mode in ("train", "eval"):
        getattr(e, mode)(), getattr(t, mode)()
        check_module_step(e, t, [x, causal, padding], rng, TOL64,
                          call=lambda m, x, mask, kpm: m(x, mask=mask, src_key_padding_mask=kpm))
        check_module_step(e, t, [x, causal], rng, TOL64, call=lambda m, x, mask: m(x, mask, is_causal=True))
        check_module_step(e, t, [x], rng, TOL64)


def test_transformer_encoder_layers_are_independent_copies():
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
    encoder = nn.TransformerEncoder(layer, 2)
    assert [name for name, _ in encoder.named_children()] == ["layers"] and encoder.norm is None
    first, second = encoder.layers[0], encoder.layers[1]
    assert first is not layer and first.linear1.weight is not second.linear1.weight
    np.testing.assert_array_equal(first.linear1.weight.detach().numpy(), layer.linear1.weight.detach().numpy())
    with ember.no_grad():
        first.linear1.weight.add_(1.0)
    assert not np.array_equal(first.linear1.weight.detach().numpy(), second.linear1.weight.detach().numpy())
    torch_keys = list(tnn.TransformerEncoder(tnn.TransformerEncoderLayer(8, 2, dim_feedforward=16), 2,
                                             enable_nested_tensor=False).state_dict())
    assert list(encoder.state_dict()) == torch_keys
    assert len(encoder.layers) == encoder.num_layers == 2


def test_transformer_encoder_float32_default_sizes_and_dropout():
    e, t = make_pair(lambda lib: lib.TransformerEncoderLayer(16, 4, batch_first=True))
    assert tuple(e.linear1.weight.shape) == (2048, 16) and e.dropout.p == 0.1 and e.norm1.eps == 1e-5
    e.float(), t.float()
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 16)).astype(np.float32)
    e.eval(), t.eval()
    check_module_step(e, t, [x], rng, dict(rtol=1e-4, atol=1e-4))
    e.train()
    ember.manual_seed(4)
    dropped = e(ember.tensor(x)).detach().numpy()
    ember.manual_seed(4)
    np.testing.assert_array_equal(e(ember.tensor(x)).detach().numpy(), dropped)
    assert not np.allclose(dropped, e.eval()(ember.tensor(x)).detach().numpy())


def test_transformer_errors():
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=4)
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        nn.TransformerEncoder(layer, 1)(ember.randn(3, 2, 8), is_causal=True)
    with pytest.raises(AssertionError, match="only bool and floating types of src_key_padding_mask are supported"):
        layer(ember.randn(3, 2, 8), src_key_padding_mask=ember.zeros(2, 3, dtype=ember.int64))
