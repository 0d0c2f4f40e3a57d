"""The Keras CNN tutorial model trained on scikit-learn's 8x8 digits brought to 28x28.

Each digit pixel is repeated 3x3 (24x24) and padded by 2 on each side (28x28x1), the layout
of MNIST; the model is exactly the tutorial's:
Conv2D(32, 3, relu) -> MaxPooling2D(2) -> Conv2D(64, 3, relu) -> MaxPooling2D(2) ->
Conv2D(64, 3, relu) -> Flatten -> Dense(64, relu) -> Dense(10).

Run: python examples/cnn_digits.py [--epochs N]
"""

import argparse
import time

import numpy as np

import numdense as nd
from numdense.layers import Conv2D, Dense, Flatten, MaxPooling2D


def load_digits_28(limit=None, seed=0):
    """(x_train, y_train, x_test, y_test): digits as float32 (n, 28, 28, 1) in [0, 1], 80/20."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0
    big = np.kron(images, np.ones((1, 3, 3), dtype=np.float32))  # (n, 24, 24)
    x = np.pad(big, ((0, 0), (2, 2), (2, 2)))[..., None]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    split = int(0.8 * len(x))
    x_train, y_train, x_test, y_test = x[:split], y[:split], x[split:], y[split:]
    if limit is not None:
        x_train, y_train = x_train[:limit], y_train[:limit]
    return x_train, y_train, x_test, y_test


def build_model():
    """The Keras CNN tutorial model (93,322 parameters)."""
    return nd.Sequential([
        Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        MaxPooling2D((2, 2)),
        Conv2D(64, (3, 3), activation="relu"),
        MaxPooling2D((2, 2)),
        Conv2D(64, (3, 3), activation="relu"),
        Flatten(),
        Dense(64, activation="relu"),
        Dense(10),
    ])


def main(epochs=8, train_limit=None, batch_size=32, verbose=2, seed=0, summary=True):
    """Trains the tutorial CNN; returns (model, test accuracy, seconds per epoch).

    Args:
        epochs: training epochs.
        train_limit: use only this many training samples (None: all 1437).
        batch_size: samples per update.
        verbose: ``fit`` verbosity.
        seed: seed of the split and of the weights.
        summary: print ``model.summary()``.
    """
    nd.utils.set_random_seed(seed)
    x_train, y_train, x_test, y_test = load_digits_28(train_limit, seed)
    model = build_model()
    if summary:
        model.summary()
    steps = -(-len(x_train) // batch_size)
    # The learning rate decays to 10 % over the run: the last epochs settle instead of jumping.
    schedule = nd.optimizers.schedules.CosineDecay(2e-3, decay_steps=epochs * steps, alpha=0.1)
    model.compile(optimizer=nd.optimizers.Adam(schedule),
                  loss=nd.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.fit(x_train, y_train, epochs=1, batch_size=batch_size, verbose=verbose)
        times.append(time.perf_counter() - start)
    logits = model.predict(x_test, verbose=0)
    accuracy = float(np.mean(np.argmax(logits, axis=1) == y_test))
    per_epoch = float(np.median(times[1:] if len(times) > 1 else times))
    print(f"test accuracy: {accuracy:.4f} ({len(x_test)} samples)")
    print(f"epoch time: {per_epoch:.3f} s ({len(x_train)} samples, batch {batch_size}; "
          f"first epoch {times[0]:.3f} s)")
    return model, accuracy, per_epoch


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    main(epochs=args.epochs, batch_size=args.batch_size)
