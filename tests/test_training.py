"""Training end to end: convergence on real data in seconds, the Trainer's checkpoints and resume,
the model zoo, and the ``ember`` command (train, eval, sample)."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import ember
from ember import nn
from ember.data import DataLoader, TensorDataset
from ember.models import MODELS, create
from ember.models.cnn import cifar_cnn_layers, lenet_layers
from ember.models.mlp import mlp_layers
from ember.training import Trainer

datasets = ember.data.datasets


def _mnist_subset_or_skip():
    try:
        return datasets.MNISTSubset(train=True), datasets.MNISTSubset(train=False)
    except FileNotFoundError as error:
        pytest.skip(str(error))


def test_small_cnn_learns_a_thousand_real_digits():
    train, test = _mnist_subset_or_skip()
    x, y = train.as_tensors()
    xt, yt = test.as_tensors()
    ember.manual_seed(0)
    model = create("lenet")
    trainer = Trainer(model, ember.optim.Adam(model.parameters(), lr=2e-3), progress=False)
    loader = DataLoader(TensorDataset(x[:1000], y[:1000]), batch_size=50, shuffle=True,
                        generator=ember.Generator().manual_seed(0))
    history = trainer.fit(loader, epochs=8, log=lambda line: None)
    assert history[-1]["train_loss"] < history[0]["train_loss"] / 3
    assert trainer.evaluate(DataLoader(TensorDataset(xt, yt), batch_size=500))["accuracy"] > 0.90


def _tiny_problem():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 8, 8)).astype(np.float32)
    y = (x.reshape(64, -1).sum(1) > 0).astype(np.int64)
    return DataLoader(TensorDataset(ember.tensor(x), ember.tensor(y)), batch_size=16, shuffle=True,
                      generator=ember.Generator().manual_seed(0))


def test_checkpoint_every_epoch_and_resume(tmp_path):
    loader = _tiny_problem()
    ember.manual_seed(0)
    model = create("mlp", in_features=64, num_classes=2, hidden=(16,))
    optimizer = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    trainer = Trainer(model, optimizer, checkpoint_dir=str(tmp_path), progress=False)
    trainer.fit(loader, epochs=2, val_loader=loader, log=lambda line: None)
    assert os.path.exists(tmp_path / "checkpoint.safetensors") and os.path.exists(tmp_path / "curves.png")

    ember.manual_seed(1)  # a different init: resume must overwrite it from the checkpoint
    resumed_model = create("mlp", in_features=64, num_classes=2, hidden=(16,))
    resumed = Trainer(resumed_model, ember.optim.SGD(resumed_model.parameters(), lr=0.1, momentum=0.9),
                      checkpoint_dir=str(tmp_path), progress=False)
    assert resumed.load_checkpoint()
    assert resumed.epoch == 2 and len(resumed.history) == 2
    for (name, a), (_, b) in zip(model.state_dict().items(), resumed_model.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    momentum = optimizer.state_dict()["state"][0]["momentum_buffer"].numpy()
    np.testing.assert_array_equal(resumed.optimizer.state_dict()["state"][0]["momentum_buffer"].numpy(),
                                  momentum)
    history = resumed.fit(loader, epochs=3, val_loader=loader, resume=True, log=lambda line: None)
    assert [r["epoch"] for r in history] == [1, 2, 3]


@pytest.mark.parametrize("name,kwargs,inputs", [
    ("mlp", {"in_features": 64}, lambda: ember.randn(3, 1, 8, 8)),
    ("lenet", {}, lambda: ember.randn(2, 1, 28, 28)),
    ("cifar-cnn", {"widths": (8, 16, 16)}, lambda: ember.randn(2, 3, 32, 32)),
    ("resnet", {"widths": (8, 16), "blocks_per_stage": 1}, lambda: ember.randn(2, 3, 16, 16)),
    ("char-rnn", {"vocab_size": 11, "hidden_size": 16, "embedding_dim": 8}, lambda: ember.randint(0, 11, (2, 7))),
    ("gpt", {"vocab_size": 11, "context": 8, "d_model": 16, "nhead": 2, "num_layers": 2},
     lambda: ember.randint(0, 11, (2, 7))),
])
def test_zoo_model_forward_backward(name, kwargs, inputs):
    model = create(name, **kwargs)
    out = model(inputs())
    logits = out[0] if isinstance(out, tuple) else out
    expected_classes = kwargs.get("vocab_size", 10)
    assert logits.shape[-1] == expected_classes
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_zoo_names():
    assert set(MODELS) == {"mlp", "lenet", "cifar-cnn", "resnet", "char-rnn", "gpt"}
    with pytest.raises(ValueError, match="unknown model 'vgg'; the zoo has"):
        create("vgg")


@pytest.mark.parametrize("builder", [mlp_layers, lenet_layers, cifar_cnn_layers])
def test_same_builder_gives_torch_the_same_model(builder):
    """A model is ported by changing the namespace: the builders take ember.nn or torch.nn, and
    with torch's weights ember computes torch's outputs."""
    ours, theirs = builder(nn), builder(torch.nn)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: ember.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    ours.eval(), theirs.eval()
    shape = (2, 3, 32, 32) if builder is cifar_cnn_layers else (2, 1, 28, 28)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.tensor(x)).numpy()
    np.testing.assert_allclose(ours(ember.tensor(x)).detach().numpy(), expected, rtol=1e-4, atol=1e-5)


def _ember_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "ember", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_cli_train_then_eval(tmp_path):
    pytest.importorskip("sklearn", reason="the digits ship with scikit-learn: pip install -e .[data]")
    done = _ember_cli("train", "mlp", "--dataset", "digits", "--epochs", "10", "--lr", "0.005", "--no-progress",
                      "--out", str(tmp_path), "--min-accuracy", "0.9")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test accuracy: 0.9" in done.stdout
    evaluated = _ember_cli("eval", str(tmp_path / "checkpoint.safetensors"))
    assert evaluated.returncode == 0, evaluated.stderr
    assert float(evaluated.stdout.split("accuracy ")[1]) >= 0.9


def test_cli_refuses_a_model_that_does_not_fit_the_data():
    done = _ember_cli("train", "lenet", "--dataset", "digits", "--epochs", "1")
    assert done.returncode != 0 and "lenet takes 28x28 images" in done.stderr


def test_sample_from_a_character_model(tmp_path):
    text = "to be or not to be, that is the question. " * 40
    train, val = datasets.CharDataset.split(text, seq_len=16)
    ember.manual_seed(0)
    model = create("char-rnn", vocab_size=train.vocab_size, embedding_dim=16, hidden_size=48,
                   num_layers=1)
    trainer = Trainer(model, ember.optim.Adam(model.parameters(), lr=1e-2), task="language-model",
                      checkpoint_dir=str(tmp_path), progress=False,
                      config={"model": "char-rnn", "vocab": "".join(train.vocab), "dataset": "text",
                              "batch_size": 16, "model_kwargs": {"vocab_size": train.vocab_size,
                                                                 "embedding_dim": 16, "hidden_size": 48,
                                                                 "num_layers": 1}})
    history = trainer.fit(DataLoader(train, batch_size=16, shuffle=True), epochs=15,
                          val_loader=DataLoader(val, batch_size=16), log=lambda line: None)
    unigram = np.log(train.vocab_size)  # uniform over the characters, an upper bound on unigram loss
    assert history[-1]["val_loss"] < unigram / 3
    done = _ember_cli("sample", str(tmp_path / "checkpoint.safetensors"), "--prompt", "to be",
                      "--length", "40", "--temperature", "0.5")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("to be") and "be" in done.stdout[5:]
