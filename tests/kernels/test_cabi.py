"""Kernels behind C symbols (``kernels/cpu/_cabi``): compiled on their first call, per dtype,
reached from compiled callers (cached or not) through a slot, typed strictly."""

import json
import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from numba.core.errors import TypingError

from numdense.kernels.cpu import dense, losses, matmul, optimizers
from numdense.kernels.cpu._views import address_table, view2

# Run in a fresh process: which kernels a process has compiled depends on what it ran before.
_SCRIPT = r"""
import json, threading
import numpy as np
import numdense as nd
from numba import types
from numdense.kernels.cpu import _gemm, dense, gather, losses, matmul, optimizers

KERNELS = {"ukernel": _gemm.UKERNEL, "act_forward": dense._ACT_FORWARD, "act_backward": dense._ACT_BACKWARD,
           "dense_forward": dense._FORWARD, "dense_backward": dense._BACKWARD,
           "matmul": matmul._MATMUL, "loss": losses._LOSS_VALUE_AND_GRAD,
           "optimizer": optimizers._OPTIMIZER_UPDATE, "adam_parallel": optimizers._ADAM_PARALLEL,
           "gather_parallel": gather._GATHER_PARALLEL}

def compiled():
    return {f"{name}_{t}": k[t].compiled for name, k in KERNELS.items()
            for t in (types.float32, types.float64)}

report = {"start": compiled()}
x = np.random.default_rng(0).random((64, 2)).astype(np.float32)
tiny = nd.Sequential([nd.Input((2,)), nd.layers.Dense(1)])
tiny.compile(optimizer="adam", loss="mse")
tiny.fit(x, x[:, :1], batch_size=32, epochs=1, verbose=0)
report["tiny"] = compiled()

# Seeded: two epochs of a few steps lower the loss for most initial weights, not all (the
# big model below rose in 8 of 20 seeds); the loss checks are a sanity check of the run.
nd.utils.set_random_seed(7)
x = np.random.default_rng(1).random((64, 64)).astype(np.float32)
y = np.eye(3, dtype=np.float32)[np.arange(64) % 3]
wide = nd.Sequential([nd.Input((64,)), nd.layers.Dense(64, activation="relu"),
                      nd.layers.Dense(3, activation="softmax")])
wide.compile(optimizer="sgd", loss="categorical_crossentropy")
history = wide.fit(x, y, batch_size=32, epochs=2, verbose=0)
report["wide"] = compiled()
report["wide_losses"] = history.history["loss"]

# A 256 x 256 kernel (65,536 weights) and 128-row batches of 256 features take the parallel
# Adam rule and the parallel gather.
nd.utils.set_random_seed(7)
x = np.random.default_rng(4).random((256, 256)).astype(np.float32)
big = nd.Sequential([nd.Input((256,)), nd.layers.Dense(256, activation="relu"), nd.layers.Dense(1)])
big.compile(optimizer="adam", loss="mse")
report["big_losses"] = big.fit(x, x[:, :1], batch_size=128, epochs=2, verbose=0).history["loss"]
report["big"] = compiled()

# Two threads reach the float64 product's resolver at once.
a = np.random.default_rng(2).random((96, 80))
b = np.random.default_rng(3).random((80, 72))
outs = [np.empty((96, 72)) for _ in range(2)]
threads = [threading.Thread(target=matmul.matmul_into, args=(a, b, o, False)) for o in outs]
for t in threads:
    t.start()
for t in threads:
    t.join()
report["threads_ok"] = all(bool(np.allclose(o, a @ b)) for o in outs)
report["after"] = compiled()
print("REPORT" + json.dumps(report))
"""


@pytest.fixture(scope="module")
def report():
    done = subprocess.run([sys.executable, "-c", _SCRIPT], env=dict(os.environ),
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("REPORT"))
    return json.loads(line[len("REPORT"):])


def test_nothing_is_compiled_at_import(report):
    assert not any(report["start"].values()), report["start"]


def test_a_tiny_float32_model_compiles_no_gemm_no_float64_and_no_unused_rule(report):
    # Dense(1) on 2 inputs runs as plain loops inside the training loop; MSE and Adam are
    # inlined there: none of the C kernels is needed, not even the GEMM micro-kernels.
    assert not any(report["tiny"].values()), report["tiny"]


def test_compiled_callers_resolve_what_they_first_call(report):
    wide = report["wide"]
    for name in ("ukernel", "act_forward", "act_backward", "dense_forward", "dense_backward",
                 "matmul", "loss", "optimizer"):
        assert wide[f"{name}_float32"], name
        assert not wide[f"{name}_float64"], name
    losses_ = report["wide_losses"]
    assert np.all(np.isfinite(losses_)) and losses_[1] < losses_[0]
    # SGD and 32-row batches of 64 features: neither parallel step part is needed.
    assert not wide["adam_parallel_float32"] and not wide["gather_parallel_float32"]


def test_big_layers_take_the_parallel_adam_rule_and_gather(report):
    big = report["big"]
    assert big["adam_parallel_float32"] and big["gather_parallel_float32"]
    assert not big["adam_parallel_float64"] and not big["gather_parallel_float64"]
    losses_ = report["big_losses"]
    assert np.all(np.isfinite(losses_)) and losses_[1] < losses_[0]


def test_threads_share_one_resolution(report):
    assert report["threads_ok"]
    assert report["after"]["matmul_float64"]
    assert not report["after"]["dense_forward_float64"]


def test_address_is_stable():
    symbol = matmul._MATMUL[numba.types.float64]
    assert symbol.address() == symbol.address() != 0
    assert symbol.compiled


def test_arrays_of_other_dtypes_are_a_typing_error():
    @numba.njit
    def call(a, b, out):
        matmul._matmul(a, b, out, False, False, False)

    a = np.ones((2, 3), np.int64)
    with pytest.raises(TypingError, match="must be float32 or float64"):
        call(a, a.T.copy(), np.ones((2, 2), np.int64))


def test_non_contiguous_arrays_are_a_typing_error():
    @numba.njit
    def call(a, b, out):
        matmul._matmul(a[:, ::2], b, out, False, False, False)

    with pytest.raises(TypingError, match="argument 0 must be a 2-D C-contiguous array"):
        call(np.ones((2, 6)), np.ones((3, 2)), np.ones((2, 2)))


def test_loss_kernel_refuses_mixed_dtypes():
    # Mixed dtypes compile (to a trap) behind the run-time check that refuses them.
    with pytest.raises(TypeError, match="must share one dtype"):
        losses.loss_value_and_grad_into(np.ones((2, 3)), np.ones((2, 3), np.float32),
                                        np.ones(2), np.ones((2, 3)), 1, 0.0)


def test_table_reader_types_its_table():
    @numba.njit
    def read(table, like):
        return view2(table, 0, like)[0, 0]

    w = np.arange(6.0).reshape(2, 3)
    assert read(address_table([w], np.float64), w) == 0.0
    with pytest.raises(TypingError, match="table must be a C-contiguous 2-D int64 array"):
        read(np.zeros((1, 3), np.int32), w)


def test_kernels_of_both_dtypes_have_distinct_symbols():
    for kernel in (dense._FORWARD, dense._BACKWARD, optimizers._OPTIMIZER_UPDATE):
        f32, f64 = kernel[numba.types.float32], kernel[numba.types.float64]
        assert f32.name != f64.name and f32.slot_name != f64.slot_name
