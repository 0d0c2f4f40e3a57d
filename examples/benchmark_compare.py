"""Side-by-side timings of the same workloads in numdense, NumPy, PyTorch and Keras.

The "fused" column is the floor for the regression: one hand-written Numba loop for exactly that
model (``regression_fused.py``), which numdense's generic ``fit`` should come within 2x of.

One run of this script measures every importable framework, each in its own child process (two
OpenMP thread pools in one process stall each other on a 2-core machine, which would penalise
whichever ran second), after a warm-up run, and prints one table of medians with the ratio of
each framework's time to numdense's. PyTorch and Keras are optional: missing ones are reported.

Run: python examples/benchmark_compare.py [--quick] [--python keras=/path/to/tf-venv/bin/python]
     [--python pytorch=/path/to/torch-venv/bin/python]
"""

import argparse
import json
import statistics
import subprocess
import time

import numpy as np

import _interpreters


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
    import numdense as nd
    from numdense.layers import Dense

    def run():
        model = nd.Sequential([Dense(1, input_shape=(2,))])
        model.compile(optimizer="adam", loss="mean_squared_error")
        model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return run


def nd_mlp():
    import numdense as nd
    from numdense.layers import Dense

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


WORKLOADS = [
    "regression fit, 400 epochs (1000x2, batch 32, Adam)",
    "MLP 784-128-10 epoch, 60000 samples, batch 128, Adam",
    "predict 60000 samples (batch 32)",
    "model(x), one sample (per call)",
    "dense forward 32x784 -> 128 relu (per call)",
    "GEMM 1024x1024x1024 float32, a @ b (per call)",
    "GEMM 1024x1024x1024 float64, a @ b (per call)",
]
GEMM_N = 1024
# The MLP's multiply-adds x 2 per training sample: the forward and the weight gradients of both
# layers (784x128 + 128x10 each) and the hidden layer's input gradient (128x10).
MLP_SAMPLE_FLOP = 2 * 2 * (784 * 128 + 128 * 10) + 2 * 128 * 10


def gemm_operands(dtype):
    rng = np.random.default_rng(0)
    a, b = (rng.random((GEMM_N, GEMM_N)).astype(dtype) for _ in range(2))
    return a, b, np.empty((GEMM_N, GEMM_N), dtype)


def blas_kernel():
    """Which OpenBLAS kernels NumPy runs (threadpoolctl's "architecture"), if it can tell."""
    try:
        import threadpoolctl
    except ImportError:
        return "unknown (threadpoolctl is not installed)"
    infos = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
    return ", ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} kernels, "
                     f"{i.get('num_threads')} threads" for i in infos) or "unknown"


def measure(framework, quick=False):
    """{workload: median seconds} for one framework, measured in this process."""
    repeat = 3 if quick else 5
    epochs = 40 if quick else 400
    n = 6000 if quick else 60000
    x, y = regression_data()
    xm, ym = mnist_like(n)
    x1, xb = xm[:1], xm[:32]
    calls = 1000
    out = {}
    if framework == "numdense":
        out[WORKLOADS[0]] = timeit(nd_regression(x, y, epochs), repeat)
        model = nd_mlp()
        out[WORKLOADS[1]] = timeit(lambda: model.fit(xm, ym, batch_size=128, epochs=1, verbose=0), repeat)
        out["mlp_samples"] = n
        out[WORKLOADS[2]] = timeit(lambda: model.predict(xm, verbose=0), repeat)
        out[WORKLOADS[3]] = timeit(per_call(lambda: model(x1), calls), repeat) / calls
        from numdense.kernels.cpu.dense import dense_forward

        w, b = model.layers[0].kernel.numpy(), model.layers[0].bias.numpy()
        out[WORKLOADS[4]] = timeit(per_call(lambda: dense_forward(xb, w, b, kind=1), calls), repeat) / calls
        from numdense.kernels.cpu.matmul import matmul_into

        for workload, dtype in ((WORKLOADS[5], np.float32), (WORKLOADS[6], np.float64)):
            a, bm, c = gemm_operands(dtype)
            out[workload] = timeit(per_call(lambda: matmul_into(a, bm, c, False), 5), repeat) / 5
    elif framework == "fused":
        from regression_fused import fit_fused

        fit_fused(x, y, 1, 0)
        out[WORKLOADS[0]] = timeit(lambda: fit_fused(x, y, epochs, 0), repeat)
    elif framework == "numpy":
        rng = np.random.default_rng(0)
        w = rng.random((784, 128), dtype=np.float32)
        b = np.zeros(128, np.float32)
        out[WORKLOADS[4]] = timeit(per_call(lambda: np.maximum(xb @ w + b, 0), calls), repeat) / calls
        for workload, dtype in ((WORKLOADS[5], np.float32), (WORKLOADS[6], np.float64)):
            a, bm, c = gemm_operands(dtype)
            out[workload] = timeit(per_call(lambda: np.matmul(a, bm, out=c), 5), repeat) / 5
        out["blas"] = blas_kernel()
    elif framework == "pytorch":
        import torch

        torch.set_num_threads(2)
        out[WORKLOADS[0]] = timeit(torch_regression(x, y, epochs), min(repeat, 3))
        out[WORKLOADS[1]] = timeit(torch_epoch(torch_mlp(), xm, ym, 128), repeat)
        tm = torch_mlp()
        out[WORKLOADS[2]] = timeit(torch_predict(tm, xm, 32), repeat)
        xt1 = torch.from_numpy(x1)

        def torch_call():
            with torch.no_grad():
                tm(xt1)
        out[WORKLOADS[3]] = timeit(per_call(torch_call, calls), repeat) / calls
    elif framework == "keras":
        _, k_mlp_factory, k_reg = keras_models()
        out[WORKLOADS[0]] = timeit(k_reg(x, y, epochs), 1)
        k_mlp = k_mlp_factory()
        out[WORKLOADS[1]] = timeit(lambda: k_mlp.fit(xm, ym, batch_size=128, epochs=1, verbose=0), 2)
        out[WORKLOADS[2]] = timeit(lambda: k_mlp.predict(xm, verbose=0), 2)
        out[WORKLOADS[3]] = timeit(per_call(lambda: k_mlp(x1), 100), 2) / 100
    return out


MODULES = {"numdense": ["numdense"], "fused": ["numba"], "numpy": ["numpy"],
           "pytorch": ["torch"], "keras": ["tensorflow", "keras"]}


def main(quick=False, chosen=None):
    chosen = chosen or {}
    frameworks = []
    for framework, modules in MODULES.items():
        python = _interpreters.python_for(framework, chosen)
        if _interpreters.has_modules(python, modules):
            frameworks.append(framework)
        else:
            print(f"{framework} is not installed for {python}: its column stays empty.")
    results = {}
    for framework in frameworks:
        cmd = [_interpreters.python_for(framework, chosen), __file__, "--framework", framework]
        cmd += ["--quick"] if quick else []
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results[framework] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"  measured {framework}", flush=True)
    names = ["numdense", "fused", "numpy", "pytorch", "keras"]
    print()
    print(f"{'workload':56s}" + "".join(f"{f:>11s}" for f in names) + "   time / numdense time")
    for workload in WORKLOADS:
        times = {f: results[f][workload] for f in results if workload in results[f]}
        cells = "".join(f"{_fmt(times.get(f)):>11s}" for f in names)
        ratios = ", ".join(f"{f} {times[f] / times['numdense']:.1f}x" for f in names[1:] if f in times)
        print(f"{workload:56s}{cells}   {ratios}")
    _print_limits(results)
    return results


def _print_limits(results):
    """GEMM rates and the MLP epoch against the FLOP limit that NumPy's BLAS shows here."""
    nd, npy = results.get("numdense", {}), results.get("numpy", {})
    if "blas" in npy:
        print(f"\nNumPy's BLAS: {npy['blas']}")
    flop = 2 * GEMM_N**3
    for workload in WORKLOADS[5:7]:
        if workload in nd and workload in npy:
            print(f"{workload.split(',')[0]}: numdense "
                  f"{flop / nd[workload] / 1e9:.1f} GFLOP/s, NumPy {flop / npy[workload] / 1e9:.1f} "
                  f"GFLOP/s ({npy[workload] / nd[workload]:.0%} of NumPy)")
    if WORKLOADS[5] in npy and WORKLOADS[1] in nd:
        rate = flop / npy[WORKLOADS[5]]
        epoch_flop = MLP_SAMPLE_FLOP * nd["mlp_samples"]
        limit = epoch_flop / rate
        print(f"MLP epoch: {epoch_flop:.3g} FLOP; at NumPy's float32 GEMM rate "
              f"({rate / 1e9:.0f} GFLOP/s) that is {limit * 1e3:.0f} ms; numdense's epoch takes "
              f"{nd[WORKLOADS[1]] / limit:.2f}x that (target: within 2x)")


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
    parser.add_argument("--framework", help="measure one framework and print JSON (internal)")
    _interpreters.add_option(parser)
    args = parser.parse_args()
    if args.framework:
        print(json.dumps(measure(args.framework, args.quick)))
    else:
        main(args.quick, _interpreters.parse(args.python))
