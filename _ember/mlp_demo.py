"""The main job for now: a two-layer MLP on scikit-learn's 8x8 digits, built from engine ops only.

Every parameter is a plain leaf tensor and the update is written out, so the whole of backprop is
in view: forward builds the graph, ``loss.backward()`` fills ``.grad``, SGD steps under ``no_grad``.
"""
import math
import time

import numpy as np

import ember
import ember.nn.functional as F

from .datasets import load_digits


def init_mlp(sizes, generator):
    """Weights (out, in) and biases (out,) drawn like PyTorch's Linear: U(-1/sqrt(in), 1/sqrt(in))."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        w = (ember.rand(fan_out, fan_in, generator=generator) * 2 - 1) * bound
        b = (ember.rand(fan_out, generator=generator) * 2 - 1) * bound
        params += [w.requires_grad_(), b.requires_grad_()]
    return params


def forward(params, x):
    """Logits (N, classes) for inputs (N, features): Linear -> ReLU -> ... -> Linear."""
    *hidden, w_out, b_out = params
    for w, b in zip(hidden[::2], hidden[1::2]):
        x = F.relu(F.linear(x, w, b))
    return F.linear(x, w_out, b_out)


def accuracy(params, x, y):
    with ember.no_grad():
        return float((forward(params, x).argmax(dim=1) == y).float().mean().item())


def train(epochs=30, hidden=64, lr=0.1, momentum=0.9, batch_size=64, seed=0, log=print):
    """Train the MLP with SGD + momentum; returns the final test accuracy."""
    x_train, y_train, x_test, y_test = (ember.from_numpy(a) for a in load_digits(seed=seed))
    generator = ember.Generator().manual_seed(seed)
    params = init_mlp([x_train.shape[1], hidden, hidden, 10], generator)
    velocity = [ember.zeros_like(p) for p in params]
    order_rng = np.random.default_rng(seed)
    log(f"digits: {len(x_train)} train / {len(x_test)} test images of 8x8 pixels; "
        f"MLP 64-{hidden}-{hidden}-10 ({sum(p.numel() for p in params)} parameters)")
    for epoch in range(1, epochs + 1):
        start, total, batches = time.perf_counter(), 0.0, 0
        order = order_rng.permutation(len(x_train))
        for i in range(0, len(order), batch_size):
            index = ember.from_numpy(order[i:i + batch_size])
            loss = F.cross_entropy(forward(params, x_train[index]), y_train[index])
            for p in params:
                p.grad = None
            loss.backward()
            with ember.no_grad():
                for p, v in zip(params, velocity):
                    v.mul_(momentum).add_(p.grad)
                    p.sub_(v * lr)
            total += loss.item()
            batches += 1
        if epoch == 1 or epoch % 5 == 0 or epoch == epochs:
            log(f"epoch {epoch:3d}  loss {total / batches:.4f}  test accuracy "
                f"{accuracy(params, x_test, y_test):.3f}  ({time.perf_counter() - start:.2f} s)")
    return accuracy(params, x_test, y_test)
