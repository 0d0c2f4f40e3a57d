"""The Keras ``train`` reference cases trained on the CUDA device (simulator or GPU): loss
history, final weights and predictions within the reference tolerances."""

import numpy as np
import pytest

import numdense as nd
from tests import reference
from tests.test_training_reference import build_model, initial_weights, make_loss


# The simulator runs one Python thread per CUDA thread, so a whole trajectory costs seconds there.
# It runs the cases below, which between them cover the device's loss, penalty, constraint,
# clipping and validation paths; every case runs on real hardware.
SIMULATOR_CASES = {"train_3", "train_4", "train_6", "train_8", "train_9", "train_11",
                   "train_extra_5"}


def _cases():
    for case in reference.cases("train"):
        marks = () if reference.case_id(case) in SIMULATOR_CASES else (pytest.mark.gpu,)
        yield pytest.param(case, marks=marks, id=reference.case_id(case))


def _unsupported_on_device(case):
    for layer in case["model"]:
        if "activity_regularizer" in layer.get("config", {}):
            return "activity regularizers are not supported on the CUDA device yet"
    return None


@pytest.mark.parametrize("case", list(_cases()))
def test_training_on_cuda_matches_keras(case):
    reason = _unsupported_on_device(case)
    if reason:
        pytest.skip(reason)
    data = reference.load(case)
    with nd.device("cuda"):
        model = build_model(case)
    assert model.device == "cuda"
    model.set_weights(initial_weights(data, "w0_"))
    model.compile(optimizer=nd.optimizers.get(case["optimizer"]), loss=make_loss(case["loss"]),
                  metrics=case.get("metrics"))
    history = model.fit(data["x"], data["y"], verbose=0, **case["fit"])
    tol = reference.TRAIN_TOL
    for key in case.get("history_keys", ["loss"]):
        np.testing.assert_allclose(history.history[key], data["history_" + key], **tol,
                                   err_msg=key)
    for got, want in zip(model.get_weights(), initial_weights(data, "w1_")):
        np.testing.assert_allclose(got, want, **tol)
    np.testing.assert_allclose(model.predict(data["x"], verbose=0), data["pred_after"], **tol)
