"""``ember.nn.Ensemble`` (nn/ensemble.py): each mode's output equals the weighted combination
computed by hand in NumPy; deterministic vote ties; weight checks; joint training against PyTorch;
and examples/ensemble_lenet.py --quick."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import ember
import ember.nn as enn
from ember.nn.ensemble import Ensemble
from op_check import assert_close

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def members(nn, count=3, classes=4):
    return [nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, classes)) for _ in range(count)]


class Fixed(enn.Module):
    """A 'model' that returns the given logits whatever its input."""

    def __init__(self, logits):
        super().__init__()
        self.logits = ember.tensor(np.asarray(logits, np.float32))

    def forward(self, x):
        return self.logits


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def by_hand(logits, weights, mode):
    """The ensemble's output in NumPy from the members' logits (list of (N, C))."""
    weights = np.asarray(weights, np.float64) / np.sum(weights)
    if mode == "mean":
        parts = [softmax(z) for z in logits]
    elif mode == "logits":
        parts = logits
    else:
        parts = [np.eye(z.shape[-1])[z.argmax(-1)] for z in logits]
    return sum(w * p for w, p in zip(weights, parts))


@pytest.mark.parametrize("mode", ["mean", "logits", "vote"])
@pytest.mark.parametrize("weights", [None, [3.0, 1.0, 2.0], [0.0, 1.0, 1.0]], ids=["equal", "3-1-2", "0-1-1"])
def test_output_equals_the_weighted_combination_computed_in_numpy(mode, weights):
    ember.manual_seed(0)
    models = members(enn)
    x = ember.randn(8, 5)
    with ember.no_grad():
        logits = [m(x).numpy().astype(np.float64) for m in models]
        output = Ensemble(models, weights=weights, mode=mode)(x)
    expected = by_hand(logits, weights if weights is not None else [1, 1, 1], mode)
    assert output.shape == (8, 4) and output.dtype == ember.float32
    np.testing.assert_allclose(output.numpy(), expected, rtol=1e-5, atol=1e-6)
    if mode != "logits":
        np.testing.assert_allclose(output.numpy().sum(-1), 1.0, rtol=1e-5)


def test_vote_ties_go_to_the_lowest_class_index():
    # member 0 votes class 2, member 1 class 1 (equal weights): a tie between classes 1 and 2
    ensemble = Ensemble([Fixed([[0.0, 1.0, 3.0]]), Fixed([[0.0, 3.0, 1.0]])], mode="vote")
    scores = ensemble(ember.zeros(1)).numpy()
    np.testing.assert_array_equal(scores, by_hand([np.array([[0.0, 1.0, 3.0]]), np.array([[0.0, 3.0, 1.0]])],
                                                  [1, 1], "vote"))
    assert int(ember.tensor(scores).argmax(-1).item()) == int(np.argmax(scores)) == 1
    # a heavier member breaks the tie its way
    heavier = Ensemble([Fixed([[0.0, 1.0, 3.0]]), Fixed([[0.0, 3.0, 1.0]])], weights=[2, 1], mode="vote")
    assert int(heavier(ember.zeros(1)).argmax(-1).item()) == 2


def test_vote_is_not_differentiable_and_the_other_modes_are():
    models = members(enn)
    x = ember.randn(2, 5)
    assert not Ensemble(models, mode="vote")(x).requires_grad
    assert Ensemble(models, mode="mean")(x).requires_grad and Ensemble(models, mode="logits")(x).requires_grad


def test_weights_are_normalized():
    models = members(enn)
    assert Ensemble(models, weights=[2, 2, 4]).weights == (0.25, 0.25, 0.5)
    assert Ensemble(models).weights == (1 / 3,) * 3
    assert "mode='mean', weights=(0.25, 0.25, 0.5)" in repr(Ensemble(models, weights=[2, 2, 4]))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"weights": [1, 2]}, ValueError, "got 2 weights for 3 models"),
    ({"weights": [1, -1, 1]}, ValueError, "finite and non-negative"),
    ({"weights": [1, float("nan"), 1]}, ValueError, "finite and non-negative"),
    ({"weights": [0, 0, 0]}, ValueError, "sum to 0"),
    ({"weights": ["a", 1, 1]}, TypeError, "sequence of numbers"),
    ({"mode": "median"}, ValueError, "mode must be one of"),
])
def test_bad_arguments_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        Ensemble(members(enn), **kwargs)


def test_an_empty_ensemble_and_members_that_disagree_on_classes_are_refused():
    with pytest.raises(ValueError, match="at least one model"):
        Ensemble([])
    mixed = Ensemble(members(enn, 2, classes=4) + members(enn, 1, classes=3))
    with pytest.raises(ValueError, match=r"member 2 returned shape \(2, 3\) but member 0 returned \(2, 4\)"):
        mixed(ember.randn(2, 5))


@pytest.mark.parametrize("mode", ["mean", "logits"])
def test_joint_training_gives_every_member_the_gradient_torch_gives(mode):
    ember.manual_seed(0)
    models = members(enn)
    ensemble = Ensemble(models, weights=[3, 1, 2], mode=mode)
    assert {id(p) for p in ensemble.parameters()} == {id(p) for m in models for p in m.parameters()}
    references = [members(torch.nn, 1)[0] for _ in models]
    for model, reference in zip(models, references):
        reference.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    rng = np.random.default_rng(0)
    x, target = rng.standard_normal((6, 5)).astype(np.float32), rng.integers(0, 4, 6)

    output = ensemble(ember.tensor(x))
    loss = enn.functional.nll_loss(output.log(), ember.tensor(target)) if mode == "mean" else \
        enn.functional.cross_entropy(output, ember.tensor(target))
    loss.backward()
    weights = torch.tensor([3.0, 1.0, 2.0]) / 6
    logits = [r(torch.tensor(x)) for r in references]
    if mode == "mean":
        torch_loss = torch.nn.functional.nll_loss(sum(w * z.softmax(-1) for w, z in zip(weights, logits)).log(),
                                                  torch.tensor(target))
    else:
        torch_loss = torch.nn.functional.cross_entropy(sum(w * z for w, z in zip(weights, logits)), torch.tensor(target))
    torch_loss.backward()
    assert_close(loss, torch_loss, 1e-5, 1e-6, "loss")
    for i, (model, reference) in enumerate(zip(models, references)):
        for (name, param), torch_param in zip(model.named_parameters(), reference.parameters()):
            assert_close(param.grad, torch_param.grad, 1e-4, 1e-6, f"member {i} {name}")


def test_state_dict_holds_every_member_and_loads_back():
    ember.manual_seed(0)
    ensemble = Ensemble(members(enn, 2))
    state = ensemble.state_dict()
    assert list(state) == [f"models.{i}.{k}" for i in range(2) for k in members(enn, 1)[0].state_dict()]
    ember.manual_seed(1)
    copy = Ensemble(members(enn, 2))
    copy.load_state_dict(state)
    x = ember.randn(3, 5)
    with ember.no_grad():
        np.testing.assert_array_equal(copy(x).numpy(), ensemble(x).numpy())


def test_ensemble_example_runs_quick():
    result = subprocess.run([sys.executable, os.path.join(EXAMPLES, "ensemble_lenet.py"), "--quick"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert all(f"ensemble ({mode})" in result.stdout for mode in ("mean", "vote", "logits"))
