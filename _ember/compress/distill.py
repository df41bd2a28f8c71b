"""Knowledge distillation (Hinton, Vinyals and Dean, 2015): train a small student to match a big
teacher's softened predictions as well as the labels.

    distiller = Distiller(student, teacher, ember.optim.Adam(student.parameters(), lr=3e-3), T=4.0, alpha=0.9)
    distiller.fit(train_loader, epochs=3, val_loader=test_loader)

The teacher's probabilities at temperature T > 1 say which wrong classes look like the right one
(a shirt is more like a T-shirt than a boot): more information per sample than the one-hot label.
"""
from .. import nn
from ..engine import no_grad
from ..nn import functional as F
from ..training import Trainer

__all__ = ["distillation_loss", "DistillationLoss", "Distiller"]


def distillation_loss(student_logits, teacher_logits, targets, T=4.0, alpha=0.9):
    """``alpha T^2 KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) cross_entropy(student,
    targets)``, the KL divergence averaged over the batch ('batchmean'). The T^2 keeps the soft
    term's gradients the same size whatever T (they scale as 1 / T^2). Gradients flow into both
    logits: compute the teacher's under ``no_grad``. Shapes: logits (N, C), targets (N,) -> ()."""
    if student_logits.ndim != 2 or tuple(student_logits.shape) != tuple(teacher_logits.shape):
        raise ValueError(f"distillation_loss: student and teacher logits must both be (N, C), got "
                         f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}")
    if T <= 0 or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"distillation_loss: need T > 0 and 0 <= alpha <= 1, got T={T}, alpha={alpha}")
    soft = F.kl_div(F.log_softmax(student_logits / T, dim=1), F.log_softmax(teacher_logits / T, dim=1),
                    reduction="batchmean", log_target=True)
    return alpha * T * T * soft + (1 - alpha) * F.cross_entropy(student_logits, targets)


class DistillationLoss(nn.Module):
    """``distillation_loss`` as a module: ``DistillationLoss(T, alpha)(student_logits, teacher_logits,
    targets)``."""

    def __init__(self, T=4.0, alpha=0.9):
        super().__init__()
        self.T, self.alpha = T, alpha

    def forward(self, student_logits, teacher_logits, targets):
        return distillation_loss(student_logits, teacher_logits, targets, self.T, self.alpha)

    def extra_repr(self):
        return f"T={self.T}, alpha={self.alpha}"


class Distiller(Trainer):
    """A ``Trainer`` for the student whose training loss is ``distillation_loss`` against a frozen
    ``teacher`` (kept in eval mode, run under ``no_grad``, never updated). Evaluation reports the
    student's own cross entropy and accuracy. Other keyword arguments go to ``Trainer``."""

    def __init__(self, student, teacher, optimizer, T=4.0, alpha=0.9, **trainer_kwargs):
        trainer_kwargs.setdefault("task", "classification")
        if trainer_kwargs["task"] != "classification":
            raise ValueError("Distiller: distillation is implemented for classification only")
        super().__init__(student, optimizer, loss_fn=self._soft_and_hard_loss, **trainer_kwargs)
        self.teacher = teacher.eval()
        self.loss = DistillationLoss(T, alpha)

    def _soft_and_hard_loss(self, logits, targets, inputs):
        with no_grad():
            teacher_logits = self.teacher(inputs)
        return self.loss(logits, teacher_logits, targets)
