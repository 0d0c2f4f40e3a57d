"""Side-by-side timings of the same workloads in numdense, NumPy, PyTorch and Keras.

Each framework that is importable runs each workload a few times in this one process (after a
warm-up run); the table shows medians and the ratio to numdense. PyTorch and Keras are optional:
missing ones are reported as such.

Run: python examples/benchmark_compare.py [--quick]
"""

import argparse
import importlib.util
import statistics
import time

import numpy as np

import numdense as nd
from numdense.layers import Dense


def timeit(fn, repeat):
    fn()  # warm-up (compilation, caches)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def per_call(fn, calls):
    def run():
        for _ in range(calls):
            fn()
    return lambda: run()


# ----------------------------------------------------------------------------------- data
def regression_data():
    np.random.seed(42)
    x = np.random.rand(1000, 2).astype(np.float32)
    y = (2 * x[:, 0] + 3 * x[:, 1] + 4 + np.random.randn(1000) * 0.1).astype(np.float32)
    return x, y


def mnist_like(n):
    rng = np.random.default_rng(0)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n)


# ------------------------------------------------------------------------------- numdense
def nd_regression(x, y, epochs):
    def run():
        model = nd.Sequential([Dense(1, input_shape=(2,))])
        model.compile(optimizer="adam", loss="mean_squared_error")
        model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return run


def nd_mlp():
    nd.utils.set_random_seed(0)
    model = nd.Sequential([nd.Input((784,)), Dense(128, activation="relu"), Dense(10)])
    model.compile(optimizer="adam",
                  loss=nd.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


# -------------------------------------------------------------------------------- PyTorch
def torch_regression(x, y, epochs):
    import torch

    xt, yt = torch.from_numpy(x), torch.from_numpy(y).reshape(-1, 1)

    def run():
        model = torch.nn.Linear(2, 1)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
        loss_fn = torch.nn.MSELoss()
        for _ in range(epochs):
            perm = torch.randperm(len(xt))
            for i in range(0, len(xt), 32):
                idx = perm[i:i + 32]
                opt.zero_grad()
                loss_fn(model(xt[idx]), yt[idx]).backward()
                opt.step()
    return run


def torch_mlp():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))


def torch_epoch(model, x, y, batch_size):
    import torch

    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()

    def run():
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), batch_size):
            idx = perm[i:i + batch_size]
            opt.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()
    return run


def torch_predict(model, x, batch_size):
    import torch

    xt = torch.from_numpy(x)

    def run():
        with torch.no_grad():
            torch.cat([model(xt[i:i + batch_size]) for i in range(0, len(xt), batch_size)])
    return run


# ---------------------------------------------------------------------------------- Keras
def keras_models():
    import keras

    def mlp():
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((784,)), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(10)])
        m.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return m

    def regression(x, y, epochs):
        def run():
            m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
            m.compile(optimizer="adam", loss="mean_squared_error")
            m.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
        return run

    return keras, mlp, regression


def main(quick=False):
    repeat = 3 if quick else 5
    have_torch = importlib.util.find_spec("torch") is not None
    have_keras = importlib.util.find_spec("keras") is not None
    if have_torch:
        import torch

        torch.set_num_threads(2)
    rows = []

    def row(name, **times):
        rows.append((name, times))
        print(f"  measured {name}", flush=True)

    epochs = 40 if quick else 400
    x, y = regression_data()
    times = {"numdense": timeit(nd_regression(x, y, epochs), repeat)}
    if have_torch:
        times["pytorch"] = timeit(torch_regression(x, y, epochs), min(repeat, 3))
    if have_keras:
        _, _, k_reg = keras_models()
        times["keras"] = timeit(k_reg(x, y, epochs), 1)
    row(f"regression fit, {epochs} epochs (1000x2, batch 32, Adam)", **times)

    n = 6000 if quick else 60000
    xm, ym = mnist_like(n)
    model = nd_mlp()
    times = {"numdense": timeit(lambda: model.fit(xm, ym, batch_size=128, epochs=1, verbose=0),
                                repeat)}
    if have_torch:
        times["pytorch"] = timeit(torch_epoch(torch_mlp(), xm, ym, 128), repeat)
    if have_keras:
        k_mlp = keras_models()[1]()
        times["keras"] = timeit(lambda: k_mlp.fit(xm, ym, batch_size=128, epochs=1, verbose=0), 2)
    row(f"MLP 784-128-10 epoch, {n} samples, batch 128, Adam", **times)

    times = {"numdense": timeit(lambda: model.predict(xm, verbose=0), repeat)}
    if have_torch:
        times["pytorch"] = timeit(torch_predict(torch_mlp(), xm, 32), repeat)
    if have_keras:
        times["keras"] = timeit(lambda: k_mlp.predict(xm, verbose=0), 2)
    row(f"predict {n} samples (batch 32)", **times)

    x1 = xm[:1]
    calls = 1000
    times = {"numdense": timeit(per_call(lambda: model(x1), calls), repeat) / calls}
    if have_torch:
        tm, xt1 = torch_mlp(), torch.from_numpy(x1)

        def torch_call():
            with torch.no_grad():
                tm(xt1)
        times["pytorch"] = timeit(per_call(torch_call, calls), repeat) / calls
    if have_keras:
        times["keras"] = timeit(per_call(lambda: k_mlp(x1), 100), 2) / 100
    row("model(x), one sample (per call)", **times)

    w = model.layers[0].kernel.numpy()
    b = model.layers[0].bias.numpy()
    xb = xm[:32]
    from numdense.kernels.cpu.dense import dense_forward

    times = {
        "numdense": timeit(per_call(lambda: dense_forward(xb, w, b, kind=1), calls), repeat) / calls,
        "numpy": timeit(per_call(lambda: np.maximum(xb @ w + b, 0), calls), repeat) / calls,
    }
    row("dense forward 32x784 -> 128 relu (per call)", **times)

    frameworks = ["numdense", "numpy", "pytorch", "keras"]
    print()
    print(f"{'workload':58s}" + "".join(f"{f:>12s}" for f in frameworks) + "   ratios (x numdense time)")
    for name, times in rows:
        cells = "".join(f"{_fmt(times.get(f)):>12s}" for f in frameworks)
        ratios = ", ".join(f"{f} {times[f] / times['numdense']:.1f}x"
                           for f in frameworks[1:] if f in times)
        print(f"{name:58s}{cells}   {ratios}")
    if not have_torch:
        print("PyTorch not installed: its columns are empty.")
    if not have_keras:
        print("Keras not installed: its columns are empty.")
    return rows


def _fmt(seconds):
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.1f} us"


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    main(parser.parse_args().quick)
