"""Whether ops record the autograd graph: ``no_grad``, ``enable_grad``, ``set_grad_enabled``.

The flag is process-wide (like the DeZero ``Config`` flag) and read on every op, so it is a plain
module attribute rather than a thread-local.
"""
import functools


class _Flag:
    __slots__ = ("enabled",)  # an instance attribute: cheaper to read and write than a class's

    def __init__(self):
        self.enabled = True


_GradState = _Flag()


def is_grad_enabled():
    return _GradState.enabled


class _GradModeContext:
    """Base for the grad-mode switches: usable as a context manager and as a decorator, with or
    without parentheses (``@no_grad()`` or ``@no_grad``)."""

    mode = None

    def __new__(cls, func=None):
        self = super().__new__(cls)
        return self if func is None else self(func)

    def __enter__(self):
        self._previous = _GradState.enabled
        _GradState.enabled = self.mode

    def __exit__(self, *exc):
        _GradState.enabled = self._previous
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapped(*args, **kwargs):
            with self.__class__():
                return func(*args, **kwargs)
        return wrapped


class no_grad(_GradModeContext):
    """Ops inside record no graph: results have ``requires_grad=False``."""

    mode = False


class enable_grad(_GradModeContext):
    """Turn recording back on inside a ``no_grad`` region."""

    mode = True


class set_grad_enabled(_GradModeContext):
    """``set_grad_enabled(False)`` switches recording off now; used with ``with`` it is restored on exit."""

    def __new__(cls, mode):
        return object.__new__(cls)

    def __init__(self, mode):
        self._previous = _GradState.enabled
        self.mode = bool(mode)
        _GradState.enabled = self.mode

    def __enter__(self):
        pass

    def __call__(self, func):
        _GradState.enabled = self._previous  # as a decorator it must not change the mode now
        mode = self.mode

        @functools.wraps(func)
        def wrapped(*args, **kwargs):
            with set_grad_enabled(mode):
                return func(*args, **kwargs)
        return wrapped
