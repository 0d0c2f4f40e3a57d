"""An MLP classifier on scikit-learn's bundled 8x8 digits (no download needed).

Validation split, EarlyStopping with best-weight restore, test accuracy, and a loss/accuracy
plot written to ``digits_mlp_history.png`` (needs matplotlib; skipped with a note otherwise).
Run: python examples/digits_mlp.py
"""

import pathlib

import numpy as np

import numdense as nd
from numdense.layers import Dense, Dropout


def load_digits(seed=0):
    from sklearn.datasets import load_digits as sk_load_digits

    digits = sk_load_digits()
    x = digits.data.astype("float32") / 16.0
    y = digits.target.astype("int64")
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    split = int(0.8 * len(x))
    return (x[:split], y[:split]), (x[split:], y[split:])


def build_model():
    return nd.Sequential([
        nd.Input(shape=(64,)),
        Dense(64, activation="relu"),
        Dropout(0.1, seed=1),
        Dense(32, activation="relu"),
        Dense(10, activation="softmax"),
    ])


def plot_history(history, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot written (pip install matplotlib)")
        return None
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for key in ("loss", "val_loss"):
        ax1.plot(history.history[key], label=key)
    for key in ("accuracy", "val_accuracy"):
        ax2.plot(history.history[key], label=key)
    ax1.set_xlabel("epoch"), ax2.set_xlabel("epoch")
    ax1.set_title("loss"), ax2.set_title("accuracy")
    ax1.legend(), ax2.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def main(epochs=100, verbose=2, plot_path="digits_mlp_history.png"):
    nd.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = load_digits()
    model = build_model()
    model.summary()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    stop = nd.callbacks.EarlyStopping(monitor="val_loss", patience=8, restore_best_weights=True)
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=32, validation_split=0.15,
                        callbacks=[stop], verbose=verbose)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test loss {loss:.4f}, test accuracy {accuracy:.4f}")
    if plot_path:
        written = plot_history(history, pathlib.Path(plot_path))
        if written:
            print(f"plot written to {written}")
    return model, history, accuracy


if __name__ == "__main__":
    main()
