"""Quantize LeNet-5 trained on Fashion-MNIST to int8: post-training quantization calibrated on 1,000
training images, then a short quantization-aware fine-tune; test accuracy, checkpoint size and
inference latency (batch 256, one thread and the default threads) against float32.

    python examples/quantize_lenet.py            # 3 epochs of training (a few minutes on 2 cores)
    python examples/quantize_lenet.py --quick    # 2,000 training samples, seconds
"""
import argparse
import os
import subprocess
import sys
import statistics
import tempfile
import time

from common import accuracy, example_parser, fashion_mnist_loaders, one_cycle_trainer, run_size

import ember
from ember import models
from ember.compress import format_reports, model_report, quantize
from ember.training import Trainer

LATENCY_BATCH = 256


def median_latency_ms(float_path, int8_path, batch_path):
    """Per model, the median latency of a forward of the saved batch: the models are rebuilt from their
    checkpoints (the int8 one with load_quantized), so this can run in a fresh process with other
    thread settings."""
    images = ember.load(batch_path)["images"]
    float_model = models.create("lenet")
    float_model.load_state_dict(ember.load(float_path))
    int8_model = quantize.load_quantized(models.create("lenet"), ember.load(int8_path))
    return {name: model_report(model, images, repeats=30).latency_ms
            for name, model in (("float32", float_model), ("int8", int8_model))}


def one_thread_figures(paths, repeats):
    """median_latency_ms and gemm_table in a child process with one thread for OpenBLAS and for ember's
    OpenMP kernels (thread counts are read when the libraries load): (latencies, table)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    done = subprocess.run([sys.executable, __file__, "--one-thread", *paths, str(repeats)], env=env,
                          capture_output=True, text=True, check=True)
    latencies, table = done.stdout.split("\n", 1)
    return dict(zip(("float32", "int8"), map(float, latencies.split()))), table


def gemm_table(repeats):
    """The int8 GEMM (int8_matmul) against float32 np.matmul (OpenBLAS sgemm) at the shapes of LeNet's
    layers for a batch of 256: (M, K, N) = (out channels, in channels x kernel, positions). The int8
    layers do not call it (their kernels fuse quantization, packing and scaling around the same GEMM
    core); it shows what the GEMM alone is worth."""
    def kernel(op, name):
        return ember.kernels.implementation(op, "cpu", name)
    int8_matmul = kernel("int8_matmul", ember.kernels.names("int8_matmul", "cpu")[0])
    sgemm = kernel("matmul", "numpy")  # np.matmul (numpy is not imported here: ember must load it first)
    rows = [f"{'GEMM (batch 256)':<18}{'M x K x N':>18}{'int8 (ms)':>11}{'float32 (ms)':>14}{'ratio':>7}"]
    for name, (m, k, n) in (("conv1", (6, 25, 256 * 784)), ("conv2", (16, 150, 256 * 100)), ("fc1", (120, 400, 256)),
                            ("fc2", (84, 120, 256)), ("fc3", (10, 84, 256))):
        a, b = (ember.randint(-127, 128, shape, dtype=ember.int8).numpy() for shape in ((m, k), (k, n)))
        times = []
        for function, x, y in ((int8_matmul, a, b), (sgemm, a.astype("float32"), b.astype("float32"))):
            function(x, y)  # warm-up
            samples = []
            for _ in range(repeats):
                start = time.perf_counter()
                function(x, y)
                samples.append(time.perf_counter() - start)
            times.append(1000 * statistics.median(samples))
        rows.append(f"{name:<18}{f'{m} x {k} x {n}':>18}{times[0]:>11.3f}{times[1]:>14.3f}{times[1] / times[0]:>7.2f}")
    return "\n".join(rows)


def main():
    parser = example_parser(__doc__, epochs=3)
    parser.add_argument("--calibration-images", type=int, default=1000)
    parser.add_argument("--qat-epochs", type=int, default=1)
    parser.add_argument("--one-thread", nargs=4, metavar=("FLOAT", "INT8", "BATCH", "REPEATS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_thread:
        print(*median_latency_ms(*args.one_thread[:3]).values())
        print(gemm_table(int(args.one_thread[3])))
        return
    limit, epochs = run_size(args)

    train_loader, test_loader = fashion_mnist_loaders(limit)
    ember.manual_seed(0)
    model = models.create("lenet")
    one_cycle_trainer(model, train_loader, epochs).fit(train_loader, epochs, log=lambda line: print("  float32", line))
    float_accuracy = accuracy(model, test_loader)

    # Post-training quantization: observe the activations of ~1,000 training images, then convert.
    prepared = quantize.prepare(model)
    quantize.calibrate(prepared, train_loader, num_batches=-(-args.calibration_images // train_loader.batch_size))
    int8_model = quantize.convert(prepared)
    int8_accuracy = accuracy(int8_model, test_loader)

    # Quantization-aware training: fine-tune with fake quantization (straight-through gradients) at a
    # small learning rate, then convert; the observers are frozen first, so the int8 grids are those
    # the last steps trained with.
    qat_model = quantize.prepare_qat(model)
    fine_tuner = Trainer(qat_model, ember.optim.Adam(qat_model.parameters(), lr=2e-4), progress=False)
    fine_tuner.fit(train_loader, args.qat_epochs, log=lambda line: print("  QAT", line))
    qat_model.apply(quantize.disable_observer)
    qat_int8_model = quantize.convert(qat_model)
    qat_accuracy = accuracy(qat_int8_model, test_loader)

    images = next(iter(test_loader))[0][:LATENCY_BATCH]  # the test loader's batches are 256
    with tempfile.TemporaryDirectory() as folder:
        paths = [os.path.join(folder, f"{name}.safetensors") for name in ("float32", "int8", "batch")]
        ember.save(model.state_dict(), paths[0])
        ember.save(int8_model.state_dict(), paths[1])
        ember.save({"images": images}, paths[2])
        float_bytes, int8_bytes = os.path.getsize(paths[0]), os.path.getsize(paths[1])
        single, table = one_thread_figures(paths, repeats=3 if args.quick else 20)
    reports = {"float32": model_report(model, images, repeats=30),
               "int8 (PTQ)": model_report(int8_model, images, repeats=30),
               "int8 (QAT)": model_report(qat_int8_model, images, repeats=30)}
    threads = ember.kernels.get_num_threads()

    print(f"\n{format_reports(reports)}\n")
    print(f"one thread:\n{table}")
    print(f"float32 test accuracy: {float_accuracy:.4f}")
    print(f"int8 test accuracy:    {int8_accuracy:.4f} (PTQ, {100 * (int8_accuracy - float_accuracy):+.2f} points)")
    print(f"int8 test accuracy:    {qat_accuracy:.4f} (QAT, {100 * (qat_accuracy - float_accuracy):+.2f} points)")
    print(f"checkpoint: float32 {float_bytes:,} bytes, int8 {int8_bytes:,} bytes "
          f"({float_bytes / int8_bytes:.2f}x smaller)")
    default = {name: reports[key].latency_ms for name, key in (("float32", "float32"), ("int8", "int8 (PTQ)"))}
    for label, latency in (("1 thread", single), (f"{threads} threads", default)):
        print(f"latency, batch {LATENCY_BATCH}, {label}: float32 {latency['float32']:.2f} ms, int8 "
              f"{latency['int8']:.2f} ms ({latency['float32'] / latency['int8']:.2f}x faster)")


if __name__ == "__main__":
    main()
