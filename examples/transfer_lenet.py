"""Transfer learning with LeNet on Fashion-MNIST: features learnt on five kinds of clothing help
to learn five others from few labelled images.

1. Pretrain LeNet on classes 0-4 (T-shirt, Trouser, Pullover, Dress, Coat: 30,000 images) and
   save a checkpoint.
2. Transfer: a new LeNet loads the checkpoint by matching names (``load_matching``), gets a fresh
   head (``replace_head``), freezes its two convolutions (``freeze``) and fine-tunes the rest on
   ``--train-images`` images (default 1,000) of classes 5-9 (Sandal, Shirt, Sneaker, Bag, Ankle
   boot).
3. Scratch: the same LeNet from random weights, trained on the same images as long.

Both use Adam with a cosine learning-rate decay over ``--epochs``. Prints both test accuracies
(the 5,000 test images of classes 5-9) after every epoch and the epoch at which transfer first
reaches the scratch model's final accuracy.

    python examples/transfer_lenet.py                      # ~30 s on 2 cores
    python examples/transfer_lenet.py --train-images 0     # all 30,000 images of classes 5-9
    python examples/transfer_lenet.py --quick              # a smoke test, seconds
"""
import argparse
import copy
import os
import tempfile

import numpy as np

import ember
from ember import recipes
from ember.models import LeNet5
from ember.nn.transfer import load_matching, replace_head
from ember.training import Trainer


def class_split(dataset, classes, count=None):
    """The first ``count`` (None: all) samples of ``dataset`` (a Fashion-MNIST split) whose label
    is in ``classes`` (sorted), relabelled 0..len(classes)-1."""
    subset = copy.copy(dataset)
    keep = np.isin(dataset.targets, classes)
    subset.data = dataset.data[keep][:count]
    subset.targets = np.searchsorted(classes, dataset.targets[keep])[:count]
    return subset


def class_loaders(classes, batch_size, seed, train_images=None, test_images=None):
    """Normalised loaders over the first ``train_images`` / ``test_images`` of ``classes``."""
    recipe = recipes.recipe("fashion-mnist")
    return recipes.loaders(recipe, class_split(recipe.load(True), classes, train_images),
                           class_split(recipe.load(False), classes, test_images), batch_size, seed)


def fit(model, optimizer, loaders, epochs):
    """Train with ember's Trainer and a cosine learning-rate decay; the test accuracy after each epoch."""
    scheduler = ember.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    trainer = Trainer(model, optimizer, scheduler, progress=False)
    history = trainer.fit(loaders[0], epochs, loaders[1], log=lambda line: None)
    return trainer, [record["val_accuracy"] for record in history]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small subset and few epochs (a smoke test)")
    parser.add_argument("--pretrain-epochs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=6, help="epochs on classes 5-9, for both models")
    parser.add_argument("--train-images", type=int, default=1000,
                        help="training images of classes 5-9 (0: all 30,000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    _, lr, batch_size = recipes.DEFAULTS["lenet"]
    if args.quick:
        pretrain_epochs, epochs, source_images, target_images, test_images = 1, 2, 1000, 500, 500
    else:
        pretrain_epochs, epochs, source_images, test_images = args.pretrain_epochs, args.epochs, None, None
        target_images = args.train_images or None
    source = class_loaders([0, 1, 2, 3, 4], batch_size, args.seed, source_images, test_images)
    target = class_loaders([5, 6, 7, 8, 9], batch_size, args.seed, target_images, test_images)

    ember.manual_seed(args.seed)
    pretrained = LeNet5(num_classes=5)
    trainer, accuracy = fit(pretrained, ember.optim.Adam(pretrained.parameters(), lr=lr), source, pretrain_epochs)
    print(f"pretrained on classes 0-4: test accuracy {accuracy[-1]:.4f} after {pretrain_epochs} epochs")
    ember.manual_seed(args.seed + 1)
    model = LeNet5(num_classes=5)
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = trainer.save_checkpoint(os.path.join(folder, "pretrained.safetensors"))
        report = load_matching(model, checkpoint)
    print(f"loaded {len(report.loaded_keys)} of {len(model.state_dict())} tensors from the checkpoint")
    replace_head(model, 5)
    model.freeze("layers.0", "layers.3")  # the two convolutions
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"transfer: convolutions frozen, new head; {trainable:,} of "
          f"{sum(p.numel() for p in model.parameters()):,} parameters trained on "
          f"{len(target[0].dataset):,} images of classes 5-9")
    _, transfer = fit(model, ember.optim.Adam(model.parameters(), lr=lr), target, epochs)

    ember.manual_seed(args.seed + 1)
    model = LeNet5(num_classes=5)
    _, scratch = fit(model, ember.optim.Adam(model.parameters(), lr=lr), target, epochs)

    print("\ntest accuracy on classes 5-9\nepoch  transfer  scratch")
    for epoch, (a, b) in enumerate(zip(transfer, scratch), 1):
        print(f"{epoch:5d}  {a:8.4f}  {b:7.4f}")
    reached = next((epoch for epoch, a in enumerate(transfer, 1) if a >= scratch[-1]), None)
    if reached is None:
        print(f"transfer did not reach scratch's final accuracy {scratch[-1]:.4f} in {epochs} epochs")
    else:
        print(f"transfer reaches scratch's final accuracy ({scratch[-1]:.4f} after {epochs} epochs) "
              f"at epoch {reached}")


if __name__ == "__main__":
    main()
