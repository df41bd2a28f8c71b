"""Anomaly mode: find the op that first produced NaN/Inf, and the line of user code that made it."""
import os
import traceback

import numpy as np


class _Anomaly:
    __slots__ = ("enabled", "check_nan", "in_backward")  # instance attributes: cheap to read on every op

    def __init__(self):
        self.enabled, self.check_nan = False, True
        self.in_backward = False  # ops run by a backward are checked as that node's gradient


_AnomalyState = _Anomaly()


def is_anomaly_enabled():
    return _AnomalyState.enabled


class detect_anomaly:
    """Context manager: while active, every op remembers where it was created, and the first op whose
    forward output or backward gradient holds NaN/Inf raises a RuntimeError naming that op and line."""

    def __init__(self, check_nan=True):
        self.check_nan = check_nan

    def __enter__(self):
        self._previous = (_AnomalyState.enabled, _AnomalyState.check_nan)
        _AnomalyState.enabled, _AnomalyState.check_nan = True, self.check_nan

    def __exit__(self, *exc):
        _AnomalyState.enabled, _AnomalyState.check_nan = self._previous
        return False


class set_detect_anomaly:
    """``set_detect_anomaly(True)`` turns anomaly mode on now; used with ``with`` it is restored on exit."""

    def __init__(self, mode, check_nan=True):
        self._previous = (_AnomalyState.enabled, _AnomalyState.check_nan)
        _AnomalyState.enabled, _AnomalyState.check_nan = bool(mode), check_nan

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        _AnomalyState.enabled, _AnomalyState.check_nan = self._previous
        return False


_PACKAGE_DIRS = tuple(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), d, "")
                      for d in ("engine", "_ember", "nn", "kernels", "ember"))


def user_frame():
    """The innermost stack frame outside ember itself: where the user's code called into ember."""
    for frame in reversed(traceback.extract_stack()):
        if not os.path.abspath(frame.filename).startswith(_PACKAGE_DIRS):
            return frame
    return None


def describe_frame(frame):
    if frame is None:
        return "(creation site unknown)"
    where = f'File "{frame.filename}", line {frame.lineno}, in {frame.name}'
    return f"{where}\n    {frame.line}" if frame.line else where  # no source line in a REPL


def has_nonfinite(array):
    return array.dtype.kind == "f" and not bool(np.isfinite(array).all())
