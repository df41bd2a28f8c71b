"""Bad input gets a clear error, never a wrong answer: each case asserts the error type and that
the message names the op and what was wrong (shapes, dtypes, dims, indices)."""
import numpy as np
import pytest

import ember
import ember.nn.functional as F


def leaf(*shape):
    return ember.randn(*shape, requires_grad=True)


def backward_twice():
    y = (leaf(3).exp()).sum()
    y.backward()
    y.backward()


def saved_then_modified():
    x = leaf(3)
    y = x * 2
    z = y.exp()
    with ember.no_grad():
        z.add_(1)
    z.sum().backward()


def view_modified_after_save():
    x = leaf(2, 3)
    y = x * 1
    z = y * y
    with ember.no_grad():
        y.view(6)[0] = 5.0
    z.sum().backward()


CASES = [
    # elementwise and broadcasting
    ("add shapes", lambda: ember.zeros(2, 3) + ember.zeros(4), RuntimeError,
     r"add: The size of tensor a \(3\) must match the size of tensor b \(4\) at non-singleton dimension 1"),
    ("mul shapes", lambda: ember.zeros(2, 3) * ember.zeros(3, 2), RuntimeError, r"mul: .*\(2, 3\) and \(3, 2\)"),
    ("where shapes", lambda: ember.where(ember.ones(2, dtype=ember.bool), ember.zeros(3), 0.0),
     RuntimeError, r"where: "),
    ("where condition dtype", lambda: ember.where(ember.ones(2), ember.zeros(2), 0.0), RuntimeError,
     r"where: expected condition to be a bool tensor"),
    ("add non-tensor", lambda: ember.add(ember.ones(2), "x"), TypeError, r"add\(\): argument 1 must be a Tensor"),
    ("sub bools", lambda: ember.ones(2, dtype=ember.bool) - ember.ones(2, dtype=ember.bool), RuntimeError,
     r"sub: Subtraction, the `-` operator, with two bool tensors"),
    ("integer negative pow", lambda: ember.tensor([2, 3]) ** -1, RuntimeError,
     r"pow: Integers to negative integer powers are not allowed"),
    ("integer floor divide by zero", lambda: ember.tensor([2, 3]) // 0, ZeroDivisionError,
     r"floor_divide: integer division by zero"),
    ("div rounding mode", lambda: ember.div(ember.ones(2), 2, rounding_mode="up"), ValueError,
     r"div expected rounding_mode to be one of None, 'trunc', or 'floor'"),
    ("clamp without bounds", lambda: ember.clamp(ember.ones(2)), RuntimeError,
     r"clamp: At least one of 'min' or 'max' must not be None"),
    ("unary on list", lambda: ember.exp([1.0]), TypeError, r"exp\(\): argument 'input' must be Tensor"),
    ("comparison shapes", lambda: ember.zeros(2, 3) < ember.zeros(4), RuntimeError, r"lt: "),
    # in-place
    ("in-place float into int", lambda: ember.ones(2, dtype=ember.int64).add_(1.5), RuntimeError,
     r"add_: result type Float can't be cast to the desired output type Long"),
    ("in-place broadcast grows target", lambda: ember.ones(3).add_(ember.ones(2, 3)), RuntimeError,
     r"add_: output with shape \[3\] doesn't match the broadcast shape \[2, 3\]"),
    ("in-place on leaf requiring grad", lambda: leaf(3).mul_(2), RuntimeError,
     r"mul_: a leaf Variable that requires grad is being used in an in-place operation"),
    ("in-place on expanded", lambda: ember.ones(1).expand(3).add_(1), RuntimeError,
     r"add_: unsupported operation: more than one element of the written-to tensor"),
    ("fill_ with a vector", lambda: ember.ones(3).fill_(ember.ones(2)), RuntimeError,
     r"fill_ only supports 0-dimension value tensor"),
    ("copy_ shapes", lambda: ember.ones(3).copy_(ember.ones(2)), RuntimeError,
     r"copy_: source of shape \[2\] cannot be broadcast to the destination shape \[3\]"),
    # autograd
    ("backward non-scalar", lambda: (leaf(3) * 2).backward(), RuntimeError,
     r"grad can be implicitly created only for scalar outputs \(output 0 has shape \(3,\)\)"),
    ("backward without grad", lambda: ember.ones(3).sum().backward(), RuntimeError,
     r"element 0 of tensors does not require grad and does not have a grad_fn"),
    ("backward gradient shape", lambda: (leaf(3) * 2).backward(ember.ones(4)), RuntimeError,
     r"Mismatch in shape: grad_output\[0\] has a shape of \(4,\) and output\[0\] has a shape of \(3,\)"),
    ("backward twice", backward_twice, RuntimeError, r"Trying to backward through the graph a second time"),
    ("saved tensor modified in place", saved_then_modified, RuntimeError,
     r"modified by an inplace operation: \[float32 \[3\]\].*is at version 1; expected version 0"),
    ("saved tensor modified through a view", view_modified_after_save, RuntimeError,
     r"modified by an inplace operation"),
    ("grad on integer tensor", lambda: ember.tensor([1, 2]).requires_grad_(), RuntimeError,
     r"only Tensors of floating point dtype can require gradients \(got ember.int64\)"),
    ("requires_grad off on non-leaf", lambda: setattr(leaf(2) * 2, "requires_grad", False), RuntimeError,
     r"you can only change requires_grad flags of leaf variables"),
    ("grad of unused input", lambda: ember.autograd.grad((leaf(2) * 2).sum(), [leaf(2)]), RuntimeError,
     r"appears to not have been used in the graph"),
    ("grad wrt tensor without grad", lambda: ember.autograd.grad(leaf(2).sum(), [ember.ones(2)]),
     RuntimeError, r"grad: input 0 does not require grad"),
    ("numpy of tensor requiring grad", lambda: leaf(2).numpy(), RuntimeError,
     r"Can't call numpy\(\) on Tensor that requires grad. Use tensor.detach\(\).numpy\(\) instead"),
    ("hook on tensor without grad", lambda: ember.ones(2).register_hook(lambda g: g), RuntimeError,
     r"cannot register a hook on a tensor that doesn't require gradient"),
    # tensor protocol and creation
    ("bool of many elements", lambda: bool(ember.ones(2)), RuntimeError,
     r"Boolean value of Tensor with more than one value is ambiguous"),
    ("item of many elements", lambda: ember.ones(2).item(), RuntimeError,
     r"a Tensor with 2 elements cannot be converted to Scalar"),
    ("len of 0-d", lambda: len(ember.tensor(1.0)), TypeError, r"len\(\) of a 0-d tensor"),
    ("size dim out of range", lambda: ember.ones(2, 3).size(2), IndexError,
     r"size: Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"),
    ("negative size", lambda: ember.zeros(2, -1), RuntimeError,
     r"Trying to create tensor with negative dimension -1: \[2, -1\]"),
    ("ragged data", lambda: ember.tensor([[1, 2], [3]]), (TypeError, ValueError), r"."),
    ("unsupported numpy dtype", lambda: ember.from_numpy(np.array(["a"])), TypeError,
     r"ember does not support NumPy dtype <U1"),
    ("arange zero step", lambda: ember.arange(0, 3, 0), RuntimeError, r"arange: step must be nonzero"),
    ("randint empty range", lambda: ember.randint(3, 3, (2,)), RuntimeError,
     r"random_ expects 'from' to be less than 'to', but got from=3 >= to=3"),
    *([] if ember.cuda.is_available() else [
        ("cuda without a GPU", lambda: ember.ones(2).to("cuda"), RuntimeError,
         r"device 'cuda' is not available: ember's cuda backend needs CuPy and an NVIDIA GPU: ")]),
    ("bad device string", lambda: ember.ones(2).to("tpu"), RuntimeError,
     r"Expected one of cpu, cuda device type at start of device string: tpu"),
    # shape basics
    ("reshape size", lambda: ember.ones(2, 3).reshape(4, 2), RuntimeError,
     r"reshape: shape '\[4, 2\]' is invalid for input of size 6 \(input shape \(2, 3\)\)"),
    ("reshape two -1", lambda: ember.ones(6).reshape(-1, -1), RuntimeError,
     r"reshape: only one dimension can be inferred"),
    ("view of non-contiguous", lambda: ember.ones(2, 3).transpose(0, 1).view(6), RuntimeError,
     r"view size is not compatible with input tensor's size and stride"),
    ("expand non-singleton", lambda: ember.ones(2, 3).expand(4, 3), RuntimeError,
     r"expand: The expanded size of the tensor \(4\) must match the existing size \(2\) at non-singleton "
     r"dimension 0"),
    ("sum dim out of range", lambda: ember.ones(2, 3).sum(dim=2), IndexError,
     r"sum: Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"),
    ("sum repeated dim", lambda: ember.ones(2, 3).sum(dim=(1, -1)), RuntimeError,
     r"sum: dim \(1, -1\) appears multiple times in the list of dims"),
    ("mean of integers", lambda: ember.tensor([1, 2]).mean(), RuntimeError,
     r"mean\(\): could not infer output dtype. Input dtype must be either a floating point"),
    ("sum_to_size incompatible", lambda: ember.ones(2, 3).sum_to_size(4), RuntimeError,
     r"sum_to_size: size \[4\] is not expandable to size \[2, 3\]"),
]


@pytest.mark.parametrize("name,call,error,pattern", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_clear_error(name, call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_enough_cases():
    assert len(CASES) >= 40
