"""ember.save / ember.load: safetensors checkpoints of nested structures, written atomically, and
refused (with the file's name) when truncated or damaged."""
import io
import json
import os
from collections import OrderedDict

import numpy as np
import pytest
import safetensors.numpy

import ember
from ember.serialization import CheckpointError

ALL_DTYPES = [ember.bool, ember.uint8, ember.int8, ember.int16, ember.int32, ember.int64, ember.float16,
              ember.float32, ember.float64]


def roundtrip(obj, tmp_path, **load_kwargs):
    path = tmp_path / "ckpt.safetensors"
    ember.save(obj, path)
    return ember.load(path, **load_kwargs)


def assert_same_tensor(a, b):
    assert type(a) is type(b)
    assert a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def model():
    layers = [ember.nn.Linear(5, 4), ember.nn.ReLU(), ember.nn.Linear(4, 3)]
    if hasattr(ember.nn, "BatchNorm1d"):  # running stats and an int64 0-d counter among the buffers
        layers.insert(1, ember.nn.BatchNorm1d(4))
    return ember.nn.Sequential(*layers)


def test_model_state_dict_roundtrip(tmp_path):
    ember.manual_seed(0)
    source, target = model(), model()
    state = source.state_dict()
    loaded = roundtrip(state, tmp_path)
    assert isinstance(loaded, OrderedDict) and list(loaded) == list(state)
    for key in state:
        assert_same_tensor(loaded[key], state[key])
    target.load_state_dict(loaded)
    x = ember.randn(6, 5)
    source.eval(), target.eval()
    np.testing.assert_array_equal(source(x).detach().numpy(), target(x).detach().numpy())


def test_optimizer_like_structure_roundtrip(tmp_path):
    # What an optimizer's state_dict looks like: int keys, per-group options of every JSON type, tuples.
    state = {"state": {0: {"step": ember.tensor(3.0), "exp_avg": ember.randn(4, 5)},
                       1: {"step": ember.tensor(3.0), "exp_avg": ember.randn(4)}},
             "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
                               "amsgrad": False, "maximize": False, "foreach": None, "params": [0, 1]}],
             "epoch": 7, "name": "adam", "history": [1.5, float("inf"), -0.0], "mixed": {(1, "a"): None, 2.5: True}}
    loaded = roundtrip(state, tmp_path)
    assert list(loaded["state"]) == [0, 1] and all(type(k) is int for k in loaded["state"])
    assert loaded["param_groups"] == state["param_groups"]
    assert type(loaded["param_groups"][0]["betas"]) is tuple
    assert type(loaded["param_groups"][0]["weight_decay"]) is int
    assert loaded["epoch"] == 7 and loaded["name"] == "adam" and loaded["history"] == [1.5, float("inf"), -0.0]
    assert np.copysign(1, loaded["history"][2]) == -1
    assert loaded["mixed"] == {(1, "a"): None, 2.5: True}
    for k in (0, 1):
        for name in ("step", "exp_avg"):
            assert_same_tensor(loaded["state"][k][name], state["state"][k][name])


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 0, 3), (2, 3, 4)], ids=str)
def test_dtypes_and_shapes(tmp_path, dtype, shape):
    rng = np.random.default_rng(0)
    array = np.asarray(rng.standard_normal(shape) * 50).astype(dtype.numpy)
    loaded = roundtrip({"t": ember.tensor(array), "a": array}, tmp_path)
    assert_same_tensor(loaded["t"], ember.tensor(array))
    assert isinstance(loaded["a"], np.ndarray) and loaded["a"].dtype == array.dtype
    np.testing.assert_array_equal(loaded["a"], array)


def test_tensor_kinds_and_values(tmp_path):
    weight = ember.nn.Parameter(ember.randn(3, 2))
    frozen = ember.nn.Parameter(ember.randn(2), requires_grad=False)
    leaf = ember.randn(4, requires_grad=True)
    base = ember.arange(12.0).reshape(3, 4)
    obj = {"w": weight, "frozen": frozen, "leaf": leaf, "transposed": base.t(), "again": weight,
           "np_scalar": np.float32(2.5), "np_int": np.int64(-3), "dtype": ember.float16,
           "device": ember.device("cpu"), "nested": [[base, (1, [2, {"x": base}])]]}
    loaded = roundtrip(obj, tmp_path)
    assert isinstance(loaded["w"], ember.nn.Parameter) and loaded["w"].requires_grad
    assert isinstance(loaded["frozen"], ember.nn.Parameter) and not loaded["frozen"].requires_grad
    assert_same_tensor(loaded["leaf"], leaf)
    assert loaded["leaf"].is_leaf
    assert_same_tensor(loaded["transposed"], base.t().contiguous())
    assert loaded["again"] is loaded["w"]  # one tensor referenced twice stays one tensor
    assert loaded["nested"][0][0] is loaded["nested"][0][1][1][1]["x"]
    assert type(loaded["np_scalar"]) is np.float32 and loaded["np_scalar"] == 2.5
    assert type(loaded["np_int"]) is np.int64 and loaded["np_int"] == -3
    assert loaded["dtype"] is ember.float16 and loaded["device"] == ember.device("cpu")
    # Loaded tensors own writable memory, so optimizers can update them in place.
    loaded["w"]._data += 1


def test_file_objects_and_map_location(tmp_path):
    buffer = io.BytesIO()
    ember.save({"a": ember.ones(2, 2)}, buffer)
    buffer.seek(0)
    loaded = ember.load(buffer, map_location="cpu")
    assert_same_tensor(loaded["a"], ember.ones(2, 2))
    loaded = roundtrip([ember.zeros(3)], tmp_path, map_location=ember.device("cpu"))
    assert loaded[0].device == ember.device("cpu")


def test_file_is_standard_safetensors(tmp_path):
    path = tmp_path / "m.safetensors"
    ember.save({"w": ember.arange(6.0).reshape(2, 3), "i": ember.tensor([1, 2])}, path)
    arrays = safetensors.numpy.load_file(str(path))
    assert sorted(arrays) == ["0", "1"]
    assert {a.dtype for a in arrays.values()} == {np.dtype(np.float32), np.dtype(np.int64)}
    size = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(path.read_bytes()[8:8 + size])
    assert header["__metadata__"]["format"] == "ember"
    torch_safetensors = pytest.importorskip("safetensors.torch")
    tensors = torch_safetensors.load_file(str(path))
    np.testing.assert_array_equal(tensors["0"].numpy(), np.arange(6.0, dtype=np.float32).reshape(2, 3))


def test_plain_safetensors_file_loads_by_name(tmp_path):
    path = tmp_path / "other.safetensors"
    safetensors.numpy.save_file({"b": np.ones(2, np.float16), "a": np.arange(3)}, str(path),
                                metadata={"format": "pt"})
    loaded = ember.load(path)
    assert list(loaded) == ["a", "b"]
    assert_same_tensor(loaded["b"], ember.ones(2, dtype=ember.float16))


def test_unsupported_objects_are_refused(tmp_path):
    with pytest.raises(TypeError, match=r"can't save obj\['a'\]\[1\] of type object"):
        ember.save({"a": [1, object()]}, tmp_path / "x")
    with pytest.raises(TypeError, match=r"dict key .* of type frozenset"):
        ember.save({frozenset(): 1}, tmp_path / "x")
    assert os.listdir(tmp_path) == []


def test_checkpoints_can_resume_training(tmp_path):
    if not hasattr(ember.optim, "Adam"):
        pytest.skip("ember.optim.Adam is not there yet")
    ember.manual_seed(1)
    x, y = ember.randn(16, 5), ember.randn(16, 3)

    def step(net, opt):
        opt.zero_grad()
        ((net(x) - y) ** 2).mean().backward()
        opt.step()

    net = ember.nn.Sequential(ember.nn.Linear(5, 4), ember.nn.Tanh(), ember.nn.Linear(4, 3))
    opt = ember.optim.Adam(net.parameters(), lr=0.01, betas=(0.8, 0.99))
    for _ in range(3):
        step(net, opt)
    ember.save({"model": net.state_dict(), "optim": opt.state_dict(), "epoch": 3}, tmp_path / "c.safetensors")
    for _ in range(2):
        step(net, opt)
    resumed = ember.nn.Sequential(ember.nn.Linear(5, 4), ember.nn.Tanh(), ember.nn.Linear(4, 3))
    resumed_opt = ember.optim.Adam(resumed.parameters(), lr=0.5)
    checkpoint = ember.load(tmp_path / "c.safetensors")
    resumed.load_state_dict(checkpoint["model"])
    resumed_opt.load_state_dict(checkpoint["optim"])
    assert checkpoint["epoch"] == 3 and resumed_opt.param_groups[0]["betas"] == (0.8, 0.99)
    for _ in range(2):
        step(resumed, resumed_opt)
    for a, b in zip(net.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


# ---- atomic writes --------------------------------------------------------------------------------

def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "c.safetensors"
    ember.save({"v": ember.ones(3)}, path)
    before = path.read_bytes()
    for name in ("replace", "fsync"):
        with monkeypatch.context() as m:
            def fail(*args, **kwargs):
                raise OSError("disk on fire")
            m.setattr(os, name, fail)
            with pytest.raises(OSError, match="disk on fire"):
                ember.save({"v": ember.zeros(1000)}, path)
        assert path.read_bytes() == before
        assert os.listdir(tmp_path) == ["c.safetensors"]  # no temporary file left behind
    assert_same_tensor(ember.load(path)["v"], ember.ones(3))


def test_save_replaces_and_respects_umask(tmp_path):
    path = tmp_path / "c.safetensors"
    ember.save({"v": ember.ones(3)}, path)
    ember.save({"v": ember.zeros(2)}, str(path))
    assert_same_tensor(ember.load(str(path))["v"], ember.zeros(2))
    umask = os.umask(0o022)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


# ---- damaged files ---------------------------------------------------------------------------------

def small_checkpoint(tmp_path):
    path = tmp_path / "small.safetensors"
    ember.save({"w": ember.tensor([[1.0, 2.0], [3.0, 4.0]]), "step": 5, "ids": ember.tensor([7, 8], dtype=ember.int8),
                "opts": {0: (0.9, None)}}, path)
    return path, path.read_bytes()


def test_truncated_files_are_refused(tmp_path):
    path, data = small_checkpoint(tmp_path)
    header_size = int.from_bytes(data[:8], "little")
    for length in sorted({0, 3, 8, 9, 8 + header_size // 2, 8 + header_size, len(data) - 1}):
        path.write_bytes(data[:length])
        with pytest.raises(CheckpointError, match=r"small\.safetensors.*(truncated|corrupt)"):
            ember.load(path)
    path.write_bytes(data + b"\0")  # trailing garbage
    with pytest.raises(CheckpointError, match="small.safetensors"):
        ember.load(path)


def test_a_bit_flip_anywhere_is_refused(tmp_path):
    # Every byte of the file (size field, header JSON, metadata, tensor data), a different bit each.
    path, data = small_checkpoint(tmp_path)
    assert ember.load(path)["step"] == 5
    for position in range(len(data)):
        damaged = bytearray(data)
        damaged[position] ^= 1 << (position % 8)
        path.write_bytes(bytes(damaged))
        with pytest.raises(CheckpointError, match="small.safetensors"):
            ember.load(path)


def test_flipped_data_byte_names_the_checksum(tmp_path):
    path, data = small_checkpoint(tmp_path)
    damaged = bytearray(data)
    damaged[-1] ^= 0x10
    path.write_bytes(bytes(damaged))
    with pytest.raises(CheckpointError, match="checksum"):
        ember.load(path)
