"""``ember launch`` and ``ember train --distributed``: data-parallel training from the command line.

    ember launch -n 2 train lenet --dataset fashion-mnist     # = mpiexec -n 2 python -m mpi4py -m ember.cli train ...
    ember launch -n 2 -- train.py --lr 0.1                     # a script: mpiexec -n 2 python -m mpi4py train.py ...
    ember launch -n 2 -- -m package.module                     # a module: mpiexec -n 2 python -m mpi4py -m ...

``launch`` adds ``--distributed`` to ``train``, which then runs one DistributedDataParallel rank per process.
"""
import os
import shutil
import sys

__all__ = ["launch_command", "launch", "setup_training", "RankPrefixedStream"]


def _mpiexec():
    """mpiexec next to this Python (a virtual environment's mpich wheel), else on PATH."""
    here = os.path.dirname(sys.executable)
    found = shutil.which("mpiexec", path=here + os.pathsep + os.environ.get("PATH", ""))
    if found is None:
        raise RuntimeError("ember launch needs mpiexec and mpi4py: pip install -e \".[distributed]\"")
    return found


def launch_command(ranks, args):
    """The mpiexec command line that runs ``args`` (an ember subcommand and its arguments, a Python
    script and its arguments, or ``-m module`` and its arguments) on ``ranks`` processes."""
    if not args:
        raise ValueError("ember launch: say what to run, e.g. ember launch -n 2 train mlp --dataset digits")
    if args[0] == "-m" or args[0].endswith(".py") or os.path.isfile(args[0]):
        target = list(args)
    else:
        target = ["-m", "ember.cli", *args]
        if args[0] == "train" and "--distributed" not in args:
            target.append("--distributed")
    # -m mpi4py: a rank that raises aborts the whole job instead of leaving the others waiting
    return [_mpiexec(), "-n", str(ranks), sys.executable, "-m", "mpi4py", *target]


def launch(argv):
    """``ember launch -n N [--] COMMAND...``: replaces this process with mpiexec."""
    import argparse
    parser = argparse.ArgumentParser(prog="ember launch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--nproc", type=int, required=True, help="number of processes (ranks)")
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="an ember subcommand (train ...) or a Python script, with its arguments")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.nproc < 1:
        parser.error("-n must be at least 1")
    try:
        full = launch_command(args.nproc, command)
    except (RuntimeError, ValueError) as error:
        print(error, file=sys.stderr)
        return 2
    # N ranks each running a core's worth of BLAS and OpenMP threads would fight over the cores:
    # give each rank its share, unless the user chose
    threads = str(max(1, (os.cpu_count() or 1) // args.nproc))
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(variable, threads)
    sys.stdout.flush()
    os.execv(full[0], full)


class RankPrefixedStream:
    """A text stream that starts every line written to ``stream`` with ``[rank N] ``, so that what the
    ranks other than 0 print (warnings, tracebacks) can be told apart in the job's output."""

    def __init__(self, stream, rank):
        self._stream, self._prefix, self._at_line_start = stream, f"[rank {rank}] ", True

    def write(self, text):
        pieces = []
        for line in text.splitlines(keepends=True):
            if self._at_line_start:
                pieces.append(self._prefix)
            pieces.append(line)
            self._at_line_start = line.endswith(("\n", "\r"))
        self._stream.write("".join(pieces))
        return len(text)

    def __getattr__(self, name):  # flush, fileno, encoding, isatty...: the wrapped stream's
        return getattr(self._stream, name)


def setup_training(model, train_loader, seed, device="cpu"):
    """Join the MPI job and make one rank of data-parallel training (the other ranks' output lines start
    with ``[rank N]``): returns (rank, the model moved to
    ``device`` and wrapped in DistributedDataParallel, a loader over this rank's share with
    ``batch_size // world_size`` per batch, so the global batch stays ``train_loader.batch_size``).
    On a cuda device the gradients go through NCCL, and each rank takes the GPU of its local rank
    (the group picks it before the model moves, so ``"cuda"`` means that GPU)."""
    from ..data import DataLoader
    from . import DistributedDataParallel, DistributedSampler, get_rank, get_world_size, init_process_group
    init_process_group("nccl" if str(device).startswith("cuda") else "mpi")
    rank, world = get_rank(), get_world_size()
    if rank != 0:
        sys.stdout, sys.stderr = RankPrefixedStream(sys.stdout, rank), RankPrefixedStream(sys.stderr, rank)
    if train_loader.batch_size < world:
        raise ValueError(f"batch size {train_loader.batch_size} is smaller than the {world} processes")
    sampler = DistributedSampler(train_loader.dataset, seed=seed)
    loader = DataLoader(train_loader.dataset, batch_size=train_loader.batch_size // world, sampler=sampler)
    return rank, DistributedDataParallel(model.to(device)), loader
