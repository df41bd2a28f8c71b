"""``cupy.ElementwiseKernel`` and ``cupy.ReductionKernel`` for the CUDA host emulator.

CuPy pastes an elementwise kernel's operation into a loop over the elements, after one declaration per
parameter: ``const T &x = ...`` for an input array, ``T &y = ...`` for an output, and scalars as
``const T`` kernel parameters (cupy/_core/_kernel.pyx). The same text, in a loop over the elements
that g++ compiles, is that kernel: its threads never meet, so running them one after another changes
nothing. The arguments are checked and typed as CuPy does: arrays bind the type placeholders (``T``),
outputs first, every array of one placeholder must have its dtype; scalars bind nothing and are cast
to their parameter's type; arrays broadcast together and given outputs keep their shape; an input
that overlaps an output is copied first. A reduction's map, reduce and post-map expressions run the
same way, reduced pairwise (a GPU's tree of partial sums has another order: last bits may differ).
Raw parameters, preambles and reductions along an axis are not emulated: such a kernel raises
NotImplementedError, and would be added here.
"""
import ctypes
import functools
import hashlib
import pathlib

import numpy as np

from . import build, capture, fake_cupy

_C_TYPES = {np.dtype(np.bool_): "bool", np.dtype(np.int32): "int", np.dtype(np.int64): "long long",
            np.dtype(np.uint32): "unsigned int", np.dtype(np.uint64): "unsigned long long",
            np.dtype(np.float32): "float", np.dtype(np.float64): "double"}

cache_dir = None  # set by cuda_emulator.install: where the kernels are compiled


class _Parameter:
    """One parameter of ``"T x, bool flag"``: its name, its type (a placeholder such as 'T', or a
    dtype), and whether it is const (an input)."""

    def __init__(self, text, const):
        words = text.split()
        if len(words) != 2:
            raise NotImplementedError(f"parameter {text!r}: the emulator takes '<type> <name>' only (no raw)")
        kind, self.name = words
        self.placeholder = kind if len(kind) == 1 else None
        self.dtype = None if self.placeholder else np.dtype(kind)
        self.const = const


def _parameters(text, const):
    return tuple(_Parameter(part, const) for part in text.split(",")) if text.strip() else ()


def _decide_types(kernel, parameters, arguments):
    """{placeholder: dtype} bound by the array arguments (outputs come first in ``parameters``),
    and each parameter's dtype; TypeError as CuPy's for a mismatch or an unbound placeholder."""
    bound = {}
    for parameter, argument in zip(parameters, arguments):
        if not isinstance(argument, fake_cupy.ndarray):
            continue
        expected = parameter.dtype if parameter.placeholder is None else bound.setdefault(parameter.placeholder,
                                                                                          argument.dtype)
        if argument.dtype != expected:
            raise TypeError(f"Type is mismatched. {kernel}: {parameter.name} is {argument.dtype}, expected {expected}")
    unbound = {p.placeholder for p in parameters if p.placeholder and p.placeholder not in bound}
    if unbound:
        raise TypeError(f"{kernel}: no array argument decides the type of {', '.join(sorted(unbound))}")
    return bound, [p.dtype if p.placeholder is None else bound[p.placeholder] for p in parameters]


def _out_dtypes(kernel, out_params, bound):
    """The dtypes of outputs CuPy allocates: their parameters' types, placeholders as the inputs bound them."""
    unbound = {p.placeholder for p in out_params if p.placeholder and p.placeholder not in bound}
    if unbound:
        raise TypeError(f"{kernel}: no array argument decides the type of {', '.join(sorted(unbound))}")
    return [p.dtype if p.placeholder is None else bound[p.placeholder] for p in out_params]


def _c_type(dtype):
    if dtype not in _C_TYPES:
        raise NotImplementedError(f"the emulator's elementwise kernels do not take {dtype}")
    return _C_TYPES[dtype]


def _declarations(parameters, is_array):
    """CuPy's declarations of the parameters inside the loop: arrays by reference at this element's
    offset, scalars by value."""
    lines = []
    for k, (parameter, array) in enumerate(zip(parameters, is_array)):
        const = "const " if parameter.const else ""
        kind = parameter.placeholder or _c_type(parameter.dtype)
        if array:
            lines.append(f"{const}{kind} &{parameter.name} = *reinterpret_cast<{const}{kind}*>("
                         f"static_cast<{const}char*>(_ember_args[{k}]) + _ember_offsets[{k}]);")
        else:
            lines.append(f"const {kind} {parameter.name} = *static_cast<const {kind}*>(_ember_args[{k}]);")
    return "\n      ".join(lines)


# The loop over the elements of a broadcast shape: the byte offset of element i in each argument.
_PROLOGUE = """#include "shim.h"
{typedefs}
static void _ember_offsets_of(long long i, int ndim, const long long* shape, const long long* strides,
                              int count, long long* offsets) {{
  for (int k = 0; k < count; ++k) offsets[k] = 0;
  for (int d = ndim - 1; d >= 0; --d) {{
    const long long coordinate = i % shape[d];
    i /= shape[d];
    for (int k = 0; k < count; ++k) offsets[k] += coordinate * strides[k * ndim + d];
  }}
}}
"""

_ELEMENTWISE = _PROLOGUE + """
extern "C" __attribute__((visibility("default")))
void ember_kernel(long long _ember_size, int _ember_ndim, const long long* _ember_shape,
                  const long long* _ember_strides, void* const* _ember_args) {{
  long long _ember_offsets[{count}];
  for (long long i = 0; i < _ember_size; ++i) {{
    _ember_offsets_of(i, _ember_ndim, _ember_shape, _ember_strides, {count}, _ember_offsets);
    {{
      {declarations}
      {operation};
    }}
  }}
}}
"""

_REDUCTION = _PROLOGUE + """typedef {reduce_type} _type_reduce;
#define REDUCE(a, b) ({reduce_expr})
#define POST_MAP(a) ({post_map_expr})

// The mapped elements [begin, end) reduced pairwise.
static _type_reduce _ember_reduce(long long begin, long long end, int _ember_ndim, const long long* _ember_shape,
                                  const long long* _ember_strides, void* const* _ember_args) {{
  if (end - begin > 8) {{
    const long long middle = begin + (end - begin) / 2;
    const _type_reduce a = _ember_reduce(begin, middle, _ember_ndim, _ember_shape, _ember_strides, _ember_args);
    const _type_reduce b = _ember_reduce(middle, end, _ember_ndim, _ember_shape, _ember_strides, _ember_args);
    return REDUCE(a, b);
  }}
  long long _ember_offsets[{count}];
  _type_reduce _s = _type_reduce({identity});
  for (long long i = begin; i < end; ++i) {{
    _ember_offsets_of(i, _ember_ndim, _ember_shape, _ember_strides, {count}, _ember_offsets);
    {declarations}
    const _type_reduce _a = static_cast<_type_reduce>({map_expr});
    _s = REDUCE(_s, _a);
  }}
  return _s;
}}

extern "C" __attribute__((visibility("default")))
void ember_kernel(long long _ember_size, int _ember_ndim, const long long* _ember_shape,
                  const long long* _ember_strides, void* const* _ember_args, void* _ember_out) {{
  _type_reduce _s = _ember_reduce(0, _ember_size, _ember_ndim, _ember_shape, _ember_strides, _ember_args);
  {out_type} &{out_name} = *static_cast<{out_type}*>(_ember_out);
  POST_MAP(_s);
}}
"""


@functools.cache
def _compiled(source, folder):
    """``ember_kernel`` of ``source``, compiled into ``folder`` (cached by the source's hash)."""
    digest = hashlib.sha256("\0".join([source, (build.HERE / "shim.h").read_text(), *build.FLAGS,
                                       build.COMPILER]).encode())
    path = pathlib.Path(folder) / f"elementwise-{digest.hexdigest()[:16]}.so"

    def make(work):
        (work / "kernel.cpp").write_text(source)
        build.compile_in(work, ["-shared", "kernel.cpp", "-o", "out"], "an elementwise kernel")

    return ctypes.CDLL(str(build.cached(path, make))).ember_kernel


def _typedefs(bound):
    return "\n".join(f"typedef {_c_type(dtype)} {name};" for name, dtype in sorted(bound.items()))


def _launch(name, function, shape, arguments, *extra):
    """Calls the compiled kernel ``name`` on the elements of ``shape``: ``arguments`` are device arrays
    (broadcast to ``shape``) and NumPy scalars."""
    cells, strides = [], []
    for argument in arguments:
        if isinstance(argument, fake_cupy.ndarray):
            cells.append(ctypes.c_void_p(argument._data.ctypes.data))
            strides.extend(argument.strides)
        else:
            cell = (ctypes.c_uint64 * 2)()  # aligned for any scalar
            ctypes.memmove(cell, argument.tobytes(), argument.itemsize)
            cells.append(cell)
            strides.extend([0] * len(shape))
    pointers = (ctypes.c_void_p * len(cells))(*[ctypes.addressof(cell) if not isinstance(cell, ctypes.c_void_p)
                                                else cell.value for cell in cells])
    function(ctypes.c_longlong(int(np.prod(shape, dtype=np.int64))), ctypes.c_int(len(shape)),
             (ctypes.c_longlong * max(1, len(shape)))(*shape), (ctypes.c_longlong * max(1, len(strides)))(*strides),
             pointers, *extra)
    for argument in arguments:
        if isinstance(argument, fake_cupy.ndarray):
            argument._allocation.check(name)


def _as_argument(value, kernel):
    if isinstance(value, fake_cupy.ndarray):
        return value
    if isinstance(value, (bool, int, float, complex, np.generic)):
        return value
    raise TypeError(f"{kernel}: Unsupported type {type(value)}: CuPy kernels take device arrays and scalars")


class ElementwiseKernel:
    """cupy.ElementwiseKernel, emulated (see the module's docstring)."""

    def __init__(self, in_params, out_params, operation, name="kernel", reduce_dims=True, preamble="",
                 no_return=False, return_tuple=False, **options):
        if preamble or options.get("loop_prep") or options.get("after_loop"):
            raise NotImplementedError(f"{name}: the emulator has no preamble, loop_prep or after_loop")
        self.name, self.operation = name, operation
        self.in_params, self.out_params = _parameters(in_params, True), _parameters(out_params, False)
        self.no_return, self.return_tuple = no_return, return_tuple

    @capture.recorded
    def __call__(self, *args, size=None, block_size=None, stream=None):
        nin, nout = len(self.in_params), len(self.out_params)
        if len(args) not in (nin, nin + nout) or size is not None:
            raise TypeError(f"Wrong number of arguments for {self.name}: {len(args)}, expected {nin} or {nin + nout}")
        inputs = [_as_argument(a, self.name) for a in args[:nin]]
        outputs = list(args[nin:])
        if any(not isinstance(o, fake_cupy.ndarray) for o in outputs):
            raise TypeError("Output arguments type must be cupy.ndarray")
        for i, value in enumerate(inputs):  # as CuPy: an input overlapping an output is read from a copy
            if isinstance(value, fake_cupy.ndarray) and any(
                    value is not o and np.may_share_memory(value._data, o._data) for o in outputs):
                inputs[i] = value.copy()
        bound, dtypes = _decide_types(self.name, self.out_params[:len(outputs)] + self.in_params, outputs + inputs)
        in_dtypes, out_dtypes = dtypes[len(outputs):], _out_dtypes(self.name, self.out_params, bound)
        arrays = [a._data for a in inputs + outputs if isinstance(a, fake_cupy.ndarray)]
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        if any(o.shape != shape for o in outputs):
            raise ValueError(f"Out shape is mismatched: {[o.shape for o in outputs]} while {shape} is expected")
        if not outputs:
            outputs = [fake_cupy.empty(shape, dtype) for dtype in out_dtypes]
        arguments = [fake_cupy.ndarray(np.broadcast_to(a._data, shape), a._allocation)
                     if isinstance(a, fake_cupy.ndarray) else dtype.type(a) for a, dtype in zip(inputs, in_dtypes)]
        if int(np.prod(shape, dtype=np.int64)):
            source = _ELEMENTWISE.format(typedefs=_typedefs(bound), count=nin + nout, operation=self.operation,
                                         declarations=_declarations(self.in_params + self.out_params,
                                                                    [isinstance(a, fake_cupy.ndarray)
                                                                     for a in arguments] + [True] * nout))
            _launch(self.name, _compiled(source, str(cache_dir)), shape, arguments + outputs)
        if self.no_return:
            return None
        return tuple(outputs) if self.return_tuple or nout > 1 else outputs[0]


class ReductionKernel:
    """cupy.ReductionKernel, emulated over every element (axis=None) into a 0-d array."""

    def __init__(self, in_params, out_params, map_expr, reduce_expr, post_map_expr, identity, name="reduce_kernel",
                 reduce_type=None, reduce_dims=True, preamble="", options=()):
        if preamble:
            raise NotImplementedError(f"{name}: the emulator has no preamble")
        self.in_params, self.out_params = _parameters(in_params, True), _parameters(out_params, False)
        if len(self.out_params) != 1:
            raise NotImplementedError(f"{name}: the emulator reduces into one output")
        self.name, self.map_expr, self.reduce_expr, self.post_map_expr = name, map_expr, reduce_expr, post_map_expr
        self.identity, self.reduce_type = identity, reduce_type

    @capture.recorded
    def __call__(self, *args, out=None, axis=None, keepdims=False, stream=None):
        if out is not None or axis is not None or keepdims:
            raise NotImplementedError(f"{self.name}: the emulator reduces over every element into a new array")
        if len(args) != len(self.in_params):
            raise TypeError(f"Wrong number of arguments for {self.name}")
        inputs = [_as_argument(a, self.name) for a in args]
        bound, in_dtypes = _decide_types(self.name, self.in_params, inputs)
        (out_param,), (out_dtype,) = self.out_params, _out_dtypes(self.name, self.out_params, bound)
        shape = np.broadcast_shapes(*(a.shape for a in inputs if isinstance(a, fake_cupy.ndarray)))
        arguments = [fake_cupy.ndarray(np.broadcast_to(a._data, shape), a._allocation)
                     if isinstance(a, fake_cupy.ndarray) else dtype.type(a) for a, dtype in zip(inputs, in_dtypes)]
        result = fake_cupy.empty((), out_dtype)
        source = _REDUCTION.format(
            typedefs=_typedefs(bound), count=len(arguments), identity=self.identity, map_expr=self.map_expr,
            reduce_expr=self.reduce_expr, post_map_expr=self.post_map_expr,
            reduce_type=self.reduce_type or out_param.placeholder or _c_type(out_dtype),
            out_type=out_param.placeholder or _c_type(out_dtype), out_name=out_param.name,
            declarations=_declarations(self.in_params, [isinstance(a, fake_cupy.ndarray) for a in arguments]))
        _launch(self.name, _compiled(source, str(cache_dir)), shape, arguments,
                ctypes.c_void_p(result._data.ctypes.data))
        result._allocation.check(self.name)
        return result
