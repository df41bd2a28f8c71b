"""Every public op has at least one OpCase (checked against PyTorch and gradcheck) in a family test
module. A new op without a case fails here."""
import importlib

import ember

FAMILY_TEST_MODULES = ["test_elementwise", "test_comparison", "test_activations", "test_reduction",
                       "test_linalg", "test_shape", "test_indexing", "test_nn_ops", "test_losses",
                       "test_conv", "test_pooling", "test_normalization", "test_attention"]

# Public names that are not ops with a PyTorch twin to compare against.
NOT_OPS = {
    "sum_to_size": "the engine's broadcasting gradient; tested in test_broadcast_properties",
}


def covered_names():
    names = set()
    for module_name in FAMILY_TEST_MODULES:
        module = importlib.import_module(module_name)
        names.update(case.name for case in module.CASES)
    return names


def test_every_public_op_has_a_case():
    public = set(ember.functional.__all__) - set(NOT_OPS)
    missing = sorted(public - covered_names())
    assert not missing, f"ops without an OpCase: {missing}"
