"""``DistributedDataParallel``: every rank trains the same model on its share of each batch, and the
gradients are averaged across ranks after backward, so each rank takes the same optimizer step.

How the gradients are reduced:

* At wrap time the parameters (those that require grad) are laid out in flat buckets of one dtype and
  device, at most ``bucket_cap_mb`` each, in reverse parameter order (roughly the order backward
  produces them). The layout depends only on the model, so it is the same on every rank.
* A parameter's ``.grad`` is a view into its bucket. ember's backward adds into an existing ``.grad``
  in place, so each synced forward makes every ``.grad`` its view (zeroed where ``.grad`` was None, as
  after ``zero_grad()``) and backward accumulates straight into the buckets, with no packing copies. A
  ``.grad`` replaced between forward and backward is copied into the bucket by a post-accumulate hook.
* Each forward walks the graph from its outputs and counts, per parameter, the edges through which
  backward will deliver a gradient. The post-accumulate hooks count the deliveries; when every
  parameter of a bucket has all of its own, the bucket is ready. Ready buckets start a non-blocking
  all-reduce strictly in bucket order (the same collective sequence on every rank), so the reduction
  of early buckets overlaps the rest of backward. The last bucket waits for all of them and divides
  by the world size. Parameters the graph does not reach contribute zeros (their ``.grad`` becomes
  the average of the other ranks' gradients, or zeros), which keeps every rank's parameters equal.
* Parameters a rank's graph does not reach (an unused branch, or a loss that uses no parameter at
  all) are ready at forward time, as with PyTorch's ``find_unused_parameters=True``, which is always on
  here: the forward's graph walk finds them. A rank whose loss reaches nothing completes its
  reductions inside the forward, so the other ranks never wait for it.
* ``no_sync()``: forwards inside it are not counted, so their backwards only accumulate locally;
  the first backward outside it reduces the accumulated sum.

Like PyTorch's DDP: every rank must run the same number of training forwards and backwards, and a
backward that does not reach every counted edge (e.g. a model output left out of the loss) leaves its
reduction unfinished, which the next forward reports.
"""
import contextlib

from ..engine import Function, Tensor, is_grad_enabled, no_grad
from ..engine.device import array_module
from ..engine.tensor import tensors_in
from ..nn.module import Module
from . import process_group

__all__ = ["DistributedDataParallel"]


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training (see the module docstring). The process group must be
    initialized. ``.module`` is the wrapped model; ``state_dict()`` keys carry a ``module.`` prefix, as
    PyTorch's. ``broadcast_buffers``: in training mode, each forward first copies rank 0's buffers
    (e.g. BatchNorm running statistics) to every rank. ``find_unused_parameters`` is accepted for
    PyTorch's code and changes nothing: unused parameters are always found (module docstring).
    Freeze parameters before wrapping: the buckets hold those that required grad at wrap time, and
    every synced forward gives them a ``.grad``, which weight decay or momentum would act on."""

    def __init__(self, module, device_ids=None, output_device=None, broadcast_buffers=True, bucket_cap_mb=25,
                 find_unused_parameters=False):
        super().__init__()
        self._pg = process_group._require("DistributedDataParallel")
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.require_backward_grad_sync = True
        _check_same_model(module)
        with no_grad():
            for tensor in _state_tensors(module):
                process_group.broadcast(tensor, 0)
        params = [p for p in module.parameters() if p.requires_grad]
        self._reducer = _Reducer(params, int(bucket_cap_mb * 2 ** 20), self._pg.size)

    def forward(self, *args, **kwargs):
        self._reducer.check_finished()
        if self.broadcast_buffers and self.training and self._pg.size > 1:
            with no_grad():
                for buffer in self.module.buffers():
                    process_group.broadcast(buffer, 0)
        output = self.module(*args, **kwargs)
        if is_grad_enabled() and self.require_backward_grad_sync:
            self._reducer.prepare(output)
        return output

    @contextlib.contextmanager
    def no_sync(self):
        """Backwards of forwards run inside accumulate gradients locally, without communication."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    @property
    def bucket_sizes(self):
        """The number of parameters in each bucket, in reduction order."""
        return [len(bucket.params) for bucket in self._reducer.buckets]


def _state_tensors(module):
    return list(module.parameters()) + [b for b in module.buffers() if b is not None]


def _signature(module):
    entries = [("parameter", name, tuple(p.shape), str(p.dtype), p.requires_grad)
               for name, p in module.named_parameters()]
    entries += [("buffer", name, tuple(b.shape), str(b.dtype), False)
                for name, b in module.named_buffers() if b is not None]
    return entries


def _describe(entry):
    if entry is None:
        return "nothing"
    kind, name, shape, dtype, requires_grad = entry
    grad = "" if kind == "buffer" else f", requires_grad={requires_grad}"
    return f"{kind} '{name}' {shape} {dtype}{grad}"


def _check_same_model(module):
    """Raise on every rank, with the same message, unless all ranks hold the same parameter and buffer
    names, shapes and dtypes."""
    signatures = process_group.all_gather_object(_signature(module))
    reference = signatures[0]
    problems = []
    for rank, signature in enumerate(signatures[1:], start=1):
        if signature == reference:
            continue
        for i in range(max(len(signature), len(reference))):
            mine = signature[i] if i < len(signature) else None
            theirs = reference[i] if i < len(reference) else None
            if mine != theirs:
                problems.append(f"rank {rank} has {_describe(mine)} where rank 0 has {_describe(theirs)}")
                break
    if problems:
        raise RuntimeError("DistributedDataParallel: the model differs across ranks: " + "; ".join(problems))


class _Bucket:
    """One flat gradient buffer; ``views[i]`` is the ``.grad`` Tensor of ``params[i]``."""

    def __init__(self, params):
        self.params = params
        sizes = [p._data.size for p in params]
        self.array = array_module(params[0]._data).zeros(sum(sizes), params[0]._data.dtype)
        self.views, offset = [], 0
        for p, size in zip(params, sizes):
            self.views.append(Tensor(self.array[offset:offset + size].reshape(p._data.shape)))
            offset += size

    def place(self, i):
        """Make ``params[i].grad`` its bucket view, carrying over its value (zeros when None)."""
        p, view = self.params[i], self.views[i]
        grad = p.grad
        if grad is view:
            return
        if grad is None:
            view._data[...] = 0
        else:
            view._data[...] = grad._data
        p.grad = view


class _Reducer:
    def __init__(self, params, cap_bytes, world_size):
        self.world_size = world_size
        self.buckets = _make_buckets(params, cap_bytes)
        self.where = {}  # id(param) -> (bucket index, index in bucket)
        for b, bucket in enumerate(self.buckets):
            for i, p in enumerate(bucket.params):
                self.where[id(p)] = (b, i)
                p.register_post_accumulate_grad_hook(self._on_grad)
        self.expected = None  # id(param) -> deliveries still to come, while a backward is awaited
        self.remaining = []   # per bucket: deliveries still to come
        self.next_bucket = 0
        self.works = []
        self.started = False    # a reduction has begun for the awaited backward
        self.delivered = False  # that backward has delivered a gradient

    def prepare(self, output):
        """Count, per parameter, the gradient deliveries the backward of ``output`` will make."""
        counts = _leaf_edge_counts(output, self.where)
        self.expected = counts
        self.remaining = [0] * len(self.buckets)
        for key, n in counts.items():
            self.remaining[self.where[key][0]] += n
        self.next_bucket, self.works, self.started, self.delivered = 0, [], False, False
        for bucket in self.buckets:
            for i in range(len(bucket.params)):
                bucket.place(i)
        # Buckets this graph cannot reach are ready now: the other ranks may need them reduced, and if
        # none of the model is reached (this rank's loss uses no parameter) the whole step completes here
        self._launch_ready()

    def check_finished(self):
        if self.expected is not None and self.started:
            left = [b for b in range(len(self.buckets)) if b >= self.next_bucket]
            if not self.delivered:
                raise RuntimeError("DistributedDataParallel: the previous forward ran with gradients enabled but "
                                   "no backward followed it (buckets whose parameters it did not use were already "
                                   f"being reduced; buckets {left} never were). Run forwards that are not trained "
                                   "on under ember.no_grad(), or follow each forward with one backward.")
            raise RuntimeError("DistributedDataParallel: the previous backward did not deliver gradients "
                               f"to every parameter the forward used (buckets {left} were never reduced). "
                               "Every model output must take part in the loss, and each forward must be "
                               "followed by exactly one backward.")
        self.expected = None

    def _on_grad(self, param):
        if self.expected is None:
            return  # a no_sync or no-grad forward: accumulate locally only
        key = id(param)
        b, i = self.where[key]
        left = self.expected.get(key, 0)
        if left == 0 or b < self.next_bucket:
            raise RuntimeError("DistributedDataParallel: a parameter received more gradients than its forward "
                               "produced (a second backward through the same forward is not supported)")
        self.started = self.delivered = True
        self.expected[key] = left - 1
        self.buckets[b].place(i)
        self.remaining[b] -= 1
        self._launch_ready()

    def _launch_ready(self):
        """Start the reductions of the ready buckets, strictly in bucket order; finish after the last."""
        while self.next_bucket < len(self.buckets) and self.remaining[self.next_bucket] == 0:
            self._launch(self.buckets[self.next_bucket])
            self.next_bucket += 1
            self.started = True
        if self.next_bucket == len(self.buckets):
            self._finish()

    def _launch(self, bucket):
        for i in range(len(bucket.params)):
            bucket.place(i)  # parameters this rank's graph did not reach send zeros
        self.works.append(process_group.all_reduce_array(bucket.array))

    def _finish(self):
        for bucket, work in zip(self.buckets, self.works):
            work.wait()
            bucket.array /= self.world_size
            for view in bucket.views:
                view._version[0] += 1
        self.expected, self.works, self.started = None, [], False


def _make_buckets(params, cap_bytes):
    buckets, current, size = [], [], 0
    for p in reversed(params):
        nbytes = p._data.nbytes
        if current and (size + nbytes > cap_bytes or _kind(p) != _kind(current[0])):
            buckets.append(_Bucket(current))
            current, size = [], 0
        current.append(p)
        size += nbytes
    if current:
        buckets.append(_Bucket(current))
    return buckets


def _kind(p):
    return p._data.dtype, type(p._data)


def _leaf_edge_counts(output, wanted):
    """{id(leaf): number of graph edges into it} for the leaves in ``wanted`` that ``output`` reaches.
    Backward runs each node once and delivers one gradient per edge, so this is the number of
    post-accumulate hook calls a full backward makes."""
    counts, seen, stack = {}, set(), []
    for tensor in tensors_in(output):
        if tensor.grad_fn is not None:
            if tensor.grad_fn not in seen:
                seen.add(tensor.grad_fn)
                stack.append(tensor.grad_fn)
        elif id(tensor) in wanted:
            counts[id(tensor)] = counts.get(id(tensor), 0) + 1
    while stack:
        for edge in stack.pop().next_edges:
            if edge is None:
                continue
            if isinstance(edge, Function):
                if edge not in seen:
                    seen.add(edge)
                    stack.append(edge)
            elif id(edge) in wanted:
                counts[id(edge)] = counts.get(id(edge), 0) + 1
    return counts
