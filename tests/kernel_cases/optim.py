"""Optimizer steps: every option of SGD and Adam, on parameters of random shapes (the big ones take
the OpenMP path)."""
import itertools

from kernel_check import KernelCase


def _shape(rng):
    return (int(rng.integers(1, 40)), int(rng.integers(1, 40))) if rng.random() < 0.7 else (70001,)


def _sgd(momentum, dampening, weight_decay, nesterov, maximize, first):
    def make(rng, dtype):
        shape = _shape(rng)
        param, grad, buffer = (rng.standard_normal(shape).astype(dtype) for _ in range(3))
        return (param, grad, buffer if momentum else None, 0.05, momentum, dampening, weight_decay, nesterov,
                maximize, first)
    return KernelCase("sgd_step", make, f"m{momentum}-d{dampening}-wd{weight_decay}-n{int(nesterov)}-"
                      f"max{int(maximize)}-first{int(first)}", inplace=(0, 2))


def _adam(amsgrad, weight_decay, decoupled, maximize, beta1):
    def make(rng, dtype):
        shape = _shape(rng)
        param, grad, exp_avg = (rng.standard_normal(shape).astype(dtype) for _ in range(3))
        exp_avg_sq = rng.random(shape).astype(dtype)
        max_sq = exp_avg_sq + rng.random(shape).astype(dtype) * (rng.random(shape) < 0.5) if amsgrad else None
        return (param, grad, exp_avg, exp_avg_sq, max_sq, 1e-2, beta1, 0.999, 1e-8, weight_decay, decoupled,
                maximize, int(rng.integers(1, 50)))
    return KernelCase("adam_step", make, f"ams{int(amsgrad)}-wd{weight_decay}-dec{int(decoupled)}-"
                      f"max{int(maximize)}-b{beta1}", inplace=(0, 2, 3, 4))


CASES = [_sgd(0.0, 0.0, 0.0, False, False, False), _sgd(0.0, 0.0, 0.01, False, True, False)]
CASES += [_sgd(0.9, d, wd, n, False, first) for d, wd, n, first in itertools.product((0.0, 0.1), (0.0, 0.01),
                                                                                      (False, True), (False, True))
          if not (n and d)]
CASES += [_adam(ams, wd, dec, mx, b1) for ams, (wd, dec), mx, b1 in itertools.product(
    (False, True), ((0.0, False), (0.01, False), (0.01, True)), (False, True), (0.9, 0.3))]
