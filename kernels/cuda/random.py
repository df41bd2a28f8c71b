"""Uniform random numbers on the GPU from a counter-based hash, for the cuda generators' ``random``
(dropout, bernoulli, rand). The seed and a running counter are 0-d device arrays, and each draw
advances the counter on the device: a CUDA-graph replay of a draw then gives new numbers, where CuPy's
generators, whose state CuPy advances from the host, would repeat the captured ones.

Element i of a draw is SplitMix64 (Steele, Lea and Flood, 2014) of ``seed + (counter + i + 1) * gamma``,
its top 53 bits (24 for float32) scaled to [0, 1): a draw of n numbers takes counter values
counter .. counter + n - 1, so consecutive draws never overlap.
"""
import functools

from . import runtime

_OPERATION = """
    unsigned long long z = seed + (counter + (unsigned long long)i + 1ULL) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z = z ^ (z >> 31);
    // as many bits as T's mantissa holds, so that rounding never reaches 1
    out = sizeof(T) == 4 ? T((z >> 40) * (1.0 / 16777216.0)) : T((z >> 11) * (1.0 / 9007199254740992.0));"""


@functools.cache
def _kernel():
    return runtime.cupy().ElementwiseKernel("uint64 seed, uint64 counter", "T out", _OPERATION,
                                            "ember_counter_uniform")


def counter_uniform(shape, dtype, seed, counter):
    """An array of ``shape`` and ``dtype`` (float32 or float64) of uniform numbers in [0, 1), drawn from
    ``seed`` and ``counter`` (0-d uint64 device arrays); ``counter`` then advances, on the device, by
    the number of elements."""
    cp = runtime.cupy()
    out = cp.empty(shape, dtype)
    if out.size:
        _kernel()(seed, counter, out)
        counter += out.size
    return out
