"""Distil LeNet-5 (the teacher) into a student with under a quarter of its parameters on
Fashion-MNIST, and compare with the same student trained on the labels alone.

    python examples/distill_lenet.py            # teacher and two students, 6 epochs each (minutes on 2 cores)
    python examples/distill_lenet.py --quick    # 2,000 training samples, seconds
"""

from common import example_parser, fashion_mnist_loaders, one_cycle_trainer, run_size

import ember
from ember import models, nn
from ember.compress import format_reports, model_report
from ember.compress.distill import Distiller


def student_layers():
    """LeNet-5 with twice the filters and no hidden linear layers: 13,546 parameters (22% of
    LeNet's 61,706, most of which sit in its 400x120 linear layer)."""
    return nn.Sequential(nn.Conv2d(1, 12, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(12, 24, 5), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(24 * 5 * 5, 10))


def train(model, loaders, epochs, teacher=None, T=4.0, alpha=0.9):
    """Train ``model`` as ``ember train`` does, distilling from ``teacher`` when given; returns the test
    accuracy."""
    train_loader, test_loader = loaders
    train_loader.generator.manual_seed(0)   # every model sees the same batches in the same order
    options = dict(trainer=Distiller, teacher=teacher, T=T, alpha=alpha) if teacher is not None else {}
    trainer = one_cycle_trainer(model, train_loader, epochs, **options)
    trainer.fit(train_loader, epochs, log=lambda line: None)
    return trainer.evaluate(test_loader)["accuracy"]


def main():
    parser = example_parser(__doc__, epochs=6)
    # T=2, alpha=0.5 rather than the library's T=4, alpha=0.9: with a teacher only a little better
    # than the student, the labels still carry much of the signal (see the README for both runs).
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--alpha", type=float, default=0.5, help="weight of the teacher's soft targets")
    args = parser.parse_args()
    limit, epochs = run_size(args)

    loaders = fashion_mnist_loaders(limit)
    ember.manual_seed(0)
    teacher = models.create("lenet")
    results = {"teacher (LeNet-5)": (teacher, train(teacher, loaders, epochs))}
    for label, distil in (("student from scratch", False), ("distilled student", True)):
        ember.manual_seed(1)   # both students start from the same weights
        student = student_layers()
        accuracy = train(student, loaders, epochs, teacher if distil else None, args.temperature, args.alpha)
        results[label] = (student, accuracy)

    teacher_accuracy = results["teacher (LeNet-5)"][1]
    for label, (model, accuracy) in results.items():
        count = sum(p.numel() for p in model.parameters())
        print(f"{label:<22} {count:>7,} parameters  test accuracy {accuracy:.4f}  "
              f"({100 * (accuracy - teacher_accuracy):+.2f} points vs teacher)")
    example = next(iter(loaders[1]))[0][:64]
    print("\n" + format_reports({"teacher": model_report(teacher, example),
                                 "student": model_report(results["distilled student"][0], example)}))

if __name__ == "__main__":
    main()
