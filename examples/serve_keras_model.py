"""Serve a model trained and saved by Keras: load ``digits_mlp.keras``, predict, time it.

The file was written by Keras 3.15 (``tests/data/keras_reference/models``). numdense loads it
into a ``Sequential`` running on Numba kernels, checks its predictions against the ones Keras
recorded, and times single-sample latency: numdense's ``model(x)`` and ``predict``, and, when
Keras is installed (any backend; JAX is tried by default), Keras' ``predict`` and ``model(x)``
on the same file.
Run: python examples/serve_keras_model.py
"""

import os
import pathlib
import time

import numpy as np

import numdense as nd

MODELS = pathlib.Path(__file__).resolve().parents[1] / "tests" / "data" / "keras_reference" / "models"


def median_latency(fn, x, repeats):
    """Median seconds of ``fn(x)`` over ``repeats`` calls, after a few warm-up calls."""
    for _ in range(5):
        fn(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def load_keras():
    """The ``keras`` module, or None when it (or a backend for it) is not installed."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    try:
        import keras
    except Exception:  # an installed Keras without a usable backend raises various errors
        return None
    return keras


def main(path=MODELS / "digits_mlp.keras", repeats=300, with_keras=True):
    """Loads ``path``, checks and times it; prints a report and returns the numbers.

    Args:
        path: a ``.keras`` (or ``.h5``) file of a Sequential model.
        repeats: timed calls per measurement.
        with_keras: also time Keras on the same file when Keras is importable.

    Returns:
        dict with ``max_abs_error`` (vs Keras' recorded outputs), ``accuracy`` and the
        latencies in seconds (``numdense_call``, ``numdense_predict`` and, with Keras,
        ``keras_predict``, ``keras_call``).
    """
    model = nd.models.load_model(path)
    with np.load(MODELS / "digits_mlp_expected.npz") as z:
        x, expected, test_x, test_y = z["x"], z["y"], z["test_x"], z["test_y"]
    out = {
        "max_abs_error": float(np.abs(model.predict(x, verbose=0) - expected).max()),
        "accuracy": float((model.predict(test_x, verbose=0).argmax(1) == test_y).mean()),
    }
    sample = np.ascontiguousarray(test_x[:1])
    out["numdense_call"] = median_latency(model, sample, repeats)
    out["numdense_predict"] = median_latency(lambda s: model.predict(s, verbose=0), sample,
                                             repeats)
    keras = load_keras() if with_keras else None
    if keras is not None:
        keras_model = keras.models.load_model(path)
        out["keras_predict"] = median_latency(lambda s: keras_model.predict(s, verbose=0),
                                              sample, max(repeats // 10, 10))
        out["keras_call"] = median_latency(lambda s: np.asarray(keras_model(s)), sample, repeats)
        out["keras_backend"] = keras.backend.backend()
    report(model, out)
    return out


def report(model, out):
    print(f"loaded '{model.name}': {len(model.layers)} layers, {model.count_params():,} params")
    print(f"max |numdense - Keras| on the recorded outputs: {out['max_abs_error']:.2e}")
    print(f"test accuracy: {out['accuracy']:.4f}")
    print("single-sample latency (median):")
    rows = [("numdense model(x)", "numdense_call"), ("numdense predict(x)", "numdense_predict"),
            ("Keras predict(x)", "keras_predict"), ("Keras model(x)", "keras_call")]
    for label, key in rows:
        if key in out:
            print(f"  {label:<22}{out[key] * 1e6:>10.1f} us")
    if "keras_predict" in out:
        print(f"  (Keras backend: {out['keras_backend']}; numdense model(x) is "
              f"{out['keras_predict'] / out['numdense_call']:.0f}x faster than Keras predict)")
    else:
        print("  Keras is not installed: install keras and a backend (e.g. jax) to compare.")


if __name__ == "__main__":
    main()
