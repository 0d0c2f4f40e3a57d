"""The examples run and print what the tutorials promise."""

import runpy
import pathlib

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def test_dense_tutorials(capsys):
    ns = runpy.run_path(str(EXAMPLES / "dense_tutorials.py"))
    ns["one_layer_model"]()
    assert "Total params: 210" in capsys.readouterr().out
    ns["three_layer_mlp"]()
    assert "Total params: 3,589" in capsys.readouterr().out
    np.testing.assert_array_equal(ns["ones_weights"](), [[14, 14, 14, 14, 14]])
    np.testing.assert_array_equal(ns["custom_square_activation"](), [[64, 64]])


def test_linear_regression_recovers_the_coefficients(capsys):
    ns = runpy.run_path(str(EXAMPLES / "linear_regression.py"))
    model, history = ns["main"](epochs=400, verbose=0)
    kernel, bias = model.layers[0].get_weights()
    np.testing.assert_allclose(kernel.ravel(), [2.0, 3.0], atol=0.05)
    np.testing.assert_allclose(bias, [4.0], atol=0.05)
    assert history.history["loss"][-1] < 0.011  # noise variance 0.01; Keras reports 0.0096
    assert "predictions:" in capsys.readouterr().out


def test_digits_mlp_reaches_95_percent(tmp_path):
    pytest.importorskip("sklearn")
    ns = runpy.run_path(str(EXAMPLES / "digits_mlp.py"))
    plot = tmp_path / "history.png"
    model, history, accuracy = ns["main"](epochs=100, verbose=0, plot_path=plot)
    assert accuracy >= 0.95
    assert len(history.history["loss"]) <= 100 and "val_accuracy" in history.history
    if pytest.importorskip("matplotlib"):
        assert plot.stat().st_size > 10_000
