"""One training epoch of the Keras MNIST tutorial CNN in numdense, PyTorch and Keras.

Each framework runs in its own child process (two OpenMP pools in one process stall each
other on a small machine), on the same random (n, 28, 28, 1) float32 data with integer labels,
batch 64, Adam, sparse categorical crossentropy from logits. Each child trains one warm-up
epoch on a slice (compilation, allocator) and then times ``--repeat`` full epochs; the table
shows the median and the ratio to numdense. Missing frameworks are reported, not guessed.

Run: python examples/benchmark_cnn.py [--samples 60000] [--repeat 3] [--batch-size 64]
     [--python keras=/path/to/tf-venv/bin/python] [--python torch=/path/to/torch-venv/bin/python]
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np

import _interpreters

FRAMEWORKS = ("numdense", "torch", "keras")


def data(n):
    rng = np.random.default_rng(0)
    return rng.random((n, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, n)


def _fit_epochs(model, x, y, batch, repeat):
    """Seconds of ``repeat`` one-epoch ``fit`` calls (after a short warm-up fit) of a Keras-style
    model: numdense and Keras share this."""
    model.fit(x[:4 * batch], y[:4 * batch], batch_size=batch, epochs=1, verbose=0)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        times.append(time.perf_counter() - start)
    return times


def run_numdense(x, y, batch, repeat):
    import numdense as nd
    from cnn_digits import build_model

    nd.utils.set_random_seed(0)
    model = build_model()
    model.compile(optimizer="adam", loss=nd.losses.SparseCategoricalCrossentropy(from_logits=True))
    return _fit_epochs(model, x, y, batch, repeat)


def run_torch(x, y, batch, repeat):
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(), nn.Linear(576, 64),
        nn.ReLU(), nn.Linear(64, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    yt = torch.from_numpy(y)

    def epoch(n):
        order = torch.randperm(n)
        for i in range(0, n, batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()

    epoch(4 * batch)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        epoch(len(x))
        times.append(time.perf_counter() - start)
    return times


def run_keras(x, y, batch, repeat):
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"), layers.Flatten(),
        layers.Dense(64, activation="relu"), layers.Dense(10),
    ])
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return _fit_epochs(model, x, y, batch, repeat)


def child(framework, samples, batch, repeat):
    x, y = data(samples)
    runner = {"numdense": run_numdense, "torch": run_torch, "keras": run_keras}[framework]
    print(json.dumps({"framework": framework, "times": runner(x, y, batch, repeat)}))


MODULES = {"numdense": ["numdense"], "torch": ["torch"], "keras": ["tensorflow", "keras"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    _interpreters.add_option(parser)
    args = parser.parse_args()
    chosen = _interpreters.parse(args.python)
    if args.child:
        child(args.child, args.samples, args.batch_size, args.repeat)
        return
    print(f"MNIST tutorial CNN, one epoch of {args.samples} random 28x28x1 samples, "
          f"batch {args.batch_size}, Adam; median of {args.repeat} epochs after a warm-up")
    results = {}
    for framework in FRAMEWORKS:
        python = _interpreters.python_for(framework, chosen)
        if not _interpreters.has_modules(python, MODULES[framework]):
            print(f"  {framework:9s} not installed for {python}: skipped")
            continue
        cmd = [python, __file__, "--child", framework, "--samples", str(args.samples),
               "--batch-size", str(args.batch_size), "--repeat", str(args.repeat)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"  {framework:9s} failed: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        times = json.loads(proc.stdout.strip().splitlines()[-1])["times"]
        results[framework] = statistics.median(times)
    base = results.get("numdense")
    for framework, seconds in results.items():
        ratio = f"{seconds / base:5.2f}x numdense" if base else ""
        print(f"  {framework:9s} {seconds:8.3f} s/epoch  {ratio}")


if __name__ == "__main__":
    main()
