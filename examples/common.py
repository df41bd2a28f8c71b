"""What the examples share: Fashion-MNIST loaders and LeNet training as ``ember train lenet --dataset
fashion-mnist`` does them (batch 64, Adam at 3e-3 with a one-cycle schedule), and test accuracy."""
import ember
from ember import recipes
from ember.training import Trainer


def fashion_mnist_loaders(limit=None, batch_size=64, seed=0):
    """(train loader, test loader); ``limit``: the first N training samples only."""
    recipe = recipes.recipe("fashion-mnist")
    return recipes.loaders(recipe, recipe.load(True), recipe.load(False), batch_size=batch_size, seed=seed,
                           limit=limit)


def one_cycle_trainer(model, train_loader, epochs, lr=3e-3, trainer=Trainer, **options):
    """A ``trainer`` (Trainer or a subclass, given ``options``) with Adam and a one-cycle schedule over
    ``epochs`` epochs of ``train_loader``."""
    optimizer = ember.optim.Adam(model.parameters(), lr=lr)
    schedule = ember.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * len(train_loader))
    return trainer(model, optimizer=optimizer, scheduler=schedule, step_scheduler_per_batch=True, progress=False,
                   **options)


def accuracy(model, loader):
    """Test accuracy of ``model`` (float or int8) over ``loader``."""
    return Trainer(model, None, progress=False).evaluate(loader)["accuracy"]


def example_parser(doc, epochs):
    """The examples' command line: ``--quick`` (2,000 training samples, 1 epoch) and ``--epochs``."""
    import argparse
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run: 2,000 samples, 1 epoch")
    parser.add_argument("--epochs", type=int, default=epochs, help="training epochs")
    return parser


def run_size(args):
    """(training-sample limit or None, epochs) of parsed ``example_parser`` arguments."""
    return (2000, 1) if args.quick else (None, args.epochs)
