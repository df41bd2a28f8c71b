"""Reporting a race: the printed table, the JSON file and the PNG chart under bench/results/."""
import datetime
import json
import os
import platform


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ms(value):
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def print_table(records):
    """One row per case, implementation and mode; ratio = PyTorch time / ember time (>1: ember wins).
    Where records hold effective bandwidths (memory-bound forwards on cuda), three more columns: each
    library's GB/s and ember's percentage of the device's copy bandwidth."""
    impl = max([8] + [len(r["implementation"]) + 2 for r in records])
    bandwidth = any("ember_gbps" in r for r in records)
    print(f"{'case':<14}{'shape':<46}{'impl':<{impl}}{'mode':<9}{'ember ms':>10}{'torch ms':>10}{'ratio':>8}" +
          (f"{'GB/s':>9}{'torch GB/s':>11}{'% copy':>8}" if bandwidth else ""))
    for r in records:
        print(f"{r['kernel']:<14}{r['shape']:<46}{r['implementation']:<{impl}}{r['mode']:<9}"
              f"{_ms(r['ember_ms']):>10}{_ms(r['torch_ms']):>10}{r['speed_ratio']:>8.2f}" +
              (f"{r['ember_gbps']:>9.0f}{r['torch_gbps']:>11.0f}{100 * r['copy_fraction']:>8.0f}"
               if "ember_gbps" in r else ""))


def results_dir():
    """bench/results/ next to this file (the repository's, in an editable install), if writable."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    return path if os.access(path, os.W_OK) else None


def save(records, suite, threads, torch_version, output_dir=None, plot=True, selection=(), device="cpu",
         environment=None):
    """Write ``<suite>-<device>-<date>.json`` (and ``.png``) into ``output_dir`` (default
    bench/results/); a run of some cases only (``selection``) names them, so it does not replace
    the full run's file. ``environment``: what the workers reported on cuda (GPU, CUDA, CuPy and
    torch's CUDA versions, copy bandwidth). Returns the paths written."""
    import ember
    output_dir = output_dir or results_dir()
    if output_dir is None:
        return []
    os.makedirs(output_dir, exist_ok=True)
    part = "".join(f"-{name}" for name in selection)
    stem = os.path.join(output_dir, f"{suite}{part}-{device}-{datetime.date.today().isoformat()}")
    note = "speed_ratio = torch_ms / ember_ms: above 1 means ember is faster"
    if environment:
        note += ("; *_gbps = bytes / ms (inputs read once, output written once, forward only), "
                 "copy_fraction = ember_gbps / copy_gbps (device-to-device copy, read + written)")
    result = dict(date=datetime.datetime.now().isoformat(timespec="seconds"), suite=suite, device=device,
                  cpu=cpu_name(), threads=threads, ember=ember.__version__, torch=torch_version,
                  kernels_threads=ember.kernels.get_num_threads(), **(environment or {}),
                  note=note, records=records)
    with open(stem + ".json", "w") as f:
        json.dump(result, f, indent=1)
    paths = [stem + ".json"]
    if plot:
        where = environment["gpu"] if environment else f"CPU, {threads} threads"
        paths.append(plot_ratios(records, suite, where, stem + ".png"))
    return paths


def plot_ratios(records, suite, where, path):
    """A horizontal bar per case and implementation: the speed ratio, log scale, 1 marked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mode = "train" if suite == "models" else "fwd+bwd"
    shown = [r for r in records if r["mode"] == mode]
    names = sorted({r["implementation"] for r in shown})
    colors = dict(zip(names, ["tab:orange", "tab:blue", "tab:green", "tab:purple"]))
    labels = list(dict.fromkeys(f"{r['kernel']} {r['shape']}" for r in shown))
    height = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(labels) * max(len(names), 1) ** 0.5 + 1.5))
    for i, name in enumerate(names):
        rows = [(labels.index(f"{r['kernel']} {r['shape']}"), r["speed_ratio"]) for r in shown
                if r["implementation"] == name]
        ax.barh([row + i * height for row, _ in rows], [ratio for _, ratio in rows], height,
                color=colors.get(name), label=name)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xscale("log")
    ax.set_yticks([row + 0.4 - height / 2 for row in range(len(labels))], labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(f"speed ratio, PyTorch time / ember time ({mode}; > 1: ember faster)")
    ax.set_title(f"ember vs PyTorch, {where}: {suite}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
