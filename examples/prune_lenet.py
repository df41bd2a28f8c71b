"""Prune LeNet-5 on Fashion-MNIST to 90% sparsity with global magnitude pruning, fine-tuning after
each round, and compare the model before and after.

    python examples/prune_lenet.py            # 3 epochs + 3 prune/fine-tune rounds (a few minutes on 2 cores)
    python examples/prune_lenet.py --quick    # 2,000 training samples, seconds
"""
import copy

from common import example_parser, fashion_mnist_loaders, one_cycle_trainer, run_size

import ember
from ember import models
from ember.compress import format_reports, model_report, prune
from ember.training import Trainer


def main():
    parser = example_parser(__doc__, epochs=3)
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fine-tune-epochs", type=int, default=1, help="epochs after each pruning round")
    args = parser.parse_args()
    limit, epochs = run_size(args)

    train_loader, test_loader = fashion_mnist_loaders(limit)
    ember.manual_seed(0)
    model = models.create("lenet")
    trainer = one_cycle_trainer(model, train_loader, epochs)
    trainer.fit(train_loader, epochs, log=lambda line: print("  dense", line))
    dense = copy.deepcopy(model)
    dense_accuracy = trainer.evaluate(test_loader)["accuracy"]
    print(f"dense LeNet: test accuracy {dense_accuracy:.4f}")

    # Every conv and linear weight competes in one pool: layers with many redundant weights (the
    # 400x120 linear layer) lose more than the first conv.
    weights = [(m, "weight") for m in model.modules() if isinstance(m, (ember.nn.Conv2d, ember.nn.Linear))]
    fine_tuner = Trainer(model, ember.optim.Adam(model.parameters(), lr=5e-4), progress=False)

    def fine_tune(round_index, sparsity):
        pruned = fine_tuner.evaluate(test_loader)["accuracy"]
        fine_tuner.fit(train_loader, fine_tuner.epoch + args.fine_tune_epochs, log=lambda line: None)
        tuned = fine_tuner.evaluate(test_loader)["accuracy"]
        print(f"round {round_index + 1}: sparsity {sparsity:.1%}  accuracy after pruning {pruned:.4f}  "
              f"after fine-tuning {tuned:.4f}")
        return tuned

    targets = prune.polynomial_schedule(args.sparsity, args.rounds)
    final_accuracy = prune.iterative_prune(weights, targets, fine_tune)[-1]
    print("\n" + str(prune.sparsity_report(model)) + "\n")
    for module, name in weights:
        prune.remove(module, name)   # plain weights again: the checkpoint holds no masks
    example = next(iter(test_loader))[0][:64]
    print(format_reports({"float32 dense": model_report(dense, example),
                          f"pruned {args.sparsity:.0%}": model_report(model, example)}))
    print(f"\naccuracy: dense {dense_accuracy:.4f} -> {args.sparsity:.0%} sparse {final_accuracy:.4f} "
          f"({100 * (final_accuracy - dense_accuracy):+.2f} points)")


if __name__ == "__main__":
    main()
