"""Data-parallel training over MPI: the digits MLP on every rank, gradients summed each step.

Run:   mpiexec -n 2 python examples/mpi_train.py [--epochs N] [--batch-size B]
       (pip install "numdense[mpi,examples]" installs mpi4py, MPICH and scikit-learn.)

Every rank loads the data and keeps its shard; rank 0's initial weights are broadcast when fit
starts; each step trains on ranks x batch-size samples. Rank 0 alone prints progress and saves
the model; every rank reports the test accuracy reduced over all ranks' shards of the test set.
It also works without mpiexec (one rank).
"""

import argparse
import time

import numpy as np

import numdense as nd


def load_digits(seed=0):
    """(x_train, y_train, x_test, y_test): scikit-learn's 8x8 digits, float32 in [0, 1], 80/20."""
    from sklearn.datasets import load_digits as sk_digits

    digits = sk_digits()
    x = digits.data.astype(np.float32) / 16.0
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    split = int(0.8 * len(x))
    return x[order[:split]], y[order[:split]], x[order[split:]], y[order[split:]]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32, help="per-rank batch size")
    parser.add_argument("--save", default=None, help="path of a .keras file rank 0 writes")
    args = parser.parse_args(argv)

    strategy = nd.distribute.MPIStrategy(timeout=300)
    x_train, y_train, x_test, y_test = load_digits()
    nd.utils.set_random_seed(strategy.rank)  # different seeds: fit broadcasts rank 0's weights
    with strategy.scope():
        model = nd.Sequential([
            nd.Input((64,)),
            nd.layers.Dense(128, activation="relu"),
            nd.layers.Dense(10, activation="softmax"),
        ])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    if strategy.is_chief:
        print(f"{strategy.num_replicas_in_sync} rank(s), global batch "
              f"{strategy.num_replicas_in_sync * args.batch_size}")
    t0 = time.perf_counter()
    model.fit(*strategy.shard(x_train, y_train), batch_size=args.batch_size,
              epochs=args.epochs, verbose=2 if strategy.is_chief else 0)
    elapsed = time.perf_counter() - t0
    loss, accuracy = model.evaluate(*strategy.shard(x_test, y_test), verbose=0)
    print(f"rank {strategy.rank}: test loss {loss:.4f}, test accuracy {accuracy:.4f} "
          f"(all ranks' shards), fit {elapsed:.2f} s", flush=True)
    if args.save:
        model.save(args.save)  # written by rank 0 only
    return accuracy


if __name__ == "__main__":
    main()
