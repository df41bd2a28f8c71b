"""Vanishing gradients made visible: a deep sigmoid MLP next to a ReLU + BatchNorm one, both watched
by ``ember.viz.watch`` while they train on the 8x8 digits.

    python examples/vanishing_gradients.py            # 300 steps each (about a minute on 2 cores)
    python examples/vanishing_gradients.py --quick    # 10 steps each, seconds

Both models have 10 linear layers of width 64 and start from the same seed; the only difference is
the nonlinearity (sigmoid, whose slope is at most 1/4) and the normalisation. The plot
(docs/images/vanishing-gradients.png) shows each layer's gradient norm per step and the histograms
of the gradients at each activation.
"""
import argparse
import os
import pathlib

import ember
import ember.viz
from ember import nn
from ember.data.datasets import Digits

DEPTH, WIDTH = 10, 64
OUT = pathlib.Path(__file__).resolve().parent.parent / "docs" / "images" / "vanishing-gradients.png"


def deep_mlp(activation, norm):
    """DEPTH linear layers; between them ``norm`` (or nothing) then ``activation``."""
    layers = [nn.Flatten()]
    for k in range(DEPTH - 1):
        layers.append(nn.Linear(64 if k == 0 else WIDTH, WIDTH))
        layers += ([norm(WIDTH)] if norm else []) + [activation()]
    return nn.Sequential(*layers, nn.Linear(WIDTH, 10))


def train(model, images, labels, steps, seed):
    """Plain SGD on random batches of 64, watched; returns the Watch and the last loss."""
    optimizer = ember.optim.SGD(model.parameters(), lr=0.1)
    generator = ember.Generator().manual_seed(seed)
    with ember.viz.watch(model) as watched:
        for _ in range(steps):
            batch = ember.randint(0, images.shape[0], (64,), generator=generator)
            loss = nn.functional.cross_entropy(model(images[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return watched, loss.item()


def accuracy(model, images, labels):
    model.eval()
    with ember.no_grad():
        return (model(images).argmax(dim=1) == labels).float().mean().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 steps per model")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", type=pathlib.Path, default=OUT, help="where the PNG goes")
    args = parser.parse_args()
    steps = 10 if args.quick else args.steps

    images, labels = Digits(train=True).as_tensors()
    test_images, test_labels = Digits(train=False).as_tensors()
    runs = {}
    models = [("sigmoid", nn.Sigmoid, None), ("ReLU + BatchNorm", nn.ReLU, nn.BatchNorm1d)]
    for title, activation, norm in models:
        ember.manual_seed(0)
        model = deep_mlp(activation, norm)
        watched, loss = train(model, images, labels, steps, seed=0)
        runs[title] = (model, watched)
        linear = list(watched.layer_grad_norms().items())
        (_, first_norm), (_, last_norm) = linear[0][1][-1], linear[-1][1][-1]  # (step, norm) at the last step
        print(f"{title:>16}: after {steps} steps loss {loss:.3f}, test accuracy "
              f"{accuracy(model, test_images, test_labels):.3f}; gradient norm of the first linear layer "
              f"{first_norm:.2e}, of the last {last_norm:.2e} (ratio {first_norm / last_norm:.1e})")
    plot(runs, args.out)
    print(f"plot: {os.path.relpath(args.out)}")


def plot(runs, path):
    from matplotlib.figure import Figure  # no pyplot: no display needed

    figure = Figure(figsize=(13, 7.5), layout="constrained")
    rows = figure.subplots(len(runs), 3)
    for axes, (title, (model, watched)) in zip(rows, runs.items()):
        def of_type(*types):
            return [name for name in watched.layers if isinstance(model.get_submodule(name), types)]
        watched.plot_grad_norms(axes[0], layers=of_type(nn.Linear))
        watched.plot_histograms(axes[1], "gradient", layers=of_type(nn.Sigmoid, nn.ReLU))
        watched.plot_histograms(axes[2], "activation", layers=of_type(nn.Sigmoid, nn.ReLU))
        axes[0].set_title(f"{title}: weight gradient norm per layer")
        axes[1].set_title(f"{title}: gradients at the activations")
        axes[2].set_title(f"{title}: activations")
        axes[1].legend(fontsize="x-small", ncol=2, title="layer", title_fontsize="x-small")
    # One scale for both models' gradients, so that their layers compare directly.
    _same_limits([row[0] for row in rows], "y")
    _same_limits([row[1] for row in rows], "x")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)


def _same_limits(axes, axis):
    limits = [getattr(a, f"get_{axis}lim")() for a in axes]
    for a in axes:
        getattr(a, f"set_{axis}lim")(min(low for low, _ in limits), max(high for _, high in limits))


if __name__ == "__main__":
    main()
