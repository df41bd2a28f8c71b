"""ember.compress.prune against torch.nn.utils.prune: the same masks on the same weights (random
floats, so no ties), the same training trajectories with masks in place (pruned weights stay exactly
zero), remove(), state_dict round trips, the sparsity report and iterative schedules."""
import copy
import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.utils.prune as torch_prune

import ember
from ember.compress import prune


def small_layers(nn):
    """(N, 2, 6, 6) -> (N, 3): a conv and two linear layers."""
    return nn.Sequential(nn.Conv2d(2, 5, 3), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 4 * 4, 7), nn.Tanh(),
                         nn.Linear(7, 3))


LAYERS = (0, 3, 5)  # the indices of the layers with weights


def twin_models(seed=0):
    """The same small network in ember and in torch, with the same weights."""
    ember.manual_seed(seed)
    model = small_layers(ember.nn)
    reference = small_layers(torch.nn)
    reference.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    return model, reference


def assert_same_masks(model, reference, name="weight"):
    for i in LAYERS:
        ours, theirs = model[i], reference[i]
        assert prune.is_pruned(ours) == torch_prune.is_pruned(theirs)
        if hasattr(theirs, name + "_mask"):
            np.testing.assert_array_equal(ours.weight_mask.numpy(), getattr(theirs, name + "_mask").numpy())
            np.testing.assert_array_equal(ours.weight.detach().numpy(), getattr(theirs, name).detach().numpy())


def test_l1_unstructured_masks_match_pytorch_for_fractions_counts_and_repeats():
    model, reference = twin_models()
    for amount in (0.3, 11, 0.5):   # a repeat prunes a share of what is left, as PyTorch's container does
        prune.l1_unstructured(model[3], "weight", amount=amount)
        torch_prune.l1_unstructured(reference[3], "weight", amount=amount)
        assert_same_masks(model, reference)
    prune.l1_unstructured(model[0], "bias", amount=0.4)
    torch_prune.l1_unstructured(reference[0], "bias", amount=0.4)
    np.testing.assert_array_equal(model[0].bias_mask.numpy(), reference[0].bias_mask.numpy())


def test_global_unstructured_masks_match_pytorch():
    model, reference = twin_models(1)
    prune.l1_unstructured(model[5], "weight", amount=0.2)   # one tensor already pruned
    torch_prune.l1_unstructured(reference[5], "weight", amount=0.2)
    for amount in (0.6, 0.5):
        prune.global_unstructured([(model[i], "weight") for i in LAYERS], amount=amount)
        torch_prune.global_unstructured([(reference[i], "weight") for i in LAYERS],
                                        pruning_method=torch_prune.L1Unstructured, amount=amount)
        assert_same_masks(model, reference)


@pytest.mark.parametrize("layer, n, dim", [(0, 2, 0), (0, 1, 1), (3, math.inf, 0), (3, "fro", 1),
                                           (5, -math.inf, 0), (0, 3, -1)])
def test_ln_structured_masks_match_pytorch(layer, n, dim):
    model, reference = twin_models(2)
    for amount in (0.4, 1):
        prune.ln_structured(model[layer], "weight", amount=amount, n=n, dim=dim)
        torch_prune.ln_structured(reference[layer], "weight", amount=amount, n=n, dim=dim)
        assert_same_masks(model, reference)


def test_structured_after_unstructured_matches_pytorch():
    model, reference = twin_models(3)
    prune.l1_unstructured(model[0], "weight", amount=0.5)
    torch_prune.l1_unstructured(reference[0], "weight", amount=0.5)
    prune.ln_structured(model[0], "weight", amount=0.4, n=1, dim=0)
    torch_prune.ln_structured(reference[0], "weight", amount=0.4, n=1, dim=0)
    assert_same_masks(model, reference)


@pytest.mark.parametrize("optimizer", ["sgd-momentum", "adam-weight-decay"])
def test_pruned_weights_stay_zero_through_training_as_in_pytorch(optimizer):
    model, reference = twin_models(4)
    prune.global_unstructured([(model[i], "weight") for i in LAYERS], amount=0.7)
    torch_prune.global_unstructured([(reference[i], "weight") for i in LAYERS],
                                    pruning_method=torch_prune.L1Unstructured, amount=0.7)
    if optimizer == "sgd-momentum":
        ours = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2)
        theirs = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2)
    else:
        ours = ember.optim.Adam(model.parameters(), lr=0.05, weight_decay=1e-2)
        theirs = torch.optim.Adam(reference.parameters(), lr=0.05, weight_decay=1e-2)
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.standard_normal((8, 2, 6, 6)).astype(np.float32)
        y = rng.integers(0, 3, 8)
        for net, opt, lib in ((model, ours, ember), (reference, theirs, torch)):
            opt.zero_grad()
            lib.nn.functional.cross_entropy(net(lib.tensor(x)), lib.tensor(y)).backward()
            opt.step()
    model(ember.zeros(1, 2, 6, 6))   # a forward refreshes the masked weights
    reference(torch.zeros(1, 2, 6, 6))
    for i in LAYERS:
        mask = model[i].weight_mask.numpy()
        weight = model[i].weight.detach().numpy()
        assert np.all(weight[mask == 0] == 0)
        assert model[i].weight_orig.grad.numpy()[mask == 0].tolist() == [0.0] * int((mask == 0).sum())
        np.testing.assert_allclose(weight, reference[i].weight.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_remove_makes_pruning_permanent_with_the_same_parameter_object():
    model, reference = twin_models(5)
    original = model[3].weight
    optimizer = ember.optim.SGD(model.parameters(), lr=0.1)
    prune.l1_unstructured(model[3], "weight", amount=0.6)
    torch_prune.l1_unstructured(reference[3], "weight", amount=0.6)
    prune.remove(model[3], "weight")
    torch_prune.remove(reference[3], "weight")
    assert model[3].weight is original and isinstance(original, ember.nn.Parameter)
    assert not prune.is_pruned(model)
    assert list(model.state_dict()) == list(reference.state_dict())
    np.testing.assert_array_equal(model[3].weight.detach().numpy(), reference[3].weight.detach().numpy())
    assert int((model[3].weight == 0).sum().item()) == round(0.6 * original.numel())
    model(ember.randn(2, 2, 6, 6)).sum().backward()
    optimizer.step()   # the optimizer still trains the layer's weight
    assert not np.array_equal(model[3].weight.detach().numpy(), reference[3].weight.detach().numpy())


def test_remove_refuses_a_tensor_that_is_not_pruned():
    with pytest.raises(ValueError, match="has to be pruned before pruning can be removed"):
        prune.remove(ember.nn.Linear(2, 2), "weight")


def test_state_dict_round_trip_through_a_file(tmp_path):
    model, reference = twin_models(6)
    prune.global_unstructured([(model[i], "weight") for i in LAYERS], amount=0.8)
    torch_prune.global_unstructured([(reference[i], "weight") for i in LAYERS],
                                    pruning_method=torch_prune.L1Unstructured, amount=0.8)
    assert list(model.state_dict()) == list(reference.state_dict())   # weight_orig and weight_mask
    path = tmp_path / "pruned.safetensors"
    ember.save(model.state_dict(), path)
    ember.manual_seed(7)
    restored = small_layers(ember.nn)
    for i in LAYERS:
        prune.identity(restored[i], "weight")
    restored.load_state_dict(ember.load(path))
    x = ember.randn(3, 2, 6, 6)
    np.testing.assert_array_equal(restored(x).detach().numpy(), model(x).detach().numpy())
    assert prune.sparsity_report(restored).pruned_sparsity == pytest.approx(0.8, abs=1e-3)


def test_a_pruned_model_deep_copies_with_its_own_mask():
    model, _ = twin_models(9)
    prune.l1_unstructured(model[5], "weight", amount=0.5)
    twin = copy.deepcopy(model)
    with ember.no_grad():
        twin[5].weight_mask.zero_()
    x = ember.randn(2, 2, 6, 6)
    assert prune.is_pruned(twin)
    np.testing.assert_array_equal(twin(x).detach().numpy(), np.broadcast_to(twin[5].bias.detach().numpy(), (2, 3)))
    assert int(model[5].weight_mask.sum().item()) == 11


def test_sparsity_report_counts_zeros_per_tensor_and_in_total():
    model, _ = twin_models(7)
    prune.l1_unstructured(model[3], "weight", amount=40)
    with ember.no_grad():
        model[0].bias[:2] = 0
    report = prune.sparsity_report(model)
    rows = {name: (size, zeros, pruned) for name, _, size, zeros, pruned in report.rows}
    assert rows["3.weight"] == (560, 40, True) and rows["0.bias"] == (5, 2, False)
    assert "3.weight_orig" not in rows
    total = sum(p.numel() for p in model.parameters())
    assert report.sparsity == pytest.approx(42 / total)
    assert report.pruned_sparsity == pytest.approx(40 / 560)
    assert "3.weight" in str(report) and "all parameters" in str(report)


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_iterative_prune_reaches_each_target_and_fine_tunes_between_rounds(scope):
    model, _ = twin_models(8)
    parameters = [(model[i], "weight") for i in LAYERS]
    total = sum(model[i].weight.numel() for i in LAYERS)
    seen = []

    def fine_tune(round_index, sparsity):
        seen.append((round_index, sparsity, prune.sparsity_report(model).pruned_sparsity))
        return round_index

    targets = prune.polynomial_schedule(0.9, 3)
    assert targets[-1] == pytest.approx(0.9) and targets == sorted(targets)
    assert prune.iterative_prune(parameters, targets, fine_tune, scope=scope) == [0, 1, 2]
    for (index, sparsity, measured), target in zip(seen, targets):
        assert sparsity == target
        assert measured == pytest.approx(target, abs=3 / total if scope == "layer" else 0.5 / total)
    if scope == "layer":
        for i in LAYERS:
            assert prune.sparsity_report(model[i]).pruned_sparsity == pytest.approx(0.9, abs=0.01)


def test_bad_arguments_are_refused_with_the_function_name():
    layer = ember.nn.Linear(4, 3)
    with pytest.raises(ValueError, match=r"l1_unstructured: amount=1.5 should be a float in the range \[0, 1\]"):
        prune.l1_unstructured(layer, "weight", amount=1.5)
    with pytest.raises(ValueError, match="l1_unstructured: amount=13 should be smaller"):
        prune.l1_unstructured(layer, "weight", amount=13)
    with pytest.raises(ValueError, match="has no parameter named 'kernel'"):
        prune.l1_unstructured(layer, "kernel", amount=0.5)
    with pytest.raises(ValueError, match="custom_from_mask: mask of shape"):
        prune.custom_from_mask(layer, "weight", np.ones((4, 3)))
    with pytest.raises(IndexError, match="ln_structured: dim 2"):
        prune.ln_structured(layer, "weight", amount=0.5, dim=2)


def test_prune_lenet_example_runs_quick():
    script = pathlib.Path(__file__).resolve().parent.parent / "examples" / "prune_lenet.py"
    result = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "round 3: sparsity 90.0%" in result.stdout and "pruned 90%" in result.stdout
    assert "pruned tensors" in result.stdout and "accuracy: dense" in result.stdout
