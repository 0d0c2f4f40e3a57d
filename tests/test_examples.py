"""The examples run and print what the tutorials promise."""

import runpy
import pathlib

import numpy as np

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def test_dense_tutorials(capsys):
    ns = runpy.run_path(str(EXAMPLES / "dense_tutorials.py"))
    ns["one_layer_model"]()
    assert "Total params: 210" in capsys.readouterr().out
    ns["three_layer_mlp"]()
    assert "Total params: 3,589" in capsys.readouterr().out
    np.testing.assert_array_equal(ns["ones_weights"](), [[14, 14, 14, 14, 14]])
    np.testing.assert_array_equal(ns["custom_square_activation"](), [[64, 64]])
