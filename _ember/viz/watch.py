"""``ember.viz.watch(model)``: per-layer activation and gradient statistics over training.

    w = ember.viz.watch(model)
    for x, y in loader:            # an ordinary training loop, unchanged
        ...
    print(w.summary())
    w.plot("watch.png")            # gradient norm per layer per step, activation spread, histograms

Module hooks do the work. A forward hook on each layer records the statistics of its output and
registers a tensor hook on it, which records the gradient of the loss with respect to that output
when backward reaches it; a hook on each parameter records the norm of its accumulated ``.grad``.
A step is one forward call of ``model`` with grad enabled (evaluation under ``no_grad`` is not
recorded). Statistics are computed in float64, on the tensor's own device.
"""
import numpy as np

from ..engine.grad_mode import is_grad_enabled
from ..engine.tensor import Tensor
from .stats import array_norm, tensor_stats
from .text import format_table


class Watch:
    """Recorded statistics, per layer (a module without children, named as in ``named_modules``).

    ``activations[layer]`` and ``gradients[layer]``: lists of ``(step, Stats)`` for the layer's
    output and for the gradient with respect to it; ``param_grads[name]``: lists of ``(step, norm)``
    of each parameter's gradient; ``samples[layer]``: ``{'activation': array, 'gradient': array}``
    of the last recorded step (at most ``max_samples`` values each), for histograms.
    """

    def __init__(self, model, every=1, layers=None, max_samples=10_000):
        if every < 1:
            raise ValueError(f"watch: every must be a positive number of steps, got {every}")
        modules = dict(model.named_modules())
        if layers is None:
            layers = [name for name, m in modules.items() if name and not m._modules]
        unknown = [name for name in layers if name not in modules]
        if unknown:
            raise ValueError(f"watch: the model has no module named {', '.join(map(repr, unknown))}; "
                             f"its modules: {', '.join(n for n in modules if n)}")
        self.layers, self.every, self.max_samples = list(layers), every, max_samples
        self._classes = {name: type(modules[name]).__name__ for name in self.layers}
        self.step, self._recording = -1, False
        self.activations = {name: [] for name in self.layers}
        self.gradients = {name: [] for name in self.layers}
        self.samples = {name: {} for name in self.layers}
        self.param_grads, self._layer_params = {}, {}
        self._handles = [model.register_forward_pre_hook(self._start_step)]
        for name in self.layers:
            self._handles.append(modules[name].register_forward_hook(self._layer_hook(name)))
            self._layer_params[name] = []
            for param_name, p in modules[name].named_parameters(prefix=name):
                self._layer_params[name].append(param_name)
                if param_name not in self.param_grads:  # a layer inside another watched one
                    self.param_grads[param_name] = []
                    self._handles.append(p.register_post_accumulate_grad_hook(self._param_hook(param_name)))

    # ---- recording ---------------------------------------------------------------------------

    def _start_step(self, model, args):
        self._recording = is_grad_enabled()
        if self._recording:
            self.step += 1
            self._recording = self.step % self.every == 0

    def _layer_hook(self, name):
        def record_output(module, args, output):
            out = _first_tensor(output)
            if not self._recording or out is None:
                return
            step = self.step
            self.activations[name].append((step, tensor_stats(out)))
            self.samples[name]["activation"] = self._sample(out)
            if out.requires_grad:
                def record_gradient(grad):
                    self.gradients[name].append((step, tensor_stats(grad)))
                    self.samples[name]["gradient"] = self._sample(grad)
                out.register_hook(record_gradient)
        return record_output

    def _param_hook(self, name):
        def record(param):
            if not self._recording or param.grad is None:
                return
            history, norm = self.param_grads[name], array_norm(param.grad._data)
            if history and history[-1][0] == self.step:  # accumulated again in this step: the total
                history[-1] = (self.step, norm)
            else:
                history.append((self.step, norm))
        return record

    def _sample(self, tensor):
        """Up to ``max_samples`` evenly strided values, copied to the host for histograms."""
        flat = tensor.detach().reshape(-1)
        stride = max(1, -(-flat.shape[0] // self.max_samples))
        return np.asarray(flat[::stride].double().cpu().numpy())

    def remove(self):
        """Unregister every hook; what was recorded stays."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False

    # ---- reading it --------------------------------------------------------------------------

    def layer_grad_norms(self):
        """``{layer: [(step, norm)]}``: the norm of all of a layer's parameter gradients together,
        for the layers that have parameters."""
        result = {}
        for layer in self.layers:
            histories = [self.param_grads[name] for name in self._layer_params[layer]]
            if histories:
                steps = sorted({step for h in histories for step, _ in h})
                by_step = [dict(h) for h in histories]
                result[layer] = [(s, float(np.sqrt(sum(d.get(s, 0.0) ** 2 for d in by_step))))
                                 for s in steps]
        return result

    def summary(self):
        """A table of the last recorded step: each layer's output spread, its share of zeros, the
        norm of the gradient at its output, and the norm of its parameters' gradient."""
        layer_norms = {layer: h[-1][1] for layer, h in self.layer_grad_norms().items() if h}
        rows = []
        for layer in self.layers:
            act = self.activations[layer][-1][1] if self.activations[layer] else None
            grad = self.gradients[layer][-1][1] if self.gradients[layer] else None
            rows.append([layer, self._classes[layer],
                         *(("", "", "") if act is None else
                           (f"{act.mean:.3g}", f"{act.std:.3g}", f"{act.zero_fraction:.2f}")),
                         "" if grad is None else f"{grad.norm:.3g}",
                         "" if layer not in layer_norms else f"{layer_norms[layer]:.3g}"])
        header = ("layer", "module", "act mean", "act std", "zeros", "|d out|", "|d params|")
        return format_table(f"watch: step {self.step}, {len(self.layers)} layers", header, rows,
                            numeric={2, 3, 4, 5, 6})

    # ---- plots ---------------------------------------------------------------------------------

    def plot_grad_norms(self, axes, layers=None):
        """Each layer's parameter-gradient norm per step (log scale), coloured from first to last
        layer; ``layers``: the names to show (default: every watched layer with parameters)."""
        norms = self.layer_grad_norms()
        shown = [layer for layer in (self.layers if layers is None else layers) if layer in norms]
        for color, layer in zip(_layer_colors(len(shown)), shown):
            steps, values = zip(*norms[layer]) if norms[layer] else ((), ())
            axes.plot(steps, values, color=color, label=layer)
        axes.set(yscale="log", xlabel="step", ylabel="gradient norm", title="gradient norm per layer")
        if shown:
            axes.legend(fontsize="x-small", ncol=2, title="layer", title_fontsize="x-small")

    def plot_activations(self, axes, layers=None):
        """Each layer's output standard deviation per step."""
        layers = self.layers if layers is None else layers
        for color, layer in zip(_layer_colors(len(layers)), layers):
            history = self.activations[layer]
            axes.plot([s for s, _ in history], [st.std for _, st in history], color=color, label=layer)
        axes.set(xlabel="step", ylabel="std", title="layer output spread")

    def plot_histograms(self, axes, kind="gradient", layers=None, bins=40):
        """Histograms of the last recorded step, one outline per layer: ``kind='activation'``, the
        layer outputs; ``'gradient'``, the magnitudes log10|g| of the gradients at those outputs (a
        log scale, so that layers whose gradients differ by orders of magnitude fit one plot)."""
        if kind not in ("activation", "gradient"):
            raise ValueError(f"plot_histograms: kind must be 'activation' or 'gradient', got {kind!r}")
        layers = self.layers if layers is None else layers
        samples = [(layer, self.samples[layer][kind]) for layer in layers if kind in self.samples[layer]]
        if kind == "gradient":
            samples = [(layer, np.log10(np.abs(v[v != 0]))) for layer, v in samples]
        samples = [(layer, v) for layer, v in samples if v.size]
        if samples:
            values = np.concatenate([v for _, v in samples])
            low, high = np.percentile(values, [0.5, 99.5])
            if high - low < 1e-12:  # one value everywhere (a dead layer): give it a visible bin
                low, high = low - 0.5, high + 0.5
            edges = np.linspace(low, high, bins + 1)
            for color, (layer, v) in zip(_layer_colors(len(samples)), samples):
                density, _ = np.histogram(np.clip(v, edges[0], edges[-1]), edges, density=True)
                axes.plot((edges[:-1] + edges[1:]) / 2, density, color=color, label=layer)
        axes.set(xlabel="log10 |gradient|" if kind == "gradient" else "activation", ylabel="density",
                 title=f"{kind} histograms, step {self.step}")

    def plot(self, path=None):
        """All four panels in one Figure (saved to ``path`` when given); no display needed."""
        from matplotlib.figure import Figure

        figure = Figure(figsize=(11, 7), layout="constrained")
        (a, b), (c, d) = figure.subplots(2, 2)
        self.plot_grad_norms(a)
        self.plot_activations(b)
        self.plot_histograms(c, "activation")
        self.plot_histograms(d, "gradient")
        if path is not None:
            figure.savefig(path, dpi=100)
        return figure


def watch(model, every=1, layers=None, max_samples=10_000):
    """Start recording statistics of ``model``'s layers (see ``Watch``); ``every``: record one step
    in that many; ``layers``: module names to watch (default: every module without children).
    Use as a context manager, or call ``.remove()``, to stop."""
    return Watch(model, every, layers, max_samples)


def _first_tensor(output):
    if isinstance(output, Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], Tensor):
        return output[0]  # an LSTM's (output, state)
    return None


def _layer_colors(count):
    from matplotlib import colormaps
    cmap = colormaps["viridis"]
    return [cmap(k / max(1, count - 1) * 0.9) for k in range(count)]
