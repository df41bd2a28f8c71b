"""ember.distributed: collectives, DistributedDataParallel and DistributedSampler.

The multi-process tests launch ``mpiexec -n N python -m mpi4py tests/distributed/<script>`` (each with a
timeout) and check its exit status and output; they skip without mpi4py or mpiexec. The sampler and the
errors before ``init_process_group`` are tested in this process.
"""
import os
import shutil
import subprocess
import sys
import time

import pytest

import ember
import ember.distributed as dist
from ember.data import DataLoader, TensorDataset

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "distributed")


def _mpiexec():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        pytest.skip("mpi4py is not installed (pip install 'ember[distributed]')")
    found = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if found is None:
        pytest.skip("mpiexec is not on PATH (pip install mpich)")
    return found


def launch(ranks, script, *args, timeout=60):
    """Run ``script`` on ``ranks`` processes; returns (exit status, stdout + stderr, seconds)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    command = [_mpiexec(), "-n", str(ranks), sys.executable, "-m", "mpi4py", os.path.join(SCRIPTS, script), *args]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    return result.returncode, result.stdout + result.stderr, time.perf_counter() - start


@pytest.mark.parametrize("ranks", [2, 3])
def test_collectives(ranks):
    status, output, _ = launch(ranks, "collectives.py")
    assert status == 0 and "ok" in output, output


@pytest.mark.parametrize("ranks", [2, 3])
def test_ddp_matches_one_process_and_ranks_agree(ranks):
    """SGD with momentum, Adam, and SGD with no_sync accumulation, K=3 steps, on an MLP, a small conv
    net and one with BatchNorm (SyncBatchNorm on the ranks): N ranks on a DistributedSampler split equal one process on the full batch (float32 tolerance)
    and have bitwise identical parameters."""
    status, output, _ = launch(ranks, "train.py", "mlp,conv,bn")
    assert status == 0, output
    for model in ("mlp", "conv", "bn"):
        for case in ("sgd", "adam") + (() if model == "bn" else ("sgd+no_sync",)):
            assert f"ok {model} {case}" in output, output


@pytest.mark.parametrize("ranks, script", [
    (3, "unused.py"),        # rank 0's loss uses one head, rank 1's the other, rank 2's no parameter
    (2, "syncbn_half.py"),   # SyncBatchNorm on float16 inputs whose global sums overflow float16
    (2, "forward_only.py"),  # a forward with gradients enabled and no backward after it
    (3, "metrics.py"),       # the Trainer's epoch metrics cover every rank's samples
])
def test_distributed_script_passes(ranks, script):
    """Each script checks its case on every rank (see its docstring); rank 0 prints "ok"."""
    status, output, _ = launch(ranks, script)
    assert status == 0 and "ok" in output, output


def test_a_failing_rank_ends_the_job():
    status, output, seconds = launch(2, "fail.py", timeout=30)
    assert status != 0, output
    assert "rank 1 fails on purpose" in output, output
    assert seconds < 10, f"the job took {seconds:.1f} s to end"


def test_mismatched_model_and_world_size_are_refused():
    status, output, _ = launch(3, "mismatch.py")
    assert status == 0 and "ok DistributedDataParallel: the model differs across ranks" in output, output


def test_nccl_without_gpu_is_refused_clearly_or_works():
    status, output, _ = launch(1, "gpu.py", "nccl")
    assert status == 0 and ("no-gpu:" in output or "ok" in output), output


def test_collectives_before_init_say_so():
    assert not dist.is_initialized()
    for call in (lambda: dist.all_reduce(ember.ones(2)), lambda: dist.broadcast(ember.ones(2), 0),
                 dist.get_rank, dist.get_world_size, dist.barrier,
                 lambda: dist.DistributedDataParallel(ember.nn.Linear(2, 2))):
        with pytest.raises(RuntimeError, match="init_process_group"):
            call()


def test_importing_ember_does_not_import_mpi4py():
    code = "import sys, ember, ember.distributed; assert 'mpi4py' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def _shards(n, replicas, **kwargs):
    return [dist.DistributedSampler(range(n), num_replicas=replicas, rank=r, **kwargs).index_array().tolist()
            for r in range(replicas)]


@pytest.mark.parametrize("n", [10, 11, 12])
@pytest.mark.parametrize("replicas", [2, 3, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_matches_torch_without_shuffle(n, replicas, drop_last):
    torch_data = pytest.importorskip("torch.utils.data.distributed")
    expected = [list(torch_data.DistributedSampler(range(n), num_replicas=replicas, rank=r, shuffle=False,
                                                   drop_last=drop_last)) for r in range(replicas)]
    assert _shards(n, replicas, shuffle=False, drop_last=drop_last) == expected


@pytest.mark.parametrize("n, replicas", [(12, 3), (10, 4)])
def test_sampler_shuffles_per_epoch_and_covers_the_dataset(n, replicas):
    samplers = [dist.DistributedSampler(range(n), num_replicas=replicas, rank=r, seed=3) for r in range(replicas)]
    epoch0 = [s.index_array().tolist() for s in samplers]
    assert len({len(shard) for shard in epoch0}) == 1 and len(epoch0[0]) == len(samplers[0])
    assert set(sum(epoch0, [])) == set(range(n))  # padding only repeats indices
    assert epoch0 == [s.index_array().tolist() for s in samplers]  # same epoch, same order
    for s in samplers:
        s.set_epoch(1)
    epoch1 = [s.index_array().tolist() for s in samplers]
    assert epoch1 != epoch0 and set(sum(epoch1, [])) == set(range(n))


def test_sampler_feeds_the_dataloader():
    x = ember.arange(10, dtype=ember.float32)
    sampler = dist.DistributedSampler(TensorDataset(x), num_replicas=3, rank=1, shuffle=False)
    batches = [b[0].tolist() for b in DataLoader(sampler.dataset, batch_size=2, sampler=sampler)]
    assert batches == [[1.0, 4.0], [7.0, 0.0]]  # 10 samples padded to 12 with index 0
    with pytest.raises(ValueError, match="Invalid rank"):
        dist.DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.DistributedSampler(range(4))


def _ember_train(*prefix, out):
    """Run ``ember [prefix] train mlp`` on digits; returns (exit status, output, test accuracy)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "ember.cli", *prefix, "train", "mlp", "--dataset", "digits", "--epochs", "5",
               "--lr", "0.01", "--no-progress", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    output = result.stdout + result.stderr
    accuracies = [float(line.split()[2]) for line in output.splitlines() if line.startswith("test accuracy:")]
    return result.returncode, output, accuracies


def test_ember_launch_trains_like_one_process(tmp_path):
    """``ember launch -n 2 train`` (per-rank batch 64, global 128) reaches the one-process accuracy (the
    shuffles differ, so not exactly), and only rank 0 prints and writes the checkpoint."""
    _mpiexec()
    status, output, single = _ember_train(out=tmp_path / "single")
    assert status == 0 and len(single) == 1, output
    status, output, launched = _ember_train("launch", "-n", "2", out=tmp_path / "launched")
    assert status == 0, output
    assert len(launched) == 1 and output.count("epoch   5") == 1 and output.count("parameters) on digits") == 1, output
    assert "[rank 1] training on" in output and "[rank 0]" not in output, output  # rank 1's lines say whose
    assert launched[0] > 0.9 and abs(launched[0] - single[0]) < 0.04, (single, launched)
    assert (tmp_path / "launched" / "checkpoint.safetensors").exists()
    state = ember.load(str(tmp_path / "launched" / "checkpoint.safetensors"))
    assert not any(key.startswith("module.") for key in state["model"])  # the bare model, as one process saves


def test_ember_launch_builds_the_mpiexec_command(monkeypatch, capsys):
    _mpiexec()
    from ember.cli import main
    from ember.distributed.launch import launch_command
    command = launch_command(3, ["train", "mlp", "--dataset", "digits"])
    assert command[1:] == ["-n", "3", sys.executable, "-m", "mpi4py", "-m", "ember.cli", "train", "mlp", "--dataset",
                           "digits", "--distributed"]
    assert launch_command(2, ["train.py", "--lr", "1"])[-3:] == ["train.py", "--lr", "1"]
    assert launch_command(2, ["-m", "pkg.mod", "x"])[-6:] == [sys.executable, "-m", "mpi4py", "-m", "pkg.mod", "x"]
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    assert main(["launch", "-n", "2", "train", "mlp"]) == 2
    assert 'pip install -e ".[distributed]"' in capsys.readouterr().err


def _bn_net():
    return ember.nn.Sequential(ember.nn.Conv2d(2, 3, 3), ember.nn.BatchNorm2d(3), ember.nn.ReLU(), ember.nn.Flatten(),
                               ember.nn.Linear(12, 4), ember.nn.BatchNorm1d(4))


def test_sync_batchnorm_without_a_group_is_batchnorm():
    """One process (no group): SyncBatchNorm computes what BatchNorm does, forward, backward and running
    statistics; convert_sync_batchnorm keeps the very Parameters and buffers."""
    ember.manual_seed(0)
    plain = _bn_net()
    ember.manual_seed(0)
    synced = ember.nn.SyncBatchNorm.convert_sync_batchnorm(_bn_net())
    assert [type(m).__name__ for m in synced][1::4] == ["SyncBatchNorm", "SyncBatchNorm"]
    x = ember.randn(5, 2, 4, 4)
    for model in (plain, synced):
        model(x).square().sum().backward()
    for (name, a), b in zip(plain.state_dict().items(), synced.state_dict().values()):
        assert (a.numpy() == b.numpy()).all(), name
    for a, b in zip(plain.parameters(), synced.parameters()):
        assert (a.grad.numpy() == b.grad.numpy()).all()
    bn = ember.nn.BatchNorm1d(3).eval()
    converted = ember.nn.SyncBatchNorm.convert_sync_batchnorm(bn)
    assert converted.weight is bn.weight and converted.running_var is bn.running_var and not converted.training


def test_sync_batchnorm_errors():
    with pytest.raises(ValueError, match="expected at least 2D input"):
        ember.nn.SyncBatchNorm(3)(ember.randn(3))
    with pytest.raises(ValueError, match="default process group"):
        ember.nn.SyncBatchNorm(3, process_group="group")


def test_distributed_bench_worker_reports_all_reduce_bandwidth():
    """``ember bench --distributed`` runs its jobs through this: one job, every bucket size measured."""
    _mpiexec()
    from ember.bench import distributed
    results = distributed._run("ember", "all_reduce", 2, quick=True)
    assert [r["bytes"] for r in results] == distributed.SIZES
    assert all(r["gbps"] > 0 and r["ms"] > 0 for r in results), results


def test_rank_prefixed_stream_marks_every_line():
    import io
    from ember.distributed.launch import RankPrefixedStream
    sink = io.StringIO()
    stream = RankPrefixedStream(sink, 2)
    assert stream.write("one\ntw") == 6  # the characters given, as io streams count
    stream.write("o\n\nthree")
    assert sink.getvalue() == "[rank 2] one\n[rank 2] two\n[rank 2] \n[rank 2] three"
    assert stream.getvalue() == sink.getvalue()  # everything else is the wrapped stream's
