"""``ember bench --distributed``: data-parallel communication and training throughput, ember's
DistributedDataParallel over MPI against PyTorch's over Gloo, on this machine's CPUs.

* all-reduce: the algorithm bandwidth (bytes / time) of an in-place float32 sum over 2 ranks, per
  buffer size from 4 KB to a 25 MB DDP bucket, median after warm-up;
* training: samples/s of LeNet and the CIFAR CNN (SGD with momentum, global batch 128 of random
  data: throughput does not depend on the values) on 1 rank (a plain process) and on 2 ranks (DDP,
  64 samples each), one thread per rank; scaling = 2-rank throughput / 1-rank throughput. The
  ceiling is what this machine allows: 2 processes each training their own model on 64 samples per
  step, with no communication at all (cores that share caches, memory bandwidth or a hypervisor's
  scheduling make it less than 2).

Each measurement is its own ``mpiexec -n N python -m mpi4py -m ember.bench.distributed worker ...``
job, one library at a time, so neither library's threads run beside the other's. Prints two tables
and writes bench/results/distributed-cpu-<date>.json.
"""
import datetime
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

SIZES = [4 << 10, 64 << 10, 1 << 20, 4 << 20, 25 << 20]  # bytes
MODELS = {"lenet": (1, 28, 28), "cifar-cnn": (3, 32, 32)}
GLOBAL_BATCH = 128


# ---- the workers (one per rank, under mpiexec) ----------------------------------------------------

def _torch_group(torch, comm):
    """torch.distributed over Gloo, rendezvous on a port rank 0 picks and MPI shares."""
    import socket
    port = None
    if comm.rank == 0:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    port = comm.bcast(port, root=0)
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=comm.rank,
                                         world_size=comm.size)
    return torch.distributed


def _library(name, comm):
    """(lib, all_reduce(tensor), wrap(model) -> DDP model) for 'ember' or 'torch'."""
    if name == "torch":
        import torch
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        dist = _torch_group(torch, comm) if comm.size > 1 else None
        wrap = torch.nn.parallel.DistributedDataParallel
        return torch, (dist.all_reduce if dist else None), wrap
    import ember
    import ember.distributed as dist
    if comm.size > 1:
        dist.init_process_group("mpi")
    return ember, dist.all_reduce, dist.DistributedDataParallel


def _median_seconds(call, comm, quick):
    """Median seconds per call over rounds (each long enough to time), the slowest rank's."""
    call()
    call()
    comm.Barrier()
    start = time.perf_counter()
    call()
    once = max(comm.allgather(time.perf_counter() - start))
    per_round = max(1, min(1000, int((0.02 if quick else 0.1) / max(once, 1e-7))))
    samples = []
    for _ in range(3 if quick else 7):
        comm.Barrier()
        start = time.perf_counter()
        for _ in range(per_round):
            call()
        samples.append(max(comm.allgather((time.perf_counter() - start) / per_round)))
    return statistics.median(samples)


def _all_reduce_bandwidth(lib, all_reduce, comm, quick):
    results = []
    for size in SIZES:
        buffer = lib.ones(size // 4, dtype=lib.float32)
        seconds = _median_seconds(lambda: all_reduce(buffer), comm, quick)
        results.append({"bytes": size, "ms": seconds * 1e3, "gbps": size / seconds / 1e9})
    return results


def _training_throughput(lib, wrap, comm, model_name, quick, independent=False):
    from ember.models.cnn import cifar_cnn_layers, lenet_layers
    layers = {"lenet": lenet_layers, "cifar-cnn": cifar_cnn_layers}[model_name]
    lib.manual_seed(0)
    model = layers(lib.nn)
    if comm.size > 1 and not independent:
        model = wrap(model)
    optimizer = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    batch = GLOBAL_BATCH // comm.size
    rng = np.random.default_rng(comm.rank)
    inputs = lib.from_numpy(rng.standard_normal((batch,) + MODELS[model_name]).astype(np.float32))
    targets = lib.from_numpy(rng.integers(0, 10, batch))

    def step():
        optimizer.zero_grad()
        lib.nn.functional.cross_entropy(model(inputs), targets).backward()
        optimizer.step()
    seconds = _median_seconds(step, comm, quick)
    return {"model": model_name, "ranks": comm.size, "step_ms": seconds * 1e3,
            "samples_per_s": GLOBAL_BATCH / seconds}


def worker(library, task, quick):
    """One rank of a job: ``task`` is "all_reduce", a model name, or "<model>:independent" (each rank
    trains its own copy, no DDP: the ceiling)."""
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    model, _, independent = task.partition(":")
    lib, all_reduce, wrap = _library(library, comm if not independent else MPI.COMM_SELF)
    if task == "all_reduce":
        result = _all_reduce_bandwidth(lib, all_reduce, comm, quick)
    else:
        result = _training_throughput(lib, wrap, comm, model, quick, independent == "independent")
    if comm.rank == 0:
        print("RESULT " + json.dumps(result), flush=True)


# ---- the driver -----------------------------------------------------------------------------------

def _run(library, task, ranks, quick):
    from ember.distributed.launch import launch_command
    command = launch_command(ranks, ["-m", "ember.bench.distributed", "worker", library, task]
                             + (["--quick"] if quick else []))
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"{library} {task} on {ranks} ranks failed:\n{result.stdout}{result.stderr}")
    return json.loads(lines[-1][len("RESULT "):])


def _ratio(torch_value, ember_value, higher_is_better):
    return ember_value / torch_value if higher_is_better else torch_value / ember_value


def main(quick=False, output_dir=None):
    """Run every job, print the tables and write the JSON; returns the result dict."""
    import importlib.metadata

    from . import report
    libraries = ("ember", "torch")
    reduce = {lib: _run(lib, "all_reduce", 2, quick) for lib in libraries}
    print(f"all-reduce, 2 ranks, float32 sum in place (ember: MPI {_mpi_name()}; torch: Gloo)")
    print(f"{'size':>10}{'ember GB/s':>12}{'torch GB/s':>12}{'ratio':>8}")
    all_reduce = []
    for mine, theirs in zip(reduce["ember"], reduce["torch"]):
        ratio = _ratio(theirs["gbps"], mine["gbps"], True)
        all_reduce.append({"bytes": mine["bytes"], "ember_gbps": mine["gbps"], "torch_gbps": theirs["gbps"],
                           "speed_ratio": ratio})
        print(f"{_size(mine['bytes']):>10}{mine['gbps']:>12.3f}{theirs['gbps']:>12.3f}{ratio:>8.2f}")

    print(f"\ntraining throughput, global batch {GLOBAL_BATCH}, SGD, one thread per rank")
    print(f"{'model':<11}{'ranks':>6}{'ember sam/s':>13}{'torch sam/s':>13}{'ratio':>7}"
          f"{'ember scaling':>15}{'torch scaling':>15}{'ceiling':>9}")
    training = []
    for model in MODELS:
        runs = {(lib, ranks): _run(lib, model, ranks, quick) for lib in libraries for ranks in (1, 2)}
        independent = _run("ember", model + ":independent", 2, quick)["samples_per_s"]
        ceiling = independent / runs["ember", 1]["samples_per_s"]
        for ranks in (1, 2):
            mine, theirs = runs["ember", ranks], runs["torch", ranks]
            scaling = {lib: runs[lib, ranks]["samples_per_s"] / runs[lib, 1]["samples_per_s"] for lib in libraries}
            ratio = _ratio(theirs["samples_per_s"], mine["samples_per_s"], True)
            limit = 1.0 if ranks == 1 else ceiling
            training.append({"model": model, "ranks": ranks, "ember_samples_per_s": mine["samples_per_s"],
                             "torch_samples_per_s": theirs["samples_per_s"], "speed_ratio": ratio,
                             "ember_scaling": scaling["ember"], "torch_scaling": scaling["torch"],
                             "ceiling": limit})
            print(f"{model:<11}{ranks:>6}{mine['samples_per_s']:>13.0f}{theirs['samples_per_s']:>13.0f}"
                  f"{ratio:>7.2f}{scaling['ember']:>15.2f}{scaling['torch']:>15.2f}{limit:>9.2f}")
    result = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "cpu": report.cpu_name(),
              "cores": os.cpu_count(), "torch": importlib.metadata.version("torch"), "mpi": _mpi_name(),
              "note": "speed_ratio = ember / torch throughput (above 1: ember faster); scaling = samples/s on N "
                      "ranks / on 1 rank; ceiling = 2 independent processes (no DDP, 64 samples each) / 1 rank",
              "all_reduce": all_reduce, "training": training}
    output_dir = output_dir or report.results_dir()
    if output_dir is not None:
        os.makedirs(output_dir, exist_ok=True)
        path = os.path.join(output_dir, f"distributed-cpu-{datetime.date.today().isoformat()}.json")
        with open(path, "w") as f:
            json.dump(result, f, indent=1)
        print(f"wrote {path}")
    return result


def _size(nbytes):
    return f"{nbytes >> 20} MB" if nbytes >= 1 << 20 else f"{nbytes >> 10} KB"


def _mpi_name():
    try:
        from mpi4py import MPI
        return MPI.Get_library_version().split("\n")[0].strip()
    except ImportError:
        return "unavailable"


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        worker(sys.argv[2], sys.argv[3], "--quick" in sys.argv[4:])
    else:
        main(quick="--quick" in sys.argv[1:])
