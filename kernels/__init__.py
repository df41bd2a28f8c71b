"""ember's kernels: a registry of implementations per (op, device), each raced against a NumPy
reference. See ``available()`` for what serves each op here and why the others don't."""
from . import cpu_extension, reference
from .registry import available, dispatch, implementation, names, register, use

register("erf", "cpu", "cpp", cpu_extension.kernel("erf"))
register("erf", "cpu", "numpy", lambda: reference.erf)

cpu_extension.check_required()

__all__ = ["available", "dispatch", "implementation", "names", "register", "use"]
