from kernel_check import KernelCase


def _embedding_backward(rng, dtype):
    """Few rows (many repeats) or many; narrow or wide rows (the threads split the columns); big
    enough for the OpenMP path sometimes; with or without a padding row."""
    rows = int(rng.integers(1, 12)) if rng.random() < 0.5 else int(rng.integers(100, 3000))
    width = int(rng.choice([1, 3, 17, 33, 64, 129]))
    n = int(rng.integers(0, 50)) if rng.random() < 0.6 else int(rng.integers(1000, 3000))
    indices = rng.integers(0, rows, n)
    padding_idx = -1 if rng.random() < 0.5 else int(rng.integers(0, rows))
    return rng.standard_normal((n, width)).astype(dtype), indices, rows, padding_idx


CASES = [KernelCase("embedding_backward", _embedding_backward)]
