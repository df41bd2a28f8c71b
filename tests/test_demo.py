"""The main job: the digits MLP trains to >= 90% test accuracy with a falling loss, and the
``ember train`` command reports it."""
import re
import subprocess
import sys

import pytest

pytest.importorskip("sklearn", reason="the digits ship with scikit-learn: pip install -e .[data]")

from ember.mlp_demo import train  # noqa: E402


def test_mlp_learns_digits():
    lines = []
    accuracy = train(epochs=10, log=lines.append)
    losses = [float(m.group(1)) for line in lines for m in [re.search(r"loss (\d+\.\d+)", line)] if m]
    assert losses[-1] < losses[0] / 5
    assert accuracy >= 0.9


def test_ember_train_command():
    done = subprocess.run([sys.executable, "-m", "ember", "train", "--epochs", "8"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert re.search(r"final test accuracy: 0\.9\d\d", done.stdout)
