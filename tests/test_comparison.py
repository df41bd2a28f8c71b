"""Comparison and logic ops against PyTorch: bool results, broadcasting, promotion, no gradient."""
import numpy as np
import pytest
import torch

import ember
from op_check import OpCase, broadcast_shape_pairs, parametrize_cases, unary_shapes


def rounded_pairs(rng, dtype):
    """Small integers as floats, so equal elements occur often."""
    return [[np.asarray(rng.integers(-2, 3, sa), dtype), np.asarray(rng.integers(-2, 3, sb), dtype)]
            for sa, sb in broadcast_shape_pairs(rng)]


def bool_pairs(rng, dtype):
    return [[rng.random(sa) < 0.5, rng.random(sb) < 0.5] for sa, sb in broadcast_shape_pairs(rng)]


def special_values(rng, dtype):
    values = np.array([0.0, 1.5, -2.0, np.nan, np.inf, -np.inf], dtype)
    return [[rng.choice(values, s)] for s in unary_shapes(rng)]


def near_pairs(rng, dtype):
    a = rng.standard_normal((3, 4)).astype(dtype)
    return [[a, (a + (rng.random((3, 4)) < 0.5) * 1e-3).astype(dtype)], [a, a + np.asarray(1e-9, dtype)]]


def comparison(name, samples=rounded_pairs, **kwargs):
    return OpCase(name, samples, grad=False, **kwargs)


CASES = [comparison(name) for name in ("eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal",
                                       "less", "less_equal", "not_equal")]
CASES += [comparison(name, bool_pairs) for name in ("logical_and", "logical_or", "logical_xor",
                                                    "bitwise_and", "bitwise_or", "bitwise_xor")]
CASES += [comparison(name, special_values) for name in ("isnan", "isinf", "isfinite")]
CASES += [
    comparison("logical_not", lambda rng, dtype: [[rng.random(s) < 0.5] for s in unary_shapes(rng)]),
    comparison("bitwise_not", lambda rng, dtype: [[rng.random(s) < 0.5] for s in unary_shapes(rng)]),
    comparison("isclose", near_pairs),
    comparison("allclose", near_pairs),
    comparison("equal", lambda rng, dtype: [[np.ones((2, 3), dtype), np.ones((2, 3), dtype)],
                                            [np.ones((2, 3), dtype), np.zeros((2, 3), dtype)],
                                            [np.ones((2, 3), dtype), np.ones((3,), dtype)]]),
]

test_matches_torch, test_gradcheck = parametrize_cases(CASES)


def test_comparison_with_number_and_mixed_dtypes():
    a = ember.tensor([1, 2, 3])
    assert (a > 1.5).tolist() == [False, True, True]
    assert (a == ember.tensor([1.0, 0.0, 3.0])).tolist() == [True, False, True]
    assert (a >= 2).dtype == ember.bool


def test_operators_on_bool_tensors():
    a, b = ember.tensor([True, False, True]), ember.tensor([True, True, False])
    assert (a & b).tolist() == [True, False, False]
    assert (a | b).tolist() == [True, True, True]
    assert (a ^ b).tolist() == [False, True, True]
    assert (~a).tolist() == [False, True, False]


def test_bitwise_operator_on_float_tensor_raises():
    with pytest.raises(TypeError, match="bool or integer"):
        ember.ones(2) & ember.ones(2)


def test_comparisons_carry_no_gradient():
    x = ember.randn(3, requires_grad=True)
    assert not (x > 0).requires_grad and (x > 0).grad_fn is None


def test_broadcast_failure_names_op_and_shapes():
    with pytest.raises(RuntimeError, match=r"lt: .*\(2, 3\) and \(4,\)"):
        ember.zeros(2, 3) < ember.zeros(4)


def test_torch_agrees_on_equal_semantics():
    assert ember.equal(ember.ones(2), ember.ones(2)) == torch.equal(torch.ones(2), torch.ones(2))
