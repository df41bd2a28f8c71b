"""Matrix products, einsum and the transpose against PyTorch and finite differences, plus their
semantics: shapes of every matmul case, broadcasting, dtypes, views, double backward and errors."""
import numpy as np
import pytest
import torch

import ember
from ember.autograd import gradgradcheck
from op_check import OpCase, parametrize_cases, randn


def shaped(*samples):
    """One sample of random operands per tuple of shapes."""
    return lambda rng, dtype: [[randn(rng, dtype, *shape) for shape in shapes] for shapes in samples]


MATMUL_SHAPES = [
    ((4,), (4,)),                      # dot
    ((3, 4), (4, 5)),                  # mm
    ((1, 1), (1, 1)),
    ((4,), (4, 5)),                    # row vector
    ((3, 4), (4,)),                    # mv
    ((2, 3, 4), (4,)),                 # batch @ vector
    ((4,), (2, 4, 5)),                 # vector @ batch
    ((2, 3, 4), (2, 4, 5)),            # bmm
    ((2, 1, 3, 4), (5, 4, 2)),         # batch dims broadcast
    ((3, 4), (2, 4, 5)),               # a matrix against a batch, both sides
    ((2, 3, 4), (4, 5)),
    ((1, 3, 1), (2, 1, 4)),
]


def einsum_samples(rng, dtype):
    """``[equation, *operands]``: explicit and implicit outputs (in ASCII order: 'ba' transposes),
    traces and diagonals, ellipses with broadcasting, size-1 letters, three operands, spaces and
    upper case."""
    specs = [("ij,jk->ik", (2, 3), (3, 4)), ("ij,jk", (2, 3), (3, 4)), ("bij,bjk->bik", (2, 3, 4), (2, 4, 5)),
             ("i,i->", (4,), (4,)), ("i,j->ij", (3,), (4,)), ("ii->i", (3, 3)), ("ii", (3, 3)),
             ("ij->ji", (2, 3)), ("ij->", (2, 3)), ("ij->j", (2, 3)), ("bij,jk->bk", (2, 3, 4), (4, 2)),
             ("...ij,...jk->...ik", (2, 1, 3, 4), (5, 4, 2)), ("i...->...", (3, 2, 4)), ("...", (2, 3)),
             ("...ii->...i", (2, 3, 3)), ("bn,anm,bm->ba", (2, 3), (4, 3, 5), (2, 5)),
             ("ij,ij->ij", (1, 3), (2, 3)), (" i j , j k ", (2, 3), (3, 4)), ("Ab,bA", (2, 3), (3, 2)),
             ("ba", (2, 3)), ("aB", (2, 3)), ("kj,ji", (2, 3), (3, 4)),
             ("iij->j", (3, 3, 2)), ("ii,i->i", (3, 3), (3,)), (",ij->ij", (), (2, 3))]
    return [[equation] + [randn(rng, dtype, *shape) for shape in shapes] for equation, *shapes in specs]


CASES = [
    OpCase("matmul", shaped(*MATMUL_SHAPES)),
    OpCase("mm", shaped(((3, 4), (4, 5)), ((1, 1), (1, 3)), ((4, 1), (1, 2)))),
    OpCase("bmm", shaped(((2, 3, 4), (2, 4, 5)), ((1, 1, 3), (1, 3, 1)))),
    OpCase("mv", shaped(((3, 4), (4,)), ((1, 2), (2,)))),
    OpCase("dot", shaped(((4,), (4,)), ((1,), (1,)))),
    OpCase("outer", shaped(((3,), (4,)), ((1,), (2,)))),
    OpCase("addmm", shaped(((3, 2), (3, 4), (4, 2)), ((2,), (3, 4), (4, 2)), ((3, 1), (3, 4), (4, 2)),
                           ((), (3, 4), (4, 2)))),
    OpCase("addmm", shaped(((2,), (3, 4), (4, 2))), kwargs={"beta": 0.5, "alpha": -2.0}),
    OpCase("addmm", shaped(((3, 2), (3, 4), (4, 2))), kwargs={"beta": 0}),
    # gradcheck=False: ember.autograd.gradcheck seeds outputs through reshape(-1) of np.zeros_like, which
    # copies for t's transposed (non-C-contiguous) view, so its analytical Jacobian reads zeros there;
    # t's gradient is still compared with PyTorch's
    OpCase("t", shaped(((),), ((4,),), ((3, 4),), ((1, 2),)), gradcheck=False),
    OpCase("einsum", einsum_samples),
]

test_matches_torch, test_gradcheck = parametrize_cases(CASES)


def pair(*shape, seed=0):
    """The same random float64 values as an ember and a torch leaf."""
    array = np.random.default_rng(seed).standard_normal(shape)
    return (ember.from_numpy(array.copy()).requires_grad_(),
            torch.from_numpy(array.copy()).requires_grad_())


def assert_double_backward_matches_torch(ember_fn, torch_fn, shapes):
    """Hessian-vector products: d/dx <v, d<fn(x), w>/dx> for every input equal PyTorch's."""
    pairs = [pair(*s, seed=i) for i, s in enumerate(shapes)]
    e_in, t_in = [p[0] for p in pairs], [p[1] for p in pairs]
    e_out, t_out = ember_fn(*e_in), torch_fn(*t_in)
    rng = np.random.default_rng(1)
    w = rng.standard_normal(tuple(t_out.shape))
    e_grads = ember.autograd.grad(e_out, e_in, ember.from_numpy(w), create_graph=True)
    t_grads = torch.autograd.grad(t_out, t_in, torch.from_numpy(w), create_graph=True)
    vs = [rng.standard_normal(s) for s in shapes]
    e_second = ember.autograd.grad(list(e_grads), e_in, [ember.from_numpy(v) for v in vs])
    t_second = torch.autograd.grad(list(t_grads), t_in, [torch.from_numpy(v) for v in vs])
    for e, t in zip(e_second, t_second):
        np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-10, atol=1e-12)


# ---- matmul semantics ---------------------------------------------------------------------------

@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_result_shapes_and_operator(sa, sb):
    a, b = ember.ones(*sa), ember.ones(*sb)
    expected = tuple(torch.matmul(torch.ones(*sa), torch.ones(*sb)).shape)
    assert (a @ b).shape == ember.matmul(a, b).shape == a.matmul(b).shape == expected


def test_rmatmul_and_non_tensor_operands():
    a = ember.ones(2, 3)
    assert a.__rmatmul__(ember.ones(4, 2)).shape == (4, 3)
    with pytest.raises(TypeError, match=r"matmul\(\): argument 1 must be Tensor, not list"):
        a @ [[1.0], [2.0], [3.0]]


def test_integer_matmul_stays_integer():
    a = ember.tensor([[1, 2], [3, 4]])
    assert (a @ a).tolist() == [[7, 10], [15, 22]] and (a @ a).dtype == ember.int64
    assert ember.dot(ember.tensor([1, 2]), ember.tensor([3, 4])).item() == 11


def test_t_is_a_view_and_returns_vectors_as_they_are():
    x = ember.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    y = x.t()
    assert y.shape == (3, 2) and y.tolist() == [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
    x.add_(1)
    assert y.tolist()[0] == [2.0, 5.0] and y._version_number == x._version_number
    v = ember.ones(3)
    assert ember.t(v) is v


def test_einsum_accepts_a_list_and_owns_its_memory():
    a, b = ember.ones(2, 3), ember.ones(3, 4)
    assert ember.einsum("ij,jk->ik", [a, b]).tolist() == [[3.0] * 4] * 2
    x = ember.tensor([[1.0, 2.0], [3.0, 4.0]])
    diagonal = ember.einsum("ii->i", x)
    same = ember.einsum("ij->ij", x)
    x.mul_(10)
    assert diagonal.tolist() == [1.0, 4.0] and same.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_addmm_with_beta_zero_ignores_nan_in_input():
    input = ember.full((2, 2), float("nan"))
    out = ember.addmm(input, ember.eye(2), ember.ones(2, 2), beta=0, alpha=3)
    assert out.tolist() == [[3.0, 3.0], [3.0, 3.0]]


# ---- double backward ----------------------------------------------------------------------------

@pytest.mark.parametrize("name,fn,shapes", [
    ("matmul batched", ember.matmul, [(2, 1, 3, 4), (5, 4, 2)]),
    ("matmul shared matrix", ember.matmul, [(2, 3, 4), (4, 2)]),
    ("matmul vectors", ember.matmul, [(4,), (2, 4, 3)]),
    ("dot", ember.dot, [(3,), (3,)]),
    ("mm", ember.mm, [(3, 4), (4, 2)]),
    ("mv", ember.mv, [(3, 4), (4,)]),
    ("einsum", lambda a, b: ember.einsum("bij,bjk->bik", a, b), [(2, 3, 4), (2, 4, 2)]),
    ("einsum diagonal", lambda a, b: ember.einsum("ii,i->i", a, b), [(3, 3), (3,)]),
    ("einsum three operands", lambda a, b, c: ember.einsum("bn,anm,bm->ba", a, b, c),
     [(2, 3), (2, 3, 2), (2, 2)]),
])
def test_gradgradcheck(name, fn, shapes):
    rng = np.random.default_rng(len(name))
    inputs = [ember.from_numpy(rng.standard_normal(s)).requires_grad_() for s in shapes]
    assert gradgradcheck(fn, inputs, atol=1e-6, rtol=1e-4)


def test_addmm_gradgradcheck_with_constant_input():
    rng = np.random.default_rng(0)
    input = ember.from_numpy(rng.standard_normal((3, 1)))
    mats = [ember.from_numpy(rng.standard_normal(s)).requires_grad_() for s in [(3, 4), (4, 2)]]
    assert gradgradcheck(lambda a, b: ember.addmm(input, a, b, beta=0.3, alpha=2.0), mats,
                         atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("equation,shapes", [
    ("bij,jk->bk", [(2, 3, 4), (4, 2)]),     # a letter summed in one operand only: broadcast back
    ("ii,ij->j", [(3, 3), (3, 2)]),          # a trace-like diagonal
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),
])
def test_einsum_double_backward_matches_torch(equation, shapes):
    assert_double_backward_matches_torch(lambda *xs: ember.einsum(equation, *xs),
                                         lambda *xs: torch.einsum(equation, *xs), shapes)


def test_matmul_double_backward_matches_torch():
    assert_double_backward_matches_torch(ember.matmul, torch.matmul, [(2, 1, 3, 4), (5, 4, 2)])


# ---- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize("call,error,match", [
    (lambda: ember.matmul(ember.ones(3, 4), ember.ones(5, 6)), RuntimeError,
     r"matmul: \(3, 4\) @ \(5, 6\): inner dimensions 4 and 5 differ"),
    (lambda: ember.ones(3) @ ember.ones(4), RuntimeError,
     r"matmul: \(3,\) @ \(4,\): inner dimensions 3 and 4"),
    (lambda: ember.matmul(ember.ones(2, 3, 4), ember.ones(3, 4, 6)), RuntimeError,
     r"matmul: \(2, 3, 4\) @ \(3, 4, 6\): batch dimensions \(2,\) and \(3,\) do not broadcast"),
    (lambda: ember.matmul(ember.tensor(1.0), ember.ones(3)), RuntimeError,
     "both arguments to matmul need to be at least 1D, but they are 0D and 1D"),
    (lambda: ember.matmul(ember.ones(2, 3), ember.ones(3, dtype=ember.float64)), RuntimeError,
     "matmul: expected m1 and m2 to have the same dtype, but got: float != double"),
    (lambda: ember.mm(ember.ones(2, 3, dtype=ember.float64), ember.ones(3, 2)), RuntimeError,
     "mm: expected m1 and m2 to have the same dtype, but got: double != float"),
    (lambda: ember.matmul(ember.ones(2, 3, dtype=ember.bool), ember.ones(3, dtype=ember.bool)), RuntimeError,
     "matmul: not implemented for 'Bool'"),
    (lambda: ember.mm(ember.ones(2, 3, 4), ember.ones(4, 6)), RuntimeError,
     r"mm: expected 2-D and 2-D tensors, but got shapes \(2, 3, 4\) and \(4, 6\)"),
    (lambda: ember.mm(ember.ones(2, 3), ember.ones(4, 6)), RuntimeError,
     r"mm: \(2, 3\) @ \(4, 6\): inner dimensions 3 and 4 differ"),
    (lambda: ember.bmm(ember.ones(3, 4), ember.ones(4, 6)), RuntimeError,
     "bmm: expected 3-D and 3-D tensors"),
    (lambda: ember.bmm(ember.ones(2, 3, 4), ember.ones(3, 4, 6)), RuntimeError,
     r"bmm: \(2, 3, 4\) @ \(3, 4, 6\): batch sizes 2 and 3 differ"),
    (lambda: ember.mv(ember.ones(3, 4), ember.ones(5)), RuntimeError,
     r"mv: \(3, 4\) @ \(5,\): inner dimensions 4 and 5 differ"),
    (lambda: ember.mv(ember.ones(3, 4), ember.ones(4, 1)), RuntimeError, "mv: expected 2-D and 1-D tensors"),
    (lambda: ember.dot(ember.ones(2, 3), ember.ones(2, 3)), RuntimeError,
     "dot: expected 1-D and 1-D tensors"),
    (lambda: ember.dot(ember.ones(3), ember.ones(4)), RuntimeError,
     "dot: .* inner dimensions 3 and 4 differ"),
    (lambda: ember.outer(ember.ones(3, 1), ember.ones(4)), RuntimeError,
     "outer: Expected 1-D argument self, but got 2-D"),
    (lambda: ember.addmm(ember.ones(4), ember.ones(3, 4), ember.ones(4, 2)), RuntimeError,
     r"addmm: input of shape \(4,\) does not broadcast to the shape \(3, 2\)"),
    (lambda: ember.t(ember.ones(3, 1, 2)), RuntimeError,
     r"t\(\) expects a tensor with <= 2 dimensions, but self is 3D"),
    (lambda: ember.einsum("ij,jk", ember.ones(2, 3)), RuntimeError,
     r"einsum\(\): fewer operands were provided than specified in the equation"),
    (lambda: ember.einsum("ij", ember.ones(2, 3), ember.ones(3)), RuntimeError,
     r"einsum\(\): more operands were provided than specified in the equation"),
    (lambda: ember.einsum("ij", ember.ones(2, 3, 4)), RuntimeError,
     r"number of subscripts in the equation \(2\) does not match the number of dimensions \(3\) "
     r"for operand 0"),
    (lambda: ember.einsum("i1", ember.ones(2, 3)), RuntimeError, "invalid subscript '1'"),
    (lambda: ember.einsum("...i...", ember.ones(3)), RuntimeError, "invalid subscript '.'"),
    (lambda: ember.einsum("ij->ii", ember.ones(2, 3)), RuntimeError,
     "output subscript i appears more than once in the output"),
    (lambda: ember.einsum("ij->k", ember.ones(2, 3)), RuntimeError,
     "output subscript k does not appear in the equation for any input operand"),
    (lambda: ember.einsum("ij,jk", ember.ones(2, 3), ember.ones(4, 5)), RuntimeError,
     "subscript j has size 4 for operand 1 which does not broadcast with previously seen size 3"),
    (lambda: ember.einsum("ii->i", ember.ones(2, 3)), RuntimeError,
     "subscript i is repeated for operand 0 but the sizes don't match, 2 != 3"),
    (lambda: ember.einsum("i,i", ember.ones(2), ember.ones(2, dtype=ember.float64)), RuntimeError,
     "einsum: expected m1 and m2 to have the same dtype, but got: float != double"),
])
def test_errors_name_the_op_and_shapes(call, error, match):
    with pytest.raises(error, match=match):
        call()
