"""A functional model with shared and merge layers on the CUDA device matches the CPU."""

import numpy as np
import pytest

import numdense as nd
from numdense.layers import Add, Concatenate, Dense, Multiply


def _model(seed):
    a, b = nd.Input((3,), name="a"), nd.Input((3,), name="b")
    shared = Dense(4, activation="tanh", name="shared",
                   kernel_initializer=nd.initializers.GlorotUniform(seed))
    ha, hb = shared(a), shared(b)
    out1 = Dense(2, name="o1", kernel_initializer=nd.initializers.GlorotUniform(seed + 1))(
        Concatenate()([ha, Multiply()([ha, hb])]))
    out2 = Dense(1, name="o2", kernel_initializer=nd.initializers.GlorotUniform(seed + 2))(
        Add()([ha, hb]))
    return nd.Model([a, b], [out1, out2])


@pytest.mark.cpu_reference
def test_functional_predict_and_fit_on_cuda():
    r = np.random.default_rng(0)
    x = [r.random((6, 3)).astype(np.float32), r.random((6, 3)).astype(np.float32)]
    y = [r.random((6, 2)).astype(np.float32), r.random((6, 1)).astype(np.float32)]
    cpu = _model(3)
    with nd.device("cuda"):
        gpu = _model(3)
    assert gpu.device == "cuda" and cpu.device == "cpu"
    for p, q in zip(gpu.predict(x, verbose=0), cpu.predict(x, verbose=0)):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6)
    histories = []
    for m in (cpu, gpu):
        m.compile("sgd", ["mse", "mse"])
        histories.append(m.fit(x, y, epochs=2, batch_size=3, shuffle=False, verbose=0).history)
    for key in histories[0]:
        np.testing.assert_allclose(histories[1][key], histories[0][key], rtol=1e-5)
    for p, q in zip(gpu.get_weights(), cpu.get_weights()):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6)
