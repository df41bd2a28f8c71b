"""Reusing models (nn/module.py freeze/unfreeze, nn/transfer.py): freezing stops updates; a new
head; per-group learning rates against PyTorch; loading by matching names and shapes with a
report; parameter sharing and weight tying against PyTorch (summed gradients, names, state dicts,
checkpoints); and examples/transfer_lenet.py --quick."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import ember
import ember.nn as enn
from ember.models import MLP, LeNet5, ResNet
from ember.nn.transfer import load_matching, replace_head
from ember.serialization import CheckpointError
from ember.training import Trainer
from op_check import assert_close

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def to_torch(ember_model, torch_model):
    """Give ``torch_model`` the weights of ``ember_model`` (same architecture and names)."""
    state = {k: torch.tensor(v.numpy()) for k, v in ember_model.state_dict().items()}
    torch_model.load_state_dict(state)
    return torch_model


def conv_bn_net(nn):
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 5),
                         nn.Tanh(), nn.Linear(5, 2))


def array(tensor):
    return tensor.detach().numpy().copy()


def snapshot(model):
    return {name: array(p) for name, p in model.named_parameters()}


def train_steps(model, optimizer, steps=3, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = ember.tensor(rng.standard_normal((4, 1, 6, 6)).astype(np.float32))
        target = ember.tensor(rng.integers(0, 2, 4))
        optimizer.zero_grad()
        enn.functional.cross_entropy(model(x), target).backward()
        optimizer.step()


# ---- freezing -------------------------------------------------------------------------------------

@pytest.mark.parametrize("make_optimizer", [
    lambda p: ember.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
    lambda p: ember.optim.AdamW(p, lr=0.01, weight_decay=0.1),
], ids=["sgd-momentum-decay", "adamw"])
def test_frozen_parameters_stay_bitwise_unchanged_while_the_others_train(make_optimizer):
    ember.manual_seed(0)
    model = conv_bn_net(enn)
    optimizer = make_optimizer(model.parameters())  # frozen parameters stay in the optimizer
    model.freeze("0", "1")
    frozen = {"0.weight", "0.bias", "1.weight", "1.bias"}
    before = snapshot(model)
    train_steps(model, optimizer)
    for name, param in model.named_parameters():
        if name in frozen:
            assert not param.requires_grad and param.grad is None, name
            np.testing.assert_array_equal(array(param), before[name], err_msg=name)
        else:
            assert not np.array_equal(array(param), before[name]), f"{name} did not train"


def test_freeze_drops_a_pending_gradient_so_the_next_step_skips_the_parameter():
    ember.manual_seed(0)
    model = enn.Linear(3, 2)
    optimizer = ember.optim.SGD(model.parameters(), lr=0.1)
    model(ember.randn(4, 3)).sum().backward()
    before = snapshot(model)
    model.freeze()
    optimizer.step()
    for name, param in model.named_parameters():
        np.testing.assert_array_equal(array(param), before[name], err_msg=name)


def test_gradients_flow_through_a_frozen_layer_to_the_layers_before_it_as_in_torch():
    ember.manual_seed(0)
    model = conv_bn_net(enn)
    reference = to_torch(model, conv_bn_net(torch.nn))
    model.freeze("4")
    reference[4].requires_grad_(False)
    x = np.random.default_rng(1).standard_normal((2, 1, 6, 6)).astype(np.float32)
    model(ember.tensor(x)).sum().backward()
    reference(torch.tensor(x)).sum().backward()
    torch_params = dict(reference.named_parameters())
    for name, param in model.named_parameters():
        if torch_params[name].grad is None:
            assert param.grad is None, name
        else:
            assert_close(param.grad, torch_params[name].grad, 1e-5, 1e-6, name)


def test_freeze_patterns_select_by_parameter_or_submodule_name_and_unfreeze_undoes_them():
    model = LeNet5()
    names = [name for name, _ in model.named_parameters()]

    def frozen():
        return {name for name, p in model.named_parameters() if not p.requires_grad}

    assert model.freeze("*.bias") is model
    assert frozen() == {n for n in names if n.endswith(".bias")}
    model.unfreeze()
    model.freeze("layers.3")  # a submodule: all its parameters, and not layers.3x
    assert frozen() == {"layers.3.weight", "layers.3.bias"}
    model.freeze("layers.1*")  # fnmatch across dots: layers.11
    assert frozen() == {"layers.3.weight", "layers.3.bias", "layers.11.weight", "layers.11.bias"}
    model.unfreeze("layers.3.*")
    assert frozen() == {"layers.11.weight", "layers.11.bias"}
    model.freeze()
    assert frozen() == set(names)
    model.layers[:6].unfreeze()  # a slice of a Sequential holds the same modules
    assert frozen() == {n for n in names if int(n.split(".")[1]) > 6}


def test_a_pattern_that_matches_nothing_is_an_error_naming_the_parameters():
    with pytest.raises(ValueError, match=r"LeNet5\.freeze: pattern 'features\.\*' matches no parameter.*layers\.0\.weight"):
        LeNet5().freeze("features.*")


def test_frozen_batch_norm_still_updates_its_running_statistics_until_put_in_eval_mode():
    """Freezing concerns parameters; running statistics are buffers (as in PyTorch)."""
    ember.manual_seed(0)
    model = conv_bn_net(enn)
    model.freeze("1")
    optimizer = ember.optim.SGD(model.parameters(), lr=0.1)
    before = array(model[1].running_mean)
    train_steps(model, optimizer, steps=1)
    assert not np.array_equal(array(model[1].running_mean), before)
    model[1].eval()
    before = array(model[1].running_mean)
    train_steps(model, optimizer, steps=1, seed=1)
    np.testing.assert_array_equal(array(model[1].running_mean), before)


def test_summary_counts_frozen_parameters_as_non_trainable():
    model = LeNet5()
    model.freeze("layers.0", "layers.3")
    lines = []
    enn.summary(model, (1, 1, 28, 28), print_fn=lines.append)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    assert f"Non-trainable params: {frozen:,}" in "\n".join(lines)


# ---- a new head --------------------------------------------------------------------------------

def test_assigning_to_the_last_layer_of_a_sequential_replaces_the_head_in_place():
    model = LeNet5()
    keys = list(model.state_dict())
    model.layers[-1] = enn.Linear(84, 3)
    assert list(model.state_dict()) == keys  # same position, same names
    assert model.state_dict()["layers.11.weight"].shape == (3, 84)
    assert any(p is model.layers[11].weight for p in model.parameters())
    assert model(ember.randn(2, 1, 28, 28)).shape == (2, 3)


@pytest.mark.parametrize("make, head_name, example", [
    (LeNet5, "layers.11", (2, 1, 28, 28)),
    (MLP, "layers.5", (2, 784)),
    (lambda: ResNet(widths=(4, 8), blocks_per_stage=1), "fc", (2, 3, 8, 8)),
], ids=["lenet", "mlp", "resnet"])
def test_replace_head_swaps_the_last_linear_layer(make, head_name, example):
    model = make().double()
    old = model.get_submodule(head_name)
    head = replace_head(model, 3)
    assert model.get_submodule(head_name) is head
    assert (head.in_features, head.out_features) == (old.in_features, 3)
    assert head.weight.dtype == ember.float64 and (head.bias is None) == (old.bias is None)
    assert all(p is not old.weight for p in model.parameters())
    assert model(ember.randn(*example, dtype=ember.float64)).shape == (2, 3)
    custom = enn.Sequential(enn.Linear(old.in_features, 4))
    assert replace_head(model, custom) is custom and model.get_submodule(head_name) is custom


def test_replace_head_needs_a_linear_layer():
    with pytest.raises(ValueError, match="no Linear layer"):
        replace_head(enn.Sequential(enn.ReLU()), 3)
    with pytest.raises(TypeError, match="head must be a Module or a number"):
        replace_head(LeNet5(), "3")


# ---- per-group learning rates -----------------------------------------------------------------

def two_layer(nn):
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))


@pytest.mark.parametrize("name, options", [("SGD", {"momentum": 0.9}), ("Adam", {})])
def test_parameter_groups_with_their_own_learning_rates_update_as_in_torch(name, options):
    ember.manual_seed(0)
    model = two_layer(enn)
    reference = to_torch(model, two_layer(torch.nn))
    optimizer = getattr(ember.optim, name)([{"params": model[0].parameters(), "lr": 1e-3},
                                            {"params": model[2].parameters()}], lr=0.1, **options)
    torch_optimizer = getattr(torch.optim, name)([{"params": reference[0].parameters(), "lr": 1e-3},
                                                  {"params": reference[2].parameters()}], lr=0.1, **options)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.standard_normal((5, 4)).astype(np.float32)
        for net, opt, lib in ((model, optimizer, ember), (reference, torch_optimizer, torch)):
            opt.zero_grad()
            (net(lib.tensor(x)) ** 2).mean().backward()
            opt.step()
    torch_params = dict(reference.named_parameters())
    for key, param in model.named_parameters():
        assert_close(param, torch_params[key], 1e-5, 1e-6, key)


# ---- loading by matching names and shapes ----------------------------------------------------

def test_load_matching_loads_what_fits_and_reports_the_mis_shaped_head():
    ember.manual_seed(0)
    source, model = LeNet5(num_classes=10), LeNet5(num_classes=5)
    own = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    report = load_matching(model, source)
    source_state = source.state_dict()
    for key, value in model.state_dict().items():
        expected = source_state[key].numpy() if key in report.loaded_keys else own[key]
        np.testing.assert_array_equal(value.numpy(), expected, err_msg=key)
    assert report.loaded_keys == [k for k in own if not k.startswith("layers.11.")]
    assert report.mismatched_keys == [(k, tuple(source_state[k].shape), own[k].shape)
                                      for k in ("layers.11.weight", "layers.11.bias")]
    assert report.missing_keys == [] and report.unexpected_keys == []
    table = str(report).splitlines()
    assert table[0].split() == ["key", "status", "checkpoint", "model"]
    assert table[-2].split() == ["layers.11.bias", "mis-shaped", "(10,)", "(5,)"]
    assert table[-1].startswith("loaded 8 of the model's 10 tensors: 2 mis-shaped, 0 missing")


def test_load_matching_reports_missing_and_unexpected_keys_of_another_architecture():
    source = enn.Sequential(enn.Linear(4, 6), enn.ReLU(), enn.Linear(6, 3), enn.ReLU(), enn.Linear(3, 2))
    model = enn.Sequential(enn.Linear(4, 6), enn.ReLU(), enn.Linear(6, 3), enn.ReLU(), enn.BatchNorm1d(3))
    report = load_matching(model, source.state_dict())
    assert report.loaded_keys == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert report.mismatched_keys == [("4.weight", (2, 3), (3,)), ("4.bias", (2,), (3,))]
    assert report.missing_keys == ["4.running_mean", "4.running_var", "4.num_batches_tracked"]
    assert report.unexpected_keys == []
    report = load_matching(source, model)
    assert report.unexpected_keys == ["4.running_mean", "4.running_var", "4.num_batches_tracked"]
    assert "unexpected" in str(report) and repr(report).startswith("LoadReport(loaded=4,")


def test_load_state_dict_strict_false_returns_the_same_keys_as_torch_and_still_refuses_mis_shapes():
    def pair(nn, extra):
        layers = [nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)]
        return nn.Sequential(*layers, nn.Linear(3, 2)) if extra else nn.Sequential(*layers)

    ours = pair(enn, False).load_state_dict(pair(enn, True).state_dict(), strict=False)
    theirs = pair(torch.nn, False).load_state_dict(pair(torch.nn, True).state_dict(), strict=False)
    assert (ours.missing_keys, ours.unexpected_keys) == (theirs.missing_keys, theirs.unexpected_keys)
    ours = pair(enn, True).load_state_dict(pair(enn, False).state_dict(), strict=False)
    theirs = pair(torch.nn, True).load_state_dict(pair(torch.nn, False).state_dict(), strict=False)
    assert (ours.missing_keys, ours.unexpected_keys) == (theirs.missing_keys, theirs.unexpected_keys)
    with pytest.raises(RuntimeError, match="size mismatch for 2.weight"):
        pair(enn, False).load_state_dict(enn.Sequential(enn.Linear(4, 6), enn.ReLU(), enn.Linear(6, 5)).state_dict(),
                                         strict=False)


def test_load_matching_from_a_state_dict_file_and_from_a_trainer_checkpoint(tmp_path):
    ember.manual_seed(0)
    source = two_layer(enn)
    plain = tmp_path / "weights.safetensors"
    ember.save(source.state_dict(), plain)
    trainer_checkpoint = Trainer(source, ember.optim.SGD(source.parameters(), lr=0.1), progress=False) \
        .save_checkpoint(str(tmp_path / "checkpoint.safetensors"))
    for path in (plain, trainer_checkpoint):
        model = two_layer(enn)
        report = load_matching(model, path)
        assert report.loaded_keys == list(source.state_dict())
        for (key, a), b in zip(model.state_dict().items(), source.state_dict().values()):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=key)


def test_load_matching_refuses_a_damaged_checkpoint_and_a_bad_source(tmp_path):
    path = tmp_path / "weights.safetensors"
    ember.save(two_layer(enn).state_dict(), path)
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(CheckpointError, match="truncated"):
        load_matching(two_layer(enn), path)
    with pytest.raises(TypeError, match="load_matching: source must be a state dict"):
        load_matching(two_layer(enn), [1, 2])


# ---- sharing and tying ----------------------------------------------------------------------------

def tied_language_model(nn, vocab=7, width=4):
    """Embedding tied to the output layer: head.weight is embed.weight (both (vocab, width))."""

    class TiedLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, width)
            self.mix = nn.Linear(width, width)
            self.head = nn.Linear(width, vocab, bias=False)
            self.head.weight = self.embed.weight

        def forward(self, ids):
            return self.head(self.mix(self.embed(ids)).tanh())

    return TiedLM()


def shared_block(nn):
    """One Linear applied twice."""
    block = nn.Linear(3, 3)
    return nn.Sequential(block, nn.Tanh(), block)


@pytest.mark.parametrize("make, make_input", [
    (tied_language_model, lambda lib, rng: lib.tensor(rng.integers(0, 7, (3, 5)))),
    (shared_block, lambda lib, rng: lib.tensor(rng.standard_normal((4, 3)).astype(np.float32))),
], ids=["embedding-tied-to-head", "module-used-twice"])
def test_shared_parameters_get_the_summed_gradient_and_the_names_of_torch(make, make_input):
    ember.manual_seed(0)
    model = make(enn)
    reference = to_torch(model, make(torch.nn))
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in reference.named_parameters()]
    assert list(model.state_dict()) == list(reference.state_dict())  # state_dict keeps both names
    for net, lib in ((model, ember), (reference, torch)):
        (net(make_input(lib, np.random.default_rng(0))) ** 2).mean().backward()
    torch_params = dict(reference.named_parameters())
    for name, param in model.named_parameters():
        assert_close(param.grad, torch_params[name].grad, 1e-5, 1e-6, name)


def test_the_shared_gradient_is_the_sum_of_both_uses():
    ember.manual_seed(0)
    model = tied_language_model(enn)
    ids = ember.tensor(np.random.default_rng(0).integers(0, 7, (3, 5)))
    model(ids).square().mean().backward()
    summed = model.embed.weight.grad.numpy()
    # the same computation with the two uses split into two leaves
    embed_weight = model.embed.weight.detach().requires_grad_()
    head_weight = model.embed.weight.detach().requires_grad_()
    hidden = model.mix(enn.functional.embedding(ids, embed_weight)).tanh()
    enn.functional.linear(hidden, head_weight).square().mean().backward()
    np.testing.assert_allclose(summed, embed_weight.grad.numpy() + head_weight.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_a_saved_tied_model_loads_into_a_fresh_one_and_stays_tied(tmp_path):
    ember.manual_seed(0)
    model = tied_language_model(enn)
    ember.save(model.state_dict(), tmp_path / "tied.safetensors")
    ember.manual_seed(1)
    fresh = tied_language_model(enn)
    assert fresh.load_state_dict(ember.load(tmp_path / "tied.safetensors")) == ([], [])
    assert fresh.head.weight is fresh.embed.weight
    np.testing.assert_array_equal(array(fresh.embed.weight), array(model.embed.weight))
    optimizer = ember.optim.SGD(fresh.parameters(), lr=0.5)
    fresh(ember.tensor([[1, 2]])).sum().backward()
    before = array(fresh.embed.weight)
    optimizer.step()  # the optimizer holds the tied tensor once: one update with the summed gradient
    np.testing.assert_allclose(array(fresh.head.weight), before - 0.5 * fresh.embed.weight.grad.numpy(), rtol=1e-6)


# ---- the worked example -------------------------------------------------------------------------

def test_transfer_example_runs_quick():
    result = subprocess.run([sys.executable, os.path.join(EXAMPLES, "transfer_lenet.py"), "--quick"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "epoch  transfer  scratch" in result.stdout
