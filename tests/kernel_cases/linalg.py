from kernel_check import KernelCase


def _sizes(rng):
    """M, K, N: odd sizes from 1 to past two 64-wide tiles (ragged edges), K past several 16-deep steps.
    Kept small enough that float32 rounding stays well inside the default tolerance."""
    return [int(rng.choice([1, 7, 16, 33, 64, 65, 130])) if rng.random() < 0.5 else int(rng.integers(1, 140))
            for _ in range(3)]


def _operands(rng, dtype, batch_a, batch_b, k=None):
    m, k_drawn, n = _sizes(rng)
    k = k_drawn if k is None else k
    return (rng.uniform(-1, 1, batch_a + (m, k)).astype(dtype),
            rng.uniform(-1, 1, batch_b + (k, n)).astype(dtype))


def _batched(rng, dtype):
    batch = (int(rng.integers(1, 5)),)
    return _operands(rng, dtype, batch, batch)


CASES = [
    KernelCase("matmul", lambda rng, dtype: _operands(rng, dtype, (), ()), "2d"),
    KernelCase("matmul", _batched, "batched"),
    # one matrix for the whole batch, on either side (a Linear layer's weight is the right one)
    KernelCase("matmul", lambda rng, dtype: _operands(rng, dtype, (int(rng.integers(2, 5)),), ()), "shared-right"),
    KernelCase("matmul", lambda rng, dtype: _operands(rng, dtype, (), (int(rng.integers(2, 5)),)), "shared-left"),
    KernelCase("matmul", lambda rng, dtype: _operands(rng, dtype, (2, 1), (3,)), "broadcast-batch"),
    KernelCase("matmul", lambda rng, dtype: _operands(rng, dtype, (), (), k=0), "empty-inner"),
]
