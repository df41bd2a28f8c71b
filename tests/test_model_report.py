"""ember.compress.report: parameter counts, checkpoint size, FLOPs (against the hand formula and
PyTorch's FlopCounterMode on the same architecture) and the table of reports."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import ember
from ember.compress import ModelReport, format_reports, model_report, prune
from ember.compress.report import count_flops


def image_layers(nn):
    """Conv (strided, grouped), transposed conv and linear layers; (N, 4, 9, 9) -> (N, 5)."""
    return nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), nn.ReLU(),
                         nn.ConvTranspose2d(6, 3, 2, stride=2), nn.Flatten(), nn.Linear(3 * 10 * 10, 5))


def hand_flops_per_sample():
    conv = (6 * 5 * 5) * (4 // 2) * 3 * 3       # output elements x (in/groups) x kernel
    transposed = (6 * 5 * 5) * 3 * 2 * 2        # input elements x out x kernel
    linear = 300 * 5
    return 2 * (conv + transposed + linear)


def test_flops_per_sample_match_the_hand_formula_and_pytorch():
    ember.manual_seed(0)
    model = image_layers(ember.nn)
    flops = count_flops(model, ember.randn(3, 4, 9, 9))
    assert flops == hand_flops_per_sample()
    with FlopCounterMode(display=False) as counter:
        image_layers(torch.nn)(torch.randn(3, 4, 9, 9))
    assert flops == counter.get_total_flops() // 3


def test_linear_on_a_sequence_counts_every_position():
    model = ember.nn.Sequential(ember.nn.Linear(8, 16), ember.nn.Tanh(), ember.nn.Linear(16, 2))
    # (N=4, L=7, 8): 7 positions per sample, each 8x16 + 16x2 multiply-adds
    assert count_flops(model, ember.randn(4, 7, 8)) == 2 * 7 * (8 * 16 + 16 * 2)


def test_an_unbatched_input_counts_as_one_sample():
    ember.manual_seed(0)
    convs = ember.nn.Sequential(ember.nn.Conv2d(4, 6, 3, stride=2, groups=2), ember.nn.ReLU(),
                                ember.nn.Conv2d(6, 2, 3))
    assert count_flops(convs, ember.randn(4, 9, 9)) == count_flops(convs, ember.randn(1, 4, 9, 9)) > 0
    linears = ember.nn.Sequential(ember.nn.Linear(8, 16), ember.nn.Tanh(), ember.nn.Linear(16, 2))
    assert count_flops(linears, ember.randn(8)) == count_flops(linears, ember.randn(5, 8)) == 2 * (8 * 16 + 16 * 2)


def test_a_module_with_layer_attributes_counts_as_a_layer():
    """What a quantized layer relies on: only the attributes matter, not the class."""
    class CustomLinear(ember.nn.Module):
        def __init__(self):
            super().__init__()
            self.in_features, self.out_features = 6, 3
            self.register_buffer("weight", ember.randn(3, 6))

        def forward(self, x):
            return x @ self.weight.T

    model = CustomLinear()
    report = model_report(model, ember.randn(2, 6), repeats=1)
    assert report.flops_per_sample == 2 * 6 * 3
    assert report.parameters == 18   # a weight kept as a buffer named "weight" counts


def test_parameters_nonzero_and_size_on_disk(tmp_path):
    ember.manual_seed(0)
    model = image_layers(ember.nn)
    with ember.no_grad():
        model[0].weight[0].zero_()   # 1 x 2 x 3 x 3 = 18 zeros
    report = model_report(model, ember.randn(2, 4, 9, 9), repeats=2)
    expected = sum(p.numel() for p in model.parameters())
    assert report.parameters == expected
    assert report.nonzero == expected - 18
    path = tmp_path / "model.safetensors"
    ember.save(model.state_dict(), path)
    assert report.size_bytes == path.stat().st_size
    assert report.latency_ms > 0


def test_pruned_weights_count_as_zeros_and_as_one_parameter():
    ember.manual_seed(0)
    model = image_layers(ember.nn)
    linear = model[4]
    prune.l1_unstructured(linear, "weight", amount=0.5)   # weight_orig + weight_mask: counted once
    report = model_report(model, ember.randn(2, 4, 9, 9), repeats=1)
    assert report.parameters == sum(p.numel() for p in model.parameters())
    assert report.nonzero == report.parameters - linear.weight.numel() // 2


def test_report_restores_training_mode_and_leaves_no_hooks():
    model = image_layers(ember.nn)
    model_report(model, ember.randn(1, 4, 9, 9), repeats=1)
    assert model.training and all(m.training for m in model.modules())
    assert not any(m._forward_hooks for m in model.modules())
    model.eval()
    model_report(model, ember.randn(1, 4, 9, 9), repeats=1)
    assert not model.training


def test_format_reports_is_an_aligned_table_with_every_figure():
    reports = {"float32": ModelReport(61706, 61706, 248336, 833040, 1.5),
               "pruned 90%": ModelReport(61706, 6171, 248336, 833040, 1.25)}
    table = format_reports(reports).splitlines()
    assert len(table) == 4 and len({len(line) for line in table}) == 1
    assert table[2].startswith("float32") and table[3].startswith("pruned 90%")
    assert "61,706" in table[2] and "6,171 (10.0%)" in table[3] and "242.5 KiB" in table[3]
    assert "0.833" in table[2] and "1.25" in table[3]


def test_bad_repeats_is_refused():
    with pytest.raises(ValueError, match="model_report: repeats"):
        model_report(ember.nn.Linear(2, 2), ember.randn(1, 2), repeats=0)
