"""How many kernels one training step of ``ember bench --models``'s cases launches, counted on the
emulated device from the graph ``ember.cuda.make_graphed_step`` captures (the graph replaces them with
one launch). From tests/: ``python -m cuda_emulator.launches lenet mlp`` (small batches: the emulator is
slow; the count does not depend on the batch size, but char-lstm's grows with its sequence length).

A recorded step counts as a launch unless it only allocates (``empty``) or makes a view (a reshape, a
basic index, an ``ascontiguousarray`` of a contiguous array), which CuPy does without a kernel.
"""
import collections
import pathlib
import sys
import tempfile

import numpy as np
import pytest

from . import capture, emulate_device

VIEWS = ("ascontiguousarray", "asarray", "ndarray.__getitem__", "ndarray.reshape", "ndarray.transpose",
         "ndarray.ravel", "ndarray.view", "ndarray.squeeze", "ndarray.swapaxes", "ndarray.astype")
NO_KERNEL = ("empty", "empty_like", "may_share_memory")


def _name(step):
    name = step.function.__qualname__
    if name == "Function.__call__":
        return "RawModule kernel"
    return f"ndarray.{step.args[1]}" if name == "_ndarray_method" else name


def _is_launch(step):
    name = _name(step)
    if name.endswith(NO_KERNEL):  # (the counts go by the fake's names: cupy.add is an operator, etc.)
        return False
    inputs = capture._arrays(list(step.args) + list(step.kwargs.values()))
    shares = any(np.may_share_memory(o._data, i._data) for o in step.outputs for i in inputs)
    return not (shares and name in VIEWS)


def count(case_name, batch=8, steps=8):
    """(kernel launches by kind, as a Counter) of one graphed training step of the bench case."""
    import ember
    from ember.bench.models import model_cases
    case = next(c for c in model_cases() if c.group == case_name)
    arrays = case.make(np.random.default_rng(0))
    arrays = [a[:batch, :steps] if a.ndim == 2 else a[:batch] for a in arrays]
    run = case.cuda_variants["graphed"](ember, *(ember.tensor(a, device="cuda") for a in arrays))
    for _ in range(4):  # three warm-up steps, then the capture
        run()
    graphed = next(cell.cell_contents for cell in run.__closure__
                   if type(cell.cell_contents).__name__ == "GraphedStep")
    (graph, _, _), = graphed._graphs.values()
    return collections.Counter(_name(step) for step in graph._graph._steps if _is_launch(step))


def main(names):
    with pytest.MonkeyPatch.context() as patch:
        emulate_device(patch, pathlib.Path(tempfile.gettempdir()) / "ember-cuda-emulator")
        for name in names:
            launches = count(name)
            print(f"{name}: {sum(launches.values())} kernel launches per training step "
                  f"({', '.join(f'{kind} {n}' for kind, n in launches.most_common(6))}, ...)")


if __name__ == "__main__":
    main(sys.argv[1:] or ["mlp", "lenet"])
