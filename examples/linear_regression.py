"""The Keras tutorial's linear regression, trained with numdense.

1000 samples of y = 2*x1 + 3*x2 + 4 + noise, one Dense unit, Adam, 400 epochs.
Run: python examples/linear_regression.py [--epochs N] [--verbose 0|1|2]
"""

import argparse
import time

import numpy as np

import numdense as nd
from numdense.layers import Dense


def make_data(n=1000, seed=42):
    np.random.seed(seed)
    x = np.random.rand(n, 2)
    y = 2 * x[:, 0] + 3 * x[:, 1] + 4 + np.random.randn(n) * 0.1
    return x, y


def main(epochs=400, verbose="auto"):
    x, y = make_data()
    model = nd.Sequential([Dense(1, input_shape=(2,))])
    model.compile(optimizer="adam", loss="mean_squared_error")
    start = time.perf_counter()
    history = model.fit(x, y, epochs=epochs, verbose=verbose)
    seconds = time.perf_counter() - start
    test = np.array([[1, 1], [2, 3], [3, 4], [4, 5], [5, 6]])
    print("predictions:", model.predict(test, verbose=0).ravel())
    print("expected:   ", 2 * test[:, 0] + 3 * test[:, 1] + 4)
    kernel, bias = model.layers[0].get_weights()
    print(f"weights: {kernel.ravel()}  bias: {bias}  (true: [2. 3.]  4.0)")
    print(f"final loss {history.history['loss'][-1]:.4f}; fit took {seconds:.3f} s")
    return model, history


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--verbose", default="auto")
    args = parser.parse_args()
    verbose = args.verbose if args.verbose == "auto" else int(args.verbose)
    main(args.epochs, verbose)
