"""ember.viz.watch: the per-layer statistics it records equal the ones computed by hand (a NumPy
forward and backward of the same two-layer network), step by step; and its plots and example run."""
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import ember
import ember.viz
from ember import nn

ROOT = pathlib.Path(__file__).resolve().parent.parent
X = np.random.default_rng(0).standard_normal((5, 3))


def make_model():
    ember.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double()


def by_hand(model):
    """Forward and backward of loss = sum(out^2) / 2 in NumPy: outputs, their gradients, and the
    parameter gradients, per layer name."""
    w1, b1, w2, b2 = (p.detach().numpy().copy() for p in model.parameters())
    h = X @ w1.T + b1
    a = np.maximum(h, 0)
    out = a @ w2.T + b2
    d_out = out
    d_a = d_out @ w2
    d_h = d_a * (h > 0)
    outputs = {"0": h, "1": a, "2": out}
    grads = {"0": d_h, "1": d_a, "2": d_out}
    params = {"0.weight": d_h.T @ X, "0.bias": d_h.sum(0), "2.weight": d_out.T @ a, "2.bias": d_out.sum(0)}
    return outputs, grads, params


def expected_stats(values):
    return ember.viz.Stats(values.mean(), values.std(), np.abs(values).mean(), values.min(), values.max(),
                           np.linalg.norm(values), (values == 0).mean())


def train_step(model, optimizer):
    loss = (model(ember.tensor(X)) ** 2).sum() / 2
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def test_statistics_match_hand_computed_values_at_every_step():
    model = make_model()
    optimizer = ember.optim.SGD(model.parameters(), lr=0.05)
    with ember.viz.watch(model) as w:
        expected = []
        for _ in range(3):
            expected.append(by_hand(model))  # before the step: the weights this forward uses
            train_step(model, optimizer)
    assert w.layers == ["0", "1", "2"] and w.step == 2
    for layer in w.layers:
        assert [s for s, _ in w.activations[layer]] == [0, 1, 2]
        assert [s for s, _ in w.gradients[layer]] == [0, 1, 2]
        for step, (outputs, grads, _) in enumerate(expected):
            np.testing.assert_allclose(w.activations[layer][step][1], expected_stats(outputs[layer]),
                                       rtol=1e-10)
            np.testing.assert_allclose(w.gradients[layer][step][1], expected_stats(grads[layer]), rtol=1e-10)
    assert set(w.param_grads) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    for name, history in w.param_grads.items():
        np.testing.assert_allclose([norm for _, norm in history],
                                   [np.linalg.norm(params[name]) for _, _, params in expected], rtol=1e-10)
    layer_norms = w.layer_grad_norms()
    assert set(layer_norms) == {"0", "2"}  # the ReLU has no parameters
    _, _, params = expected[-1]
    both = np.concatenate([params["2.weight"].ravel(), params["2.bias"]])
    np.testing.assert_allclose(layer_norms["2"][-1][1], np.linalg.norm(both))
    np.testing.assert_array_equal(w.samples["1"]["activation"], expected[-1][0]["1"].ravel())


def test_every_skips_steps_and_evaluation_is_not_a_step():
    model = make_model()
    optimizer = ember.optim.SGD(model.parameters(), lr=0.05)
    w = ember.viz.watch(model, every=2)
    for _ in range(5):
        train_step(model, optimizer)
        with ember.no_grad():
            model(ember.tensor(X))
    w.remove()
    assert w.step == 4
    assert [s for s, _ in w.activations["0"]] == [0, 2, 4]
    assert [s for s, _ in w.param_grads["0.weight"]] == [0, 2, 4]


def test_two_backwards_in_one_step_record_the_accumulated_gradient():
    model = make_model()
    w = ember.viz.watch(model)
    loss = (model(ember.tensor(X)) ** 2).sum() / 2
    loss.backward(retain_graph=True)
    loss.backward()
    _, _, params = by_hand(model)
    twice = 2 * np.linalg.norm(params["0.weight"])
    assert w.param_grads["0.weight"] == [(0, pytest.approx(twice, rel=1e-10))]


def test_remove_stops_recording():
    model = make_model()
    w = ember.viz.watch(model)
    model(ember.tensor(X)).sum().backward()
    w.remove()
    model(ember.tensor(X)).sum().backward()
    assert len(w.activations["0"]) == 1 and len(w.param_grads["0.weight"]) == 1
    assert not model[0]._forward_hooks and not model._forward_pre_hooks


def test_chosen_layers_and_unknown_names():
    model = make_model()
    w = ember.viz.watch(model, layers=["1"])
    assert w.layers == ["1"] and w.param_grads == {}
    with pytest.raises(ValueError, match="no module named '5'"):
        ember.viz.watch(model, layers=["5"])
    with pytest.raises(ValueError, match="every"):
        ember.viz.watch(model, every=0)


def test_summary_and_plots(tmp_path):
    model = make_model()
    optimizer = ember.optim.SGD(model.parameters(), lr=0.05)
    with ember.viz.watch(model) as w:
        for _ in range(3):
            train_step(model, optimizer)
    summary = w.summary()
    assert summary.splitlines()[0] == "watch: step 2, 3 layers"
    rows = [line.split()[:2] for line in summary.splitlines()[2:]]
    assert rows == [["0", "Linear"], ["1", "ReLU"], ["2", "Linear"]]
    figure = w.plot(tmp_path / "watch.png")
    assert len(figure.axes) == 4 and (tmp_path / "watch.png").stat().st_size > 0
    with pytest.raises(ValueError, match="kind"):
        w.plot_histograms(figure.axes[0], kind="weights")


def test_vanishing_gradients_example_runs_quick(tmp_path):
    out = tmp_path / "vanishing.png"
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "vanishing_gradients.py"), "--quick",
                             "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    ratios = [float(line.rsplit("ratio ", 1)[1].rstrip(")"))
              for line in result.stdout.splitlines() if "ratio" in line]
    assert len(ratios) == 2 and ratios[0] < 1e-4 < ratios[1]  # sigmoid's first layer starves, not ReLU+BN's
    assert out.stat().st_size > 0
