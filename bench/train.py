"""Training throughput (samples/s) of zoo models, ember against PyTorch CPU in the same run: the
same architecture (built by the zoo's builders from ``ember.nn`` and from ``torch.nn``), the same
batch, SGD with momentum, forward + backward + step.

    python -m ember.bench.train                 # all models
    python -m ember.bench.train --models lenet --steps 20
"""
import argparse
import json
import sys
import time

import numpy as np

import ember
from ember.models.cnn import cifar_cnn_layers, lenet_layers
from ember.models.mlp import mlp_layers
from ember.models.sequence import char_rnn_forward, char_rnn_modules

VOCAB, SEQUENCE = 80, 64


def _image_batch(shape, classes=10):
    rng = np.random.default_rng(0)
    return rng.standard_normal(shape).astype(np.float32), rng.integers(0, classes, shape[0])


def _text_batch(batch):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, VOCAB, (batch, SEQUENCE + 1))
    return ids[:, :-1], ids[:, 1:]


def _char_model(lib):
    class CharRNN(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding, self.rnn, self.head = char_rnn_modules(lib.nn, VOCAB, 64, 256, 1, 0.0)

        forward = char_rnn_forward
    return CharRNN()


# name -> (build(lib) -> model, batch size, make batch (batch size) -> (inputs, targets), is sequence)
MODELS = {
    "mlp": (lambda lib: mlp_layers(lib.nn), 128, lambda b: _image_batch((b, 1, 28, 28)), False),
    "lenet": (lambda lib: lenet_layers(lib.nn), 64, lambda b: _image_batch((b, 1, 28, 28)), False),
    "cifar-cnn": (lambda lib: cifar_cnn_layers(lib.nn), 32, lambda b: _image_batch((b, 3, 32, 32)), False),
    "char-lstm": (_char_model, 32, _text_batch, True),
}


def samples_per_second(lib, name, steps, warmup=2):
    build, batch, make, sequence = MODELS[name]
    lib.manual_seed(0)
    model = build(lib)
    optimizer = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    inputs, targets = make(batch)
    x = lib.tensor(inputs) if not sequence else lib.tensor(inputs, dtype=lib.int64)
    y = lib.tensor(targets, dtype=lib.int64)

    def step():
        out = model(x)
        logits = out[0] if sequence else out
        loss = lib.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m ember.bench.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--output", default=None, help="JSON file for the results")
    args = parser.parse_args(argv)
    import torch
    rows = []
    print(f"training throughput, samples/s (batch of each model; {torch.get_num_threads()} torch threads)")
    print(f"{'model':<12}{'ember':>10}{'torch':>10}{'ember/torch':>13}")
    for name in args.models.split(","):
        e, t = samples_per_second(ember, name, args.steps), samples_per_second(torch, name, args.steps)
        rows.append(dict(model=name, batch=MODELS[name][1], ember_samples_per_s=e, torch_samples_per_s=t,
                         ratio=e / t))
        print(f"{name:<12}{e:>10.0f}{t:>10.0f}{e / t:>13.2f}")
    if args.output:
        with open(args.output, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
