"""The one helper that checks an op against PyTorch: same inputs, forward values and the gradient of
every input compared; plus gradcheck (float64 finite differences) on the same samples.

A family's test module lists its ops as ``OpCase``s (like PyTorch's OpInfo) and runs them through
``check_against_torch`` and ``check_gradients``; ``test_coverage.py`` reads every module's
``CASES`` and fails if a public op has none.
"""
import dataclasses
from typing import Callable, Optional

import numpy as np
import pytest
import torch

import ember

TORCH_DTYPES = {np.float16: torch.float16, np.float32: torch.float32, np.float64: torch.float64}
TOLERANCES = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-7, atol=1e-9),
              np.float16: dict(rtol=1e-2, atol=1e-3)}


@dataclasses.dataclass
class OpCase:
    """One op to check. ``samples(rng, dtype)`` returns a list of argument lists (NumPy float arrays
    become differentiable tensors, int/bool arrays become plain tensors, anything else is passed as
    is). ``ember_fn``/``torch_fn`` default to the op of that name in each library."""

    name: str
    samples: Callable
    ember_fn: Optional[Callable] = None
    torch_fn: Optional[Callable] = None
    kwargs: dict = dataclasses.field(default_factory=dict)
    grad: bool = True
    gradcheck: bool = True
    dtypes: tuple = (np.float32, np.float64)
    rtol: Optional[float] = None
    atol: Optional[float] = None
    noncontiguous: bool = True

    def __post_init__(self):
        # Ops at ember's top level are compared with torch's top level; the others (layers and
        # losses) with torch.nn.functional, where the signatures match.
        top_level = hasattr(ember, self.name)
        if self.ember_fn is None:
            self.ember_fn = getattr(ember if top_level else ember.nn.functional, self.name)
        if self.torch_fn is None:
            self.torch_fn = getattr(torch if top_level else torch.nn.functional, self.name)

    @property
    def id(self):
        return self.name + ("" if not self.kwargs else "-" + "-".join(f"{k}={v}" for k, v in
                                                                       self.kwargs.items()))


def rng_for(name):
    """A generator seeded from the op's name: each op gets its own reproducible random inputs."""
    return np.random.default_rng(_stable_seed(name))


def _stable_seed(text):
    seed = 0
    for ch in text:
        seed = (seed * 131 + ord(ch)) % (2 ** 32)
    return seed


def noncontiguous_view(array, xp=np):
    """The same values as ``array`` in memory that is not C-contiguous (every other element); ``xp``
    is the array's module (NumPy, or CuPy for a device array)."""
    if array.ndim == 0 or array.size == 0:
        return array
    big = xp.zeros(array.shape[:-1] + (2 * array.shape[-1],), dtype=array.dtype)
    big[..., ::2] = array
    return big[..., ::2]


def _on_cuda(value, noncontiguous):
    """An ember cuda tensor holding ``value``, made non-contiguous on the device itself (a copy to
    the device is contiguous)."""
    from ember.kernels.cuda.runtime import cupy
    cp = cupy()
    array = cp.asarray(value)
    return ember.Tensor(noncontiguous_view(array, cp) if noncontiguous else array)


def _to_pair(value, differentiable, noncontiguous, device="cpu", torch_device=None):
    """The same argument as an ember object on ``device`` ('cpu' or 'cuda') and a torch object on
    ``torch_device`` (by default ``device``)."""
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if isinstance(value, np.ndarray):
        array = noncontiguous_view(value) if noncontiguous else value.copy()
        e = ember.from_numpy(array) if device == "cpu" else _on_cuda(value, noncontiguous)
        t = torch.from_numpy(array.copy()).to(torch_device or device)
        if differentiable and value.dtype.kind == "f":
            e.requires_grad_()
            t.requires_grad_()
        return e, t
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, np.ndarray) for v in value):
        pairs = [_to_pair(v, differentiable, noncontiguous, device, torch_device) for v in value]
        return type(value)(p[0] for p in pairs), type(value)(p[1] for p in pairs)
    return value, value


def _outputs(result):
    """Flatten an op's result (tensor, tuple, namedtuple) into a list of tensors."""
    if isinstance(result, (tuple, list)):
        flat = []
        for r in result:
            flat.extend(_outputs(r))
        return flat
    return [result]


def _leaves(args):
    flat = []
    for a in args:
        if isinstance(a, (list, tuple)):
            flat.extend(_leaves(a))
        elif isinstance(a, (ember.Tensor, torch.Tensor)) and a.requires_grad:
            flat.append(a)
    return flat


def assert_close(actual, expected, rtol, atol, what):
    actual = np.asarray(actual.detach().cpu().numpy() if isinstance(actual, ember.Tensor) else actual)
    expected = expected.detach().cpu().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != torch's {expected.shape}"
    if expected.dtype.kind == "f":
        assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != torch's {expected.dtype}"
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what, equal_nan=True)
    else:
        assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != torch's {expected.dtype}"
        np.testing.assert_array_equal(actual, expected, err_msg=what)


def check_against_torch(case, dtype, noncontiguous=False, device="cpu", torch_device=None):
    """Forward values and input gradients of ``case`` equal PyTorch's on every sample, with ember's
    arguments on ``device`` ('cpu' or 'cuda') and torch's on ``torch_device`` (by default ``device``)."""
    torch_device = torch_device or device
    rng = rng_for(case.id)
    tol = dict(TOLERANCES[dtype])
    if case.rtol is not None:
        tol["rtol"] = case.rtol if dtype != np.float64 else min(case.rtol, tol["rtol"] * 10)
    if case.atol is not None:
        tol["atol"] = case.atol if dtype != np.float64 else min(case.atol, tol["atol"] * 10)
    for k, sample in enumerate(case.samples(rng, dtype)):
        pairs = [_to_pair(v, case.grad, noncontiguous, device, torch_device) for v in sample]
        e_args, t_args = [p[0] for p in pairs], [p[1] for p in pairs]
        e_out = _outputs(case.ember_fn(*e_args, **case.kwargs))
        t_out = _outputs(case.torch_fn(*t_args, **case.kwargs))
        assert len(e_out) == len(t_out), f"{case.id}: {len(e_out)} outputs, torch has {len(t_out)}"
        for i, (e, t) in enumerate(zip(e_out, t_out)):
            assert_close(e, t, what=f"{case.id} sample {k} output {i}", **tol)
        if not case.grad:
            continue
        e_leaves, t_leaves = _leaves(e_args), _leaves(t_args)
        diff = [(e, t) for e, t in zip(e_out, t_out) if isinstance(t, torch.Tensor) and t.requires_grad]
        if not e_leaves or not diff:
            continue
        seeds = [rng.standard_normal(t.shape).astype(dtype) for _, t in diff]
        e_grads = ember.autograd.grad([e for e, _ in diff], e_leaves,
                                      [ember.from_numpy(s).to(device) for s in seeds], allow_unused=True)
        t_grads = torch.autograd.grad([t for _, t in diff], t_leaves,
                                      [torch.from_numpy(s).to(torch_device) for s in seeds], allow_unused=True)
        for j, (eg, tg, leaf) in enumerate(zip(e_grads, t_grads, e_leaves)):
            eg = np.zeros(leaf.shape, dtype) if eg is None else eg
            tg = np.zeros(leaf.shape, dtype) if tg is None else tg
            assert_close(eg, tg, what=f"{case.id} sample {k} grad of input {j}", **tol)


def check_gradients(case):
    """Autograd equals central finite differences (float64) on every sample."""
    rng = rng_for(case.id + "/gradcheck")
    for sample in case.samples(rng, np.float64):
        args = [_to_pair(v, True, False)[0] for v in sample]
        if not _leaves(args):
            continue

        def func(*xs):
            return case.ember_fn(*xs, **case.kwargs)

        ember.autograd.gradcheck(func, args, eps=1e-6, atol=1e-6, rtol=1e-4)


def run_case(case, dtype, noncontiguous, device="cpu", torch_device=None):
    if dtype not in case.dtypes:
        pytest.skip(f"{case.name} is not checked in {np.dtype(dtype).name}")
    if noncontiguous and not case.noncontiguous:
        pytest.skip(f"{case.name} takes no array inputs to make non-contiguous")
    check_against_torch(case, dtype, noncontiguous, device, torch_device)


# ---- sample makers shared by the family test modules ------------------------------------------

def randn(rng, dtype, *shape):
    return np.asarray(rng.standard_normal(shape), dtype=dtype)


def positive(rng, dtype, *shape, low=0.1, high=3.0):
    return np.asarray(rng.uniform(low, high, shape), dtype=dtype)


def random_shape(rng, ndim, low=1, high=5):
    return tuple(int(s) for s in rng.integers(low, high + 1, ndim))


# Shapes every elementwise op sees: 0-d, size-1 dims, random sizes.
def unary_shapes(rng):
    return [(), (1,), random_shape(rng, 1), random_shape(rng, 2), (1, random_shape(rng, 1)[0], 3),
            random_shape(rng, 3)]


# Pairs of shapes that broadcast, including 0-d against n-d and size-1 dims on either side.
def broadcast_shape_pairs(rng):
    a, b, c = random_shape(rng, 3, 2, 4)
    return [((a, b), (a, b)), ((a, b, c), (c,)), ((a, 1, c), (b, 1)), ((), (a, b)), ((a, b), ()),
            ((1,), (a,)), ((a, 1), (1, b))]


def unary_samples(make=randn, **kw):
    return lambda rng, dtype: [[make(rng, dtype, *s, **kw)] for s in unary_shapes(rng)]


def binary_samples(make_a=randn, make_b=randn):
    return lambda rng, dtype: [[make_a(rng, dtype, *sa), make_b(rng, dtype, *sb)]
                               for sa, sb in broadcast_shape_pairs(rng)]


def parametrize_cases(cases):
    """The standard pair of tests for a family's ``CASES``: against PyTorch (float32/float64,
    contiguous and not) and gradcheck. Use: ``test_matches_torch, test_gradcheck =
    parametrize_cases(CASES)`` at module level."""
    ids = [c.id for c in cases]

    @pytest.mark.parametrize("noncontiguous", [False, True], ids=["contiguous", "noncontiguous"])
    @pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
    @pytest.mark.parametrize("case", cases, ids=ids)
    def test_matches_torch(case, dtype, noncontiguous):
        run_case(case, dtype, noncontiguous)

    checked = [c for c in cases if c.grad and c.gradcheck]
    if not checked:
        return test_matches_torch, None

    @pytest.mark.parametrize("case", checked, ids=[c.id for c in checked])
    def test_gradcheck(case):
        check_gradients(case)

    return test_matches_torch, test_gradcheck
