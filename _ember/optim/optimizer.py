"""``Optimizer``: the base of every optimizer, with ``torch.optim.Optimizer``'s semantics.

Parameters live in ``param_groups``, a list of dicts: ``"params"`` (a list of tensors) plus that
group's options, the missing ones filled in from ``defaults``. Per-parameter buffers live in
``state[param]``. ``state_dict()`` refers to parameters by their position across all groups, so a
checkpoint loads into a fresh optimizer built over the same parameters in the same order.

The built-in optimizers write ``param._data`` (the NumPy/CuPy array) in place with the array
module's operators, step by step in the order of PyTorch's single-tensor (CPU) kernels, so float32
results agree with PyTorch's to rounding. Working on the arrays records no graph and costs a few
microseconds per parameter; each write bumps the parameter's version counter as an in-place op
does, so a graph that saved the old value refuses to run backward through it.
"""
import functools
import warnings
from collections import OrderedDict, defaultdict
from copy import deepcopy
from itertools import chain

import numpy as np

from ..engine import Tensor, enable_grad
from ..engine import dtypes
from ..engine.tensor import RemovableHandle

__all__ = ["Optimizer", "register_optimizer_step_pre_hook", "register_optimizer_step_post_hook"]


class _RequiredParameter:
    """The default of an option every group must set (PyTorch's ``optim.optimizer.required``)."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()

_global_step_pre_hooks = OrderedDict()
_global_step_post_hooks = OrderedDict()


def register_optimizer_step_pre_hook(hook):
    """Call ``hook(optimizer, args, kwargs)`` before every optimizer's ``step``; it may return new
    ``(args, kwargs)``. Returns a handle whose ``remove()`` unregisters it."""
    handle = RemovableHandle(_global_step_pre_hooks)
    _global_step_pre_hooks[handle.id] = hook
    return handle


def register_optimizer_step_post_hook(hook):
    """Call ``hook(optimizer, args, kwargs)`` after every optimizer's ``step``."""
    handle = RemovableHandle(_global_step_post_hooks)
    _global_step_post_hooks[handle.id] = hook
    return handle


def _typename(obj):
    if isinstance(obj, Tensor):
        return "ember.Tensor"
    cls = type(obj)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _hooked(step):
    """Wrap a subclass's ``step`` so the step hooks run around it and lr schedulers can tell that
    the optimizer stepped. A ``step`` that calls ``super().step()`` runs the hooks once."""
    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        if self.__dict__.get("_in_step"):
            return step(self, *args, **kwargs)
        for pre_hook in chain(list(_global_step_pre_hooks.values()), list(self._optimizer_step_pre_hooks.values())):
            result = pre_hook(self, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(f"{step} must return None or a tuple of (new_args, new_kwargs), "
                                       f"but got {result}.")
                args, kwargs = result
        self._in_step = True
        try:
            out = step(self, *args, **kwargs)
        finally:
            self._in_step = False
        self._opt_called = True
        for post_hook in chain(list(self._optimizer_step_post_hooks.values()), list(_global_step_post_hooks.values())):
            post_hook(self, args, kwargs)
        return out
    wrapper.hooked = True
    return wrapper


def _add_hook(hooks, hook, prepend=False):
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


class Optimizer:
    r"""Base class of all optimizers.

    Args:
        params: an iterable of Tensors, of ``(name, Tensor)`` pairs (``named_parameters()``), or of
            dicts, each a parameter group: ``{"params": [...], "lr": ...}`` with per-group options.
        defaults (dict): the options' default values, used where a group does not set them.

    Subclasses implement ``step(closure=None)``; give parameters a deterministic order (a list,
    not a set), since ``state_dict`` refers to them by position.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "hooked", False):
            cls.step = _hooked(step)

    def __init__(self, params, defaults):
        if defaults.get("differentiable"):
            raise NotImplementedError(f"{type(self).__name__}: differentiable=True is not supported by ember; "
                                      f"its optimizers update parameters outside autograd")
        if defaults.get("fused") and defaults.get("foreach"):
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
        self.defaults = defaults
        self._optimizer_step_pre_hooks = OrderedDict()
        self._optimizer_step_post_hooks = OrderedDict()
        self._optimizer_state_dict_pre_hooks = OrderedDict()
        self._optimizer_state_dict_post_hooks = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks = OrderedDict()
        self._optimizer_load_state_dict_post_hooks = OrderedDict()
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or "
                            "dicts, but got " + _typename(params))
        self.state = defaultdict(dict)
        self.param_groups = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)
        for name in ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks", "_optimizer_state_dict_pre_hooks",
                     "_optimizer_state_dict_post_hooks", "_optimizer_load_state_dict_pre_hooks",
                     "_optimizer_load_state_dict_post_hooks"):
            self.__dict__.setdefault(name, OrderedDict())
        # A state dict from an older or foreign optimizer may lack newer options: take the defaults.
        for group in self.param_groups:
            for name, default in self.defaults.items():
                if default is not required:
                    group.setdefault(name, default)
        self._step_tensors()

    def __repr__(self):
        text = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"

    # ---- parameter groups ----------------------------------------------------------------------

    def add_param_group(self, param_group):
        """Add a group of parameters (a dict with ``"params"`` and optional per-group options), e.g.
        to train layers unfrozen part-way through."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        else:
            params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        param_group["params"] = params = [p[1] if isinstance(p, tuple) else p for p in params]
        if names:
            if len(names) != len(params):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            param_group["param_names"] = names
        for param in params:
            if not isinstance(param, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is " + _typename(param))
            if not (param.is_leaf or param.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        if len(params) != len(set(params)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will "
                          "cause an error; see github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)
        existing = set()
        for group in self.param_groups:
            existing.update(group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                kind = "with names" if "param_names" in param_group else "without names"
                raise ValueError(f"all optimizer param groups should be with/without names. cannot add param group "
                                 f"{kind} to the optimizer")
        if not existing.isdisjoint(params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none=True):
        """Reset every parameter's ``.grad``: to None (the default), or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if grad.grad_fn is not None:
                        grad.detach_()
                    else:
                        grad.requires_grad_(False)
                    grad.zero_()

    def step(self, closure=None):
        """Update the parameters once. ``closure`` (optional for most optimizers) re-evaluates the
        model and returns the loss, which ``step`` returns."""
        raise NotImplementedError

    @staticmethod
    def _evaluate(closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # ---- hooks ---------------------------------------------------------------------------------

    def register_step_pre_hook(self, hook):
        """``hook(optimizer, args, kwargs) -> None or (new_args, new_kwargs)``, before each step."""
        return _add_hook(self._optimizer_step_pre_hooks, hook)

    def register_step_post_hook(self, hook):
        """``hook(optimizer, args, kwargs) -> None``, after each step."""
        return _add_hook(self._optimizer_step_post_hooks, hook)

    def register_state_dict_pre_hook(self, hook, prepend=False):
        """``hook(optimizer) -> None``, before ``state_dict`` builds its result."""
        return _add_hook(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook, prepend=False):
        """``hook(optimizer, state_dict) -> state_dict or None``, on ``state_dict``'s result."""
        return _add_hook(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook, prepend=False):
        """``hook(optimizer, state_dict) -> state_dict or None``, before loading."""
        return _add_hook(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook, prepend=False):
        """``hook(optimizer) -> None``, after loading."""
        return _add_hook(self._optimizer_load_state_dict_post_hooks, hook, prepend)

    # ---- checkpoints ---------------------------------------------------------------------------

    def state_dict(self):
        """``{"state": {index: {buffer name: value}}, "param_groups": [{option: value, "params":
        [index, ...]}]}``, parameters numbered in order across all groups. As in PyTorch, the buffers
        are the live tensors, not copies: deep-copy (or save) the result to keep a snapshot."""
        for pre_hook in self._optimizer_state_dict_pre_hooks.values():
            pre_hook(self)
        index = {}

        def pack(group):
            start = len(index)
            for i, p in enumerate(group["params"], start):
                index.setdefault(id(p), i)
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index[id(p)] for p in group["params"]]
            return packed

        param_groups = [pack(g) for g in self.param_groups]
        state = {(index[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        state_dict = {"state": state, "param_groups": param_groups}
        for post_hook in self._optimizer_state_dict_post_hooks.values():
            result = post_hook(self, state_dict)
            if result is not None:
                state_dict = result
        return state_dict

    def load_state_dict(self, state_dict):
        """Restore what ``state_dict()`` returned: the groups' options and each parameter's buffers
        (floating-point buffers cast to the parameter's dtype and device). The groups must hold as
        many parameters as the saved ones. Load it after creating any lr scheduler, whose creation
        would overwrite the loaded learning rates."""
        state_dict = state_dict.copy()
        for pre_hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = pre_hook(self, state_dict)
            if result is not None:
                state_dict = result
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))
        state = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key in id_map:
                param = id_map[key]
                state[param] = _cast(param, value)
            else:
                state[key] = value
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
        self.__setstate__({"state": state, "param_groups": saved_groups})
        for post_hook in self._optimizer_load_state_dict_post_hooks.values():
            post_hook(self)

    def _step_tensors(self):
        """Turn saved step counts that are plain numbers into the step tensors ``step`` updates."""
        for per_param in self.state.values():
            if "step" in per_param and not isinstance(per_param["step"], Tensor):
                per_param["step"] = _step_counter(float(per_param["step"]))


def _cast(param, value, key=None):
    """A loaded state value made ready for ``param``: tensors on its device and (all but the step
    count, and when it is floating point) in its dtype; containers rebuilt around them."""
    if isinstance(value, Tensor):
        if key == "step":
            return value
        return value.to(device=param.device, dtype=param.dtype) if param.is_floating_point() \
            else value.to(device=param.device)
    if isinstance(value, dict):
        return {k: _cast(param, v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast(param, v) for v in value)
    return value


# ---- shared pieces of the update rules ---------------------------------------------------------

def _step_counter(value=0.0):
    """A step count as PyTorch keeps it: a 0-d float tensor on the host (float64 only when that is
    the default dtype), so the state dicts of both libraries hold the same things."""
    dtype = np.float64 if dtypes.get_default_dtype() is dtypes.float64 else np.float32
    return Tensor(np.array(value, dtype))


def _check_capture(optimizer, group, creating_state, live=("lr",), zero_branches=()):
    """While a CUDA graph is captured (``ember.cuda.graph``): refuse to create a parameter's state,
    which every replay would create afresh (zeroed moments, a momentum restarted), and note what the
    graph holds as it is now, so that a replay after a change raises instead of using the old: the
    group's options (but those in ``live``, which the kernels read from the device, ``_group_scalar``,
    so that a scheduler may change them; of those in ``zero_branches`` whether they are 0, which picks
    the kernel), that the group is still the optimizer's, and the arrays of its parameters and their
    state (``load_state_dict`` replaces them)."""
    from ..engine import cuda_graphs
    if not cuda_graphs.is_current_stream_capturing():
        return
    name = type(optimizer).__name__
    if creating_state:
        raise RuntimeError(f"{name}.step: a parameter has no optimizer state yet, and state made inside a CUDA-graph "
                           f"capture would be made again at every replay; take a step before capturing "
                           f"(make_graphed_step's warm-up does)")
    for key, value in group.items():
        if key != "params" and key not in live:
            cuda_graphs.bake(f"{name}'s {key!r}", functools.partial(group.get, key), deepcopy(value))
    for key in zero_branches:
        cuda_graphs.bake(f"whether {name}'s {key!r} is 0", lambda key=key: group[key] == 0, group[key] == 0)
    cuda_graphs.bake(f"whether the group is one of {name}'s", lambda: any(g is group for g in optimizer.param_groups),
                     True)
    arrays = functools.partial(_arrays_of, optimizer, group)
    cuda_graphs.bake(f"the arrays of {name}'s parameters and state (their memory)", arrays, arrays())


def _arrays_of(optimizer, group):
    """The ids of the arrays of ``group``'s parameters and of their state tensors, in order."""
    ids = []
    for p in group["params"]:
        ids.append(id(p._data))
        ids.extend(id(v._data) for v in optimizer.state.get(p, {}).values() if isinstance(v, Tensor))
    return tuple(ids)


def _group_scalar(group, key, dtype, index=None):
    """``group[key]`` (or ``group[key][index]``, e.g. one of Adam's betas) as a kernel takes it: the
    number, or inside a CUDA-graph capture a 0-d device array of ``dtype`` that every replay sets to the
    group's value then (schedulers change the learning rate and the momentum)."""
    from ..engine import cuda_graphs

    def read():
        return group[key] if index is None else group[key][index]
    if not cuda_graphs.is_current_stream_capturing():  # the usual case, on every step: the number itself
        return read()
    return cuda_graphs.graph_scalar((id(group), key, index, str(dtype)), read, dtype)


def _increment(step):
    """Add one to a step tensor in place and return the new count as a Python float. The count lives
    on the host, where a CUDA-graph replay cannot advance it: refused inside a capture."""
    from ..engine import cuda_graphs
    if cuda_graphs.is_current_stream_capturing():
        raise RuntimeError("this optimizer counts its steps on the host, which a CUDA-graph replay cannot advance; "
                           "SGD and Adam/AdamW(capturable=True) can be captured")
    step._data += 1
    return float(step._data)


def _grads(group):
    """(param, gradient array) for each parameter of ``group`` that has a gradient."""
    return [(p, p.grad._data) for p in group["params"] if p.grad is not None]


def _check_non_negative(**values):
    """PyTorch's checks ``0 <= value`` with its messages, e.g. 'Invalid learning rate: -1'."""
    for name, value in values.items():
        if not 0.0 <= value:
            raise ValueError(f"Invalid {_LABELS[name]}: {value}")


_LABELS = {"lr": "learning rate", "eps": "epsilon value", "momentum": "momentum value",
           "weight_decay": "weight_decay value", "alpha": "alpha value", "lr_decay": "lr_decay value",
           "initial_accumulator_value": "initial_accumulator_value value"}
