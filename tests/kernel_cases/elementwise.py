from kernel_check import KernelCase


def _erf(rng, dtype):
    shape = tuple(rng.integers(1, 9, size=rng.integers(1, 4)))
    if rng.random() < 0.3:
        shape = ((1 << 16) + int(rng.integers(1, 99)),)  # big enough for the OpenMP path
    return (rng.standard_normal(shape).astype(dtype) * 2,)


CASES = [KernelCase("erf", _erf)]
