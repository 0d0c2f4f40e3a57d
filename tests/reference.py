"""Access to the Keras reference data copied into ``tests/data/keras_reference``."""

import json
import pathlib

import numpy as np

DATA = pathlib.Path(__file__).parent / "data" / "keras_reference"
CASES = DATA / "cases"
MODELS = DATA / "models"

# Tolerances the reference README promises a faithful float32 implementation meets.
FORWARD_TOL = dict(rtol=1e-5, atol=1e-6)
TRAIN_TOL = dict(rtol=1e-4, atol=1e-5)


def manifest():
    with open(CASES / "manifest.json") as f:
        return json.load(f)["cases"]


def cases(kind):
    """All manifest entries of one kind (``activation``, ``dense``, ``loss``, ``train``, ...)."""
    found = [c for c in manifest() if c["kind"] == kind]
    assert found, f"no reference cases of kind {kind!r}"
    return found


def load(case):
    """The arrays of one case as a plain dict."""
    with np.load(CASES / case["file"]) as z:
        return {k: z[k] for k in z.files}


def case_id(case):
    return case["file"].rsplit(".", 1)[0]
