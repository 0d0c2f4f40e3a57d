"""``MPIStrategy``: data-parallel training over MPI.

The one-rank checks run in this process first (which also fills the Numba cache with the
data-parallel step kernels). Two-rank runs go through ``mpiexec -n 2`` on the scripts in
``mpi_scripts/``, each under a hard subprocess timeout, so a hang fails the test instead of
the suite.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import numdense as nd

pytest.importorskip("mpi4py")

SCRIPTS = os.path.join(os.path.dirname(__file__), "mpi_scripts")


def _mpiexec():
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = beside if os.path.exists(beside) else shutil.which("mpiexec")
    if found is None:
        pytest.skip("no mpiexec (pip install numdense[mpi])")
    return found


def _rank_env():
    """The ranks import the numdense this process tests (a script's own directory comes first on
    its path, so without this they could load an installed copy and compile it all again)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(nd.__file__)))
    return dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH")) if p))


def _run_two_ranks(script, *args, timeout=600):
    cmd = [_mpiexec(), "-n", "2", sys.executable, os.path.join(SCRIPTS, script), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_rank_env())


# ---------------------------------------------------------------- one rank, in this process
def _model(seed=3):
    nd.utils.set_random_seed(seed)
    model = nd.Sequential([nd.Input((3,)), nd.layers.Dense(4, activation="relu"),
                           nd.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("per_layer", [False, True], ids=["compiled", "per-layer"])
def test_one_rank_fit_and_evaluate_equal_plain_fit(per_layer):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(45, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    plain = _model()
    plain_history = plain.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    strategy = nd.distribute.MPIStrategy(timeout=30)
    with strategy.scope():
        assert nd.distribute.get_strategy() is strategy
        model = _model()
    assert nd.distribute.get_strategy() is None
    model._force_python_path = per_layer  # the step of models the compiled kernels do not take
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(history.history[key], plain_history.history[key], rtol=1e-6)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), plain.evaluate(x, y, verbose=0),
                               rtol=1e-6)


def test_shard_splits_contiguously_and_timeout_is_validated():
    strategy = nd.distribute.MPIStrategy()
    a, b = strategy.shard(np.arange(7), np.arange(7) * 2)
    np.testing.assert_array_equal(a, np.arange(7))  # one rank holds everything
    np.testing.assert_array_equal(b, np.arange(7) * 2)
    with pytest.raises(ValueError, match="timeout"):
        nd.distribute.MPIStrategy(timeout=0)


def test_a_two_output_functional_model_is_refused_under_the_strategy():
    inp = nd.Input((3,))
    outs = [nd.layers.Dense(1, name="a")(inp), nd.layers.Dense(1, name="b")(inp)]
    with nd.distribute.MPIStrategy().scope():
        model = nd.Model(inp, outs)
        model.compile("sgd", "mse")
    x = np.zeros((4, 3), "float32")
    with pytest.raises(NotImplementedError, match="one input and one output"):
        model.fit(x, [np.zeros((4, 1)), np.zeros((4, 1))], verbose=0)


# ---------------------------------------------------------------- two ranks, under mpiexec
def test_two_ranks_train_like_one_process_with_the_global_batch(tmp_path):
    proc = _run_two_ranks("train_equivalence.py", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    weights = np.load(tmp_path / "result.npz")
    for i in range(4):
        # Replicas stay identical, and equal the one-process run within float32 rounding.
        np.testing.assert_array_equal(weights[f"rank0_w{i}"], weights[f"rank1_w{i}"])
        np.testing.assert_allclose(weights[f"rank0_w{i}"], weights[f"ref_w{i}"],
                                   rtol=1e-5, atol=1e-6)
    result = json.loads((tmp_path / "result.json").read_text())
    assert set(result["history"]) == {"loss", "mae", "val_loss", "val_mae"}
    for key, values in result["ref_history"].items():
        np.testing.assert_allclose(result["history"][key], values, rtol=1e-5)
    for key, value in result["ref_evaluate"].items():
        np.testing.assert_allclose(result["evaluate"][key], value, rtol=1e-5)
    assert result["callback_calls"] == [3, 0]  # callbacks run on rank 0 only
    assert sorted(os.listdir(tmp_path)) == ["model_rank0.keras", "result.json", "result.npz"]


@pytest.mark.parametrize("mode, message", [
    ("mismatch", "rank 1 does not run the same model or fit settings as rank 0"),
    ("hang", "did not complete within timeout=2 s"),
    ("kill", "Killed"),
])
def test_a_failing_rank_ends_the_job_with_an_error(mode, message):
    proc = _run_two_ranks("failures.py", mode, timeout=300)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert "finished" not in proc.stdout


def test_the_mpi_example_trains_on_two_ranks(tmp_path):
    pytest.importorskip("sklearn")
    example = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "mpi_train.py")
    saved = tmp_path / "digits.keras"
    cmd = [_mpiexec(), "-n", "2", sys.executable, example, "--epochs", "2", "--save", str(saved)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=_rank_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # mpiexec merges the ranks' output, so a report may not start a line of its own.
    reports = sorted(re.findall(r"rank (\d): test loss [\d.]+, test accuracy ([\d.]+)",
                                proc.stdout))
    assert [rank for rank, _ in reports] == ["0", "1"]
    # Both ranks report the same reduced accuracy, well above chance after two epochs.
    accuracies = {float(acc) for _, acc in reports}
    assert len(accuracies) == 1 and accuracies.pop() > 0.5
    assert saved.exists()
