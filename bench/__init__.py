"""ember's benchmarks: every op and kernel raced against PyTorch in the same run (``ember bench``)."""
