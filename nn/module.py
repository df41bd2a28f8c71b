"""``Module`` and ``Parameter``: the building blocks of models, with PyTorch's semantics.

A Module registers what is assigned to it: a ``Parameter`` becomes a parameter, a ``Module`` a
submodule, and ``register_buffer`` adds state that is saved but not trained (running statistics).
Everything else (``parameters()``, ``state_dict()``, ``to()``, hooks...) walks that tree.
"""
import functools
from collections import OrderedDict, namedtuple
from collections.abc import Mapping
from fnmatch import fnmatchcase

import numpy as np

from ..engine import Tensor, is_grad_enabled, no_grad
from ..engine.cuda_graphs import bake, is_current_stream_capturing
from ..engine.function import Function
from ..engine.tensor import RemovableHandle, Size


class Parameter(Tensor):
    """A Tensor that is a module's trainable weight: assigning one to a Module registers it.
    ``requires_grad`` defaults to True."""

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = np.empty(0, np.float32)
        super().__init__(data._data if isinstance(data, Tensor) else data)
        if requires_grad:
            self.requires_grad = True

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        copy = Parameter(self._data.copy(), self.requires_grad)
        memo[id(self)] = copy
        return copy


class IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns: the keys it did not find and the keys it did not use."""
    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


class Module:
    """Base class of every layer and model. Subclasses set parameters and submodules in
    ``__init__`` (after ``super().__init__()``) and compute in ``forward``; call the module itself
    (``model(x)``) so that hooks run."""

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_backward_hooks", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" '
                                  f'function')

    # ---- registration --------------------------------------------------------------------------

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            # plain attributes may be set before Module.__init__ (PyTorch allows it), not these
            if isinstance(value, (Parameter, Module)):
                kind = "parameters" if isinstance(value, Parameter) else "module"
                raise AttributeError(f"cannot assign {kind} before Module.__init__() call (call "
                                     f"super().__init__() first in {type(self).__name__}.__init__)")
            object.__setattr__(self, name, value)
            return
        params, modules, buffers = self._parameters, self._modules, self._buffers
        if isinstance(value, Parameter):
            self._discard(name, keep=params)
            params[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                f"(ember.nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            self._discard(name, keep=modules)
            modules[name] = value
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                f"(ember.nn.Module or None expected)")
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                f"(ember.Tensor or None expected)")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _discard(self, name, keep=None):
        """Forget ``name`` everywhere but in the registry ``keep``, where reassigning it keeps its
        position (so the order of parameters and state_dict keys does not change, as in PyTorch)."""
        for registry in (self.__dict__, self._parameters, self._modules, self._buffers):
            if registry is not keep:
                registry.pop(name, None)
        if keep is not self._buffers:
            self._non_persistent_buffers.discard(name)

    def __getattr__(self, name):
        # Only called when normal lookup fails: the registered parameters, buffers and submodules.
        state = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in state and name in state[registry]:
                return state[registry][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        if name in self._parameters or name in self._buffers or name in self._modules:
            self._discard(name)
        else:
            object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    def register_parameter(self, name, param):
        """Add a parameter (or None, a declared-but-absent one) under ``name``."""
        _check_name(self, name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            f"(ember.nn.Parameter or None required)")
        self._discard(name, keep=self._parameters)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Add state that is not trained; ``persistent=False`` keeps it out of ``state_dict``."""
        _check_name(self, name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            f"(ember.Tensor or None required)")
        self._discard(name, keep=self._buffers)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name, module):
        """Add a submodule (or None) under ``name``."""
        _check_name(self, name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._discard(name, keep=self._modules)
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target):
        """The submodule at a dotted path such as ``"features.0"``."""
        module = self
        for part in target.split(".") if target else ():
            if part not in module._modules:
                raise AttributeError(f"{type(module).__name__} has no attribute `{part}` (looking up "
                                     f"'{target}')")
            module = module._modules[part]
        return module

    # ---- walking the tree ----------------------------------------------------------------------

    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(dotted name, module) for this module and every descendant, each once."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if self in memo:
                return
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                                remove_duplicate)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        seen = set()
        for name, module in self._modules.items():
            if module is not None and module not in seen:
                seen.add(module)
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry, prefix, recurse, remove_duplicate=True):
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(dotted name, Parameter) pairs; a parameter shared by two modules appears once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    # ---- state ---------------------------------------------------------------------------------

    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """Every parameter and persistent buffer by dotted name, in registration order (detached
        unless ``keep_vars``)."""
        destination = OrderedDict() if destination is None else destination
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buffer in self._buffers.items():
            if buffer is not None and name not in self._non_persistent_buffers:
                destination[prefix + name] = buffer if keep_vars else buffer.detach()
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination, prefix + name + ".", keep_vars)
        return destination

    def load_state_dict(self, state_dict, strict=True):
        """Copy ``state_dict``'s tensors into this module's parameters and buffers (in place).

        Mis-shaped entries always raise; with ``strict``, missing and unexpected keys raise too.
        Returns ``(missing_keys, unexpected_keys)``.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            source = state_dict[key]
            source_array = source._data if isinstance(source, Tensor) else np.asarray(source)
            if source_array.shape != target._data.shape:
                errors.append(f"size mismatch for {key}: copying a param with shape "
                              f"{Size(source_array.shape)!r} from checkpoint, the shape in current "
                              f"model is {Size(target._data.shape)!r}.")
        if strict:  # PyTorch's wording, trailing spaces included
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        with no_grad():
            for key, target in own.items():
                if key in state_dict:
                    source = state_dict[key]
                    target.copy_(source if isinstance(source, Tensor) else Tensor(np.asarray(source)))
        return IncompatibleKeys(missing, unexpected)

    # ---- modes, devices, gradients -------------------------------------------------------------

    def train(self, mode=True):
        """Training mode (dropout active, batch norm uses batch statistics) for this module and
        all descendants."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def freeze(self, *patterns):
        """Stop training parameters: with no pattern all of them, else those whose dotted name (or
        the name of a submodule holding them) matches one of the fnmatch-style ``patterns``:
        ``model.freeze("layers.0", "layers.3")``, ``model.freeze("*.bias")``.

        A frozen parameter gets ``requires_grad=False`` and loses its ``.grad``: backward no longer
        computes its gradient and optimizers, which skip parameters without one, leave it bitwise
        unchanged (no momentum, no weight decay). Buffers are not parameters: batch norm's running
        statistics still follow the data in training mode; ``.eval()`` the frozen part to keep them.
        Returns self."""
        for param in _selected_parameters(self, "freeze", patterns):
            param.requires_grad_(False)
            param.grad = None
        return self

    def unfreeze(self, *patterns):
        """Undo ``freeze`` (same patterns): the selected parameters get ``requires_grad=True``.
        Returns self."""
        for param in _selected_parameters(self, "unfreeze", patterns):
            param.requires_grad_(True)
        return self

    def zero_grad(self, set_to_none=True):
        """Clear every parameter's ``.grad`` (to None by default, as PyTorch 2 does)."""
        for param in self.parameters():
            if param.grad is not None:
                if set_to_none:
                    param.grad = None
                else:
                    param.grad.detach_()
                    param.grad.zero_()

    def apply(self, fn):
        """Call ``fn(module)`` on every descendant, then on this module (as ``init`` code does)."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def _apply_to_tensors(self, convert):
        """Replace every parameter's and buffer's array (and gradient) by ``convert(tensor)``,
        keeping the Parameter objects, so optimizers that hold them stay valid."""
        with no_grad():
            for module in self.modules():
                for registry in (module._parameters, module._buffers):
                    for tensor in registry.values():
                        if tensor is None:
                            continue
                        tensor._data = convert(tensor)._data
                        if tensor.grad is not None:
                            tensor.grad = convert(tensor.grad)
        return self

    def to(self, *args, **kwargs):
        """Move and/or cast parameters and buffers: ``to(device)``, ``to(dtype)``, ``to(device,
        dtype)``, ``to(tensor)``. Only floating tensors change dtype, as in PyTorch."""
        from ..engine.ops.conversion import _parse_to_args
        dtype, device, _ = _parse_to_args(args, dict(kwargs))
        if dtype is not None and not dtype.is_floating_point:
            raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dtype}")

        def convert(t):
            t = t.to(device) if device is not None else t
            return t.to(dtype) if dtype is not None and t.is_floating_point() else t
        return self._apply_to_tensors(convert)

    def float(self):
        return self.to(dtype="float32")

    def double(self):
        return self.to(dtype="float64")

    def half(self):
        return self.to(dtype="float16")

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{device}" if isinstance(device, int) else device)

    # ---- calling and hooks ---------------------------------------------------------------------

    def register_forward_pre_hook(self, hook):
        """``hook(module, args)`` runs before forward; a returned value replaces the args."""
        return _add_hook(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook):
        """``hook(module, args, output)`` runs after forward; a returned value replaces the output."""
        return _add_hook(self._forward_hooks, hook)

    def register_full_backward_hook(self, hook):
        """``hook(module, grad_input, grad_output)`` runs when the gradients with respect to the
        module's tensor inputs are computed; a returned tuple replaces ``grad_input``."""
        return _add_hook(self._backward_hooks, hook)

    register_backward_hook = register_full_backward_hook

    def __call__(self, *args, **kwargs):
        if is_current_stream_capturing():  # a graph holds the branch train() or eval() took: replays must not mix
            bake(f"{type(self).__name__}.training", functools.partial(getattr, self, "training"), self.training)
        for hook in list(self._forward_pre_hooks.values()):
            replaced = hook(self, args)
            if replaced is not None:
                args = replaced if isinstance(replaced, tuple) else (replaced,)
        backward_hooks = self._backward_hooks and is_grad_enabled()
        if backward_hooks:
            record = _BackwardHookRecord(self, args)
            args = record.wrap_inputs(args)
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            replaced = hook(self, args, output)
            if replaced is not None:
                output = replaced
        if backward_hooks:
            output = record.wrap_output(output)
        return output

    # ---- printing ------------------------------------------------------------------------------

    def extra_repr(self):
        """The text inside this module's parentheses in ``repr`` (e.g. ``in_features=4``)."""
        return ""

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        body = type(self).__name__ + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                return body + lines[0] + ")"
            body += "\n  " + "\n  ".join(lines) + "\n"
        return body + ")"


def _check_name(module, name, kind):
    if "_parameters" not in module.__dict__:
        raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
    if "." in name or name == "":
        raise KeyError(f"{kind} name can't contain \".\" or be empty (got '{name}')")
    if hasattr(module, name) and name not in module._parameters and name not in module._buffers \
            and name not in module._modules:
        raise KeyError(f"attribute '{name}' already exists")


def _selected_parameters(module, caller, patterns):
    """The parameters of ``module`` named by ``patterns`` (all of them without one); a pattern that
    selects nothing is an error, so that a typo does not silently leave a model trainable."""
    named = list(module.named_parameters())
    if not patterns:
        return [param for _, param in named]

    def prefixes(name):  # "a.b.weight" -> "a", "a.b", "a.b.weight"
        parts = name.split(".")
        return (".".join(parts[:i]) for i in range(1, len(parts) + 1))

    selected = {}
    for pattern in patterns:
        hits = [(name, param) for name, param in named
                if any(fnmatchcase(prefix, pattern) for prefix in prefixes(name))]
        if not hits:
            names = ", ".join(name for name, _ in named[:12]) + (", ..." if len(named) > 12 else "")
            raise ValueError(f"{type(module).__name__}.{caller}: pattern '{pattern}' matches no parameter "
                             f"(the parameters are: {names or 'none'})")
        selected.update((id(param), param) for _, param in hits)
    return list(selected.values())


def _add_hook(hooks, hook):
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    return handle


class _HookIdentity(Function):
    """Identity whose backward reports the gradient passing through (module backward hooks)."""

    @staticmethod
    def forward(ctx, x, on_backward):
        ctx.on_backward = on_backward
        return x.copy() if hasattr(x, "copy") else x

    @staticmethod
    def backward(ctx, grad):
        replaced = ctx.on_backward(grad)
        return (grad if replaced is None else replaced), None


class _BackwardHookRecord:
    """Collects grad_output (at the output's identity) and grad_input (at each input's identity)
    of one module call, and calls the module's backward hooks once grad_input is complete."""

    def __init__(self, module, args):
        self.module = module
        self.positions = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        self.grad_input = [None] * len(args)
        self.waiting = len(self.positions)
        self.grad_output = None

    def wrap_inputs(self, args):
        args = list(args)
        for i in self.positions:
            args[i] = _HookIdentity.apply(args[i], lambda g, i=i: self._input_grad(i, g))
        return tuple(args)

    def wrap_output(self, output):
        if isinstance(output, Tensor) and output.requires_grad:
            return _HookIdentity.apply(output, self._output_grad)
        return output

    def _output_grad(self, grad):
        self.grad_output = (grad,)
        if not self.positions:  # no input needs a gradient: the hooks run now, with (None,)
            self._run_hooks()

    def _input_grad(self, i, grad):
        self.grad_input[i] = grad
        self.waiting -= 1
        if self.waiting == 0:
            replaced = self._run_hooks()
            if replaced is not None:
                return replaced[i]
        return None

    def _run_hooks(self):
        grad_input = tuple(self.grad_input) if self.positions else (None,)
        result = None
        for hook in list(self.module._backward_hooks.values()):
            out = hook(self.module, grad_input, self.grad_output)
            if out is not None:
                result = grad_input = tuple(out)
        return result
