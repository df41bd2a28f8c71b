"""An ensemble of LeNets on Fashion-MNIST: three models trained independently (different seeds:
different initial weights and batch orders) are combined by ``ember.nn.Ensemble``, which beats
the best of them in each mode.

    python examples/ensemble_lenet.py            # full data, 3 models x 3 epochs
    python examples/ensemble_lenet.py --quick    # 1,000 training images, seconds
"""
import argparse

import ember
from ember import recipes
from ember.models import LeNet5
from ember.nn.ensemble import MODES, Ensemble
from ember.training import Trainer


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small subset and one epoch (a smoke test)")
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    limit, epochs = (1000, 1) if args.quick else (None, args.epochs)
    recipe = recipes.recipe("fashion-mnist")
    _, lr, batch_size = recipes.DEFAULTS["lenet"]

    members = []
    for seed in range(args.members):
        train_loader, test_loader = recipes.loaders(recipe, recipe.load(True), recipe.load(False), batch_size,
                                                    seed, limit)
        ember.manual_seed(seed)
        model = LeNet5()
        Trainer(model, ember.optim.Adam(model.parameters(), lr=lr), progress=False).fit(
            train_loader, epochs, log=lambda line: None)
        members.append(model)

    def accuracy(model):
        return Trainer(model, None, progress=False).evaluate(test_loader)["accuracy"]

    print(f"LeNet x {args.members} on Fashion-MNIST, {epochs} epochs each, "
          f"{len(test_loader.dataset):,} test images\n{'model':<19}test accuracy")
    scores = [accuracy(model) for model in members]
    for seed, score in enumerate(scores):
        print(f"{f'member (seed {seed})':<19}{score:.4f}")
    best = max(scores)
    for mode in MODES:
        score = accuracy(Ensemble(members, mode=mode))
        print(f"{f'ensemble ({mode})':<19}{score:.4f}  ({100 * (score - best):+.2f} points vs the best member)")


if __name__ == "__main__":
    main()
