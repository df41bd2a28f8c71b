"""ember.compress.distill: the distillation loss equals the same formula written with
torch.nn.functional (values and gradients), passes finite differences in float64, and the
Distiller trains a student towards a frozen teacher."""
import copy
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import ember
from ember.compress.distill import DistillationLoss, Distiller, distillation_loss
from ember.data import DataLoader, TensorDataset
from ember.training import Trainer


def torch_distillation_loss(student, teacher, targets, T, alpha):
    """Hinton et al.'s loss, written the usual way in PyTorch."""
    soft = TF.kl_div(TF.log_softmax(student / T, dim=1), TF.log_softmax(teacher / T, dim=1),
                     reduction="batchmean", log_target=True)
    return alpha * T * T * soft + (1 - alpha) * TF.cross_entropy(student, targets)


def logits(seed, dtype, n=6, classes=5):
    rng = np.random.default_rng(seed)
    return (3 * rng.standard_normal((n, classes))).astype(dtype), \
        (3 * rng.standard_normal((n, classes))).astype(dtype), rng.integers(0, classes, n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T, alpha", [(4.0, 0.9), (1.0, 0.5), (2.5, 0.0), (10.0, 1.0)])
def test_loss_and_gradients_equal_the_pytorch_formula(dtype, T, alpha):
    student, teacher, targets = logits(int(T * 10 + alpha * 100), dtype)
    ours = [ember.tensor(student, requires_grad=True), ember.tensor(teacher, requires_grad=True)]
    theirs = [torch.tensor(student, requires_grad=True), torch.tensor(teacher, requires_grad=True)]
    loss = distillation_loss(*ours, ember.tensor(targets), T=T, alpha=alpha)
    expected = torch_distillation_loss(*theirs, torch.tensor(targets), T, alpha)
    tolerance = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(loss.item(), expected.item(), **tolerance)
    loss.backward()
    expected.backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **tolerance)


def test_gradients_pass_finite_differences_in_float64():
    student, teacher, targets = logits(1, np.float64)
    inputs = (ember.tensor(student, requires_grad=True), ember.tensor(teacher, requires_grad=True))
    assert ember.autograd.gradcheck(lambda s, t: distillation_loss(s, t, ember.tensor(targets), T=3.0, alpha=0.7),
                                    inputs)


def test_module_equals_function():
    student, teacher, targets = (ember.tensor(a) for a in logits(2, np.float32))
    module = DistillationLoss(T=2.0, alpha=0.3)
    assert module(student, teacher, targets).item() == distillation_loss(student, teacher, targets, 2.0, 0.3).item()
    assert "T=2.0, alpha=0.3" in repr(module)


def test_bad_input_is_refused_with_the_shapes():
    a, b = ember.randn(4, 3), ember.randn(4, 5)
    with pytest.raises(ValueError, match=r"distillation_loss: .* \(4, 3\) and \(4, 5\)"):
        distillation_loss(a, b, ember.tensor([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="need T > 0"):
        distillation_loss(a, a, ember.tensor([0, 1, 2, 0]), T=0)


def mlp(hidden):
    return ember.nn.Sequential(ember.nn.Linear(8, hidden), ember.nn.ReLU(), ember.nn.Linear(hidden, 4))


def test_distiller_moves_the_student_towards_a_frozen_teacher():
    ember.manual_seed(0)
    teacher, student = mlp(32), mlp(6)
    teacher_before = copy.deepcopy(teacher.state_dict())
    x = ember.randn(256, 8)
    with ember.no_grad():
        labels = teacher(x).argmax(dim=1)
    loader = DataLoader(TensorDataset(x, labels), batch_size=32, shuffle=True,
                        generator=ember.Generator().manual_seed(0))

    def disagreement():
        with ember.no_grad():
            return distillation_loss(student(x), teacher(x), labels, T=2.0, alpha=1.0).item()

    before = disagreement()
    distiller = Distiller(student, teacher, ember.optim.Adam(student.parameters(), lr=1e-2), T=2.0,
                          alpha=1.0, progress=False)
    history = distiller.fit(loader, epochs=4, log=lambda line: None)
    assert disagreement() < 0.5 * before
    assert not teacher.training
    for key, value in teacher.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), teacher_before[key].numpy())
    assert all(p.grad is None for p in teacher.parameters())
    # evaluation reports the student as a plain classifier does
    plain = Trainer(student, None, progress=False).evaluate(loader)
    assert distiller.evaluate(loader) == pytest.approx(plain)   # the loader shuffles: sums differ by rounding
    assert len(history) == 4


def test_distill_lenet_example_runs_quick():
    script = pathlib.Path(__file__).resolve().parent.parent / "examples" / "distill_lenet.py"
    result = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for label in ("teacher (LeNet-5)", "student from scratch", "distilled student"):
        assert label in result.stdout
    assert "13,546 parameters" in result.stdout and "61,706 parameters" in result.stdout
