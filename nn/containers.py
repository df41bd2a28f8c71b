"""Containers: ``Sequential``, ``ModuleList``, ``ModuleDict``, ``ParameterList``, ``ParameterDict``."""
from collections import OrderedDict
from collections.abc import Mapping

from .module import Module, Parameter


class Sequential(Module):
    """Modules applied in order: ``Sequential(a, b)(x) == b(a(x))``. Accepts modules or one
    OrderedDict of named modules; indexable, sliceable and iterable."""

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(args):
                self.add_module(str(index), module)

    def forward(self, input):
        for module in self._modules.values():
            input = module(input)
        return input

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        return list(self._modules.values())[_checked_index(index, len(self), "Sequential")]

    def __setitem__(self, index, module):
        key = list(self._modules)[_checked_index(index, len(self), "Sequential")]
        self.add_module(key, module)

    def __delitem__(self, index):
        _delete_and_renumber(self, index)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def insert(self, index, module):
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: {Module}")
        _insert_and_renumber(self, index, module, "Sequential")
        return self

    def pop(self, index):
        module = self[index]
        del self[index]
        return module


class ModuleList(Module):
    """A list of modules, registered so their parameters are the list owner's."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        return self._modules[str(_checked_index(index, len(self), "ModuleList"))]

    def __setitem__(self, index, module):
        self.add_module(str(_checked_index(index, len(self), "ModuleList")), module)

    def __delitem__(self, index):
        _delete_and_renumber(self, index)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        return ModuleList(list(self) + list(other))

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def insert(self, index, module):
        _insert_and_renumber(self, index, module, "ModuleList")

    def pop(self, index=-1):
        module = self[index]
        del self[index]
        return module

    def forward(self, *args):
        raise NotImplementedError("ModuleList is a container; iterate over it in your forward")

    def __repr__(self):
        # as PyTorch: a run of equal modules prints once, "(first-last): n x module"
        if not len(self):
            return "ModuleList()"
        runs = []  # [first, last, repr]
        for i, module in enumerate(self):
            text = repr(module)
            if runs and runs[-1][2] == text:
                runs[-1][1] = i
            else:
                runs.append([i, i, text])
        lines = [(f"({first}): " if first == last else f"({first}-{last}): {last - first + 1} x ")
                 + text.replace("\n", "\n  ") for first, last, text in runs]
        return "ModuleList(\n  " + "\n  ".join(lines) + "\n)"


class _NamedRegistry:
    """The read side of a dict container, over one of Module's registries (``_registry``)."""

    _registry = None

    def _entries(self):
        return self.__dict__[self._registry]

    def __getitem__(self, key):
        return self._entries()[key]

    def __delitem__(self, key):
        del self._entries()[key]

    def __len__(self):
        return len(self._entries())

    def __iter__(self):
        return iter(self._entries())

    def __contains__(self, key):
        return key in self._entries()

    def keys(self):
        return self._entries().keys()

    def values(self):
        return self._entries().values()

    def items(self):
        return self._entries().items()

    def pop(self, key):
        value = self[key]
        del self[key]
        return value


class ModuleDict(_NamedRegistry, Module):
    """A dict of modules by name, registered so their parameters are the dict owner's."""

    _registry = "_modules"

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def update(self, modules):
        items = modules.items() if hasattr(modules, "items") else modules
        for key, module in items:
            self.add_module(key, module)

    def clear(self):
        self._modules.clear()

    def forward(self, *args):
        raise NotImplementedError("ModuleDict is a container; look modules up in your forward")


class ParameterList(Module):
    """A list of parameters, registered as ``"0"``, ``"1"``..."""

    def __init__(self, values=None):
        super().__init__()
        for value in values or ():
            self.append(value)

    def __getitem__(self, index):
        return self._parameters[str(_checked_index(index, len(self), "ParameterList"))]

    def __setitem__(self, index, value):
        self.register_parameter(str(_checked_index(index, len(self), "ParameterList")), _as_parameter(value))

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())

    def append(self, value):
        self.register_parameter(str(len(self)), _as_parameter(value))
        return self

    def extend(self, values):
        for value in values:
            self.append(value)
        return self

    def extra_repr(self):
        return _parameter_lines(enumerate(self), lambda p: str(p.dtype))


class ParameterDict(_NamedRegistry, Module):
    """A dict of parameters by name."""

    _registry = "_parameters"

    def __init__(self, parameters=None):
        super().__init__()
        self.update(parameters or ())

    def __setitem__(self, key, value):
        self.register_parameter(key, _as_parameter(value))

    def update(self, parameters):
        """Add (key, parameter) pairs; a plain dict's keys are taken in sorted order, as PyTorch."""
        if isinstance(parameters, (OrderedDict, ParameterDict)):
            items = parameters.items()
        elif isinstance(parameters, Mapping):
            items = sorted(parameters.items())
        else:
            items = parameters
        for key, value in items:
            self[key] = value

    def extra_repr(self):
        return _parameter_lines(self.items(), lambda p: p.type())


def _parameter_lines(items, type_name):
    """PyTorch's listing of a parameter container: ``(key): Parameter containing: [type of size
    2x3]``, indented two more spaces than submodules are."""
    lines = []
    for key, p in items:
        device = f" ({p.device})" if p.device.type != "cpu" else ""
        lines.append(f"  ({key}): Parameter containing: [{type_name(p)} of size "
                     f"{'x'.join(map(str, p.shape))}{device}]")
    return "\n".join(lines)


def _delete_and_renumber(container, index):
    """Delete module(s) by index or slice and renumber the rest 0..n-1, as PyTorch does."""
    keys = list(container._modules)
    doomed = keys[index] if isinstance(index, slice) else \
        [keys[_checked_index(index, len(keys), type(container).__name__)]]
    for key in doomed:
        del container._modules[key]
    modules = list(container._modules.values())
    container._modules.clear()
    for i, module in enumerate(modules):
        container._modules[str(i)] = module


def _insert_and_renumber(container, index, module, name):
    modules = list(container._modules.values())
    if not -len(modules) <= index <= len(modules):
        raise IndexError(f"Index out of range: {index}")
    modules.insert(index, module)
    container._modules.clear()
    for i, m in enumerate(modules):
        container.add_module(str(i), m)


def _as_parameter(value):
    return value if isinstance(value, Parameter) else Parameter(value)


def _checked_index(index, length, container):
    if not -length <= index < length:
        raise IndexError(f"index {index} is out of range for {container} of length {length}")
    return index % length
