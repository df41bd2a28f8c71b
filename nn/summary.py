"""``summary(model, input_shape)``: each layer's output shape and parameter count, from one forward."""
from ..engine import no_grad, zeros
from ..engine.tensor import Tensor


def summary(model, input_shape, dtype=None, device=None, print_fn=print):
    """Run ``model`` once on zeros of ``(*input_shape)`` (include the batch dim) and print, for every
    leaf module in call order, its name, type, output shape and parameter count; returns the
    total parameter count."""
    rows, handles = [], []
    for name, module in model.named_modules():
        if name and not module._modules:
            handles.append(module.register_forward_hook(
                lambda m, args, out, name=name: rows.append((name, type(m).__name__, _shape(out),
                                                             sum(p.numel() for p in m.parameters(recurse=False))))))
    try:
        with no_grad():
            model(zeros(*input_shape, dtype=dtype, device=device))
    finally:
        for handle in handles:
            handle.remove()
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    width = max([len(f"{n} ({t})") for n, t, _, _ in rows] + [20])
    line = "-" * (width + 40)
    print_fn(line)
    print_fn(f"{'Layer (type)':<{width}}  {'Output shape':<26}{'Param #':>12}")
    print_fn(line)
    for name, kind, shape, count in rows:
        print_fn(f"{f'{name} ({kind})':<{width}}  {shape:<26}{count:>12,}")
    print_fn(line)
    print_fn(f"Total params: {total:,}\nTrainable params: {trainable:,}\n"
             f"Non-trainable params: {total - trainable:,}")
    print_fn(line)
    return total


def _shape(output):
    if isinstance(output, Tensor):
        return str(list(output.shape))
    if isinstance(output, (tuple, list)):
        return ", ".join(_shape(o) for o in output)
    return type(output).__name__
