"""Every Keras ``train`` reference case: loss history, final weights, predict and evaluate.

Each case runs through both training paths (the compiled Dense-stack loop and the per-layer
Python path); they must both match Keras within the reference tolerances.
"""

import numpy as np
import pytest

import numdense as nd
from tests import reference

CASES = reference.cases("train")
_CLASS_OF_LOSS = {
    "binary_crossentropy": "BinaryCrossentropy",
    "categorical_crossentropy": "CategoricalCrossentropy",
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
}


def build_model(case):
    layers = []
    for spec in case["model"]:
        if spec["class_name"] == "Input":
            layers.append(nd.Input(shape=tuple(spec["config"]["shape"])))
        else:
            layers.append(nd.layers.deserialize({"class_name": spec["class_name"],
                                                 "config": dict(spec["config"])}))
    return nd.Sequential(layers)


def make_loss(spec):
    name = spec["name"]
    if name in _CLASS_OF_LOSS:
        return nd.losses.deserialize({"class_name": _CLASS_OF_LOSS[name],
                                      "config": {"from_logits": spec["from_logits"]}})
    assert not spec["from_logits"]
    return name


def initial_weights(data, prefix):
    keys = sorted((k for k in data if k.startswith(prefix)), key=lambda k: int(k[len(prefix):]))
    return [data[k] for k in keys]


@pytest.mark.parametrize("path", ["compiled", "python"])
@pytest.mark.parametrize("case", CASES, ids=reference.case_id)
def test_training_matches_keras(case, path):
    data = reference.load(case)
    model = build_model(case)
    model.set_weights(initial_weights(data, "w0_"))
    model._force_python_path = path == "python"
    model.compile(optimizer=nd.optimizers.get(case["optimizer"]), loss=make_loss(case["loss"]),
                  metrics=case.get("metrics"))
    fit = dict(case["fit"])
    history = model.fit(data["x"], data["y"], verbose=0, **fit)
    if path == "compiled":
        assert model._plans and all(p is not None for p in model._plans.values())
    tol = reference.TRAIN_TOL
    for key in case.get("history_keys", ["loss"]):
        np.testing.assert_allclose(history.history[key], data["history_" + key], **tol,
                                   err_msg=key)
    for got, want in zip(model.get_weights(), initial_weights(data, "w1_")):
        np.testing.assert_allclose(got, want, **tol)
    np.testing.assert_allclose(model.predict(data["x"], verbose=0), data["pred_after"], **tol)
    result = model.evaluate(data["x"], data["y"], batch_size=fit["batch_size"], verbose=0)
    if "evaluate_all" in data:
        np.testing.assert_allclose(np.atleast_1d(result), np.atleast_1d(data["evaluate_all"]), **tol)
    else:
        np.testing.assert_allclose(result, data["evaluate_loss"], **tol)
