"""Conv2D and pooling layers on the CUDA device (simulator at tiny sizes) match the CPU ones:
forward, gradients, and a short fit of a small CNN."""

import numpy as np
import pytest

import numdense as nd
from numdense import backend
from numdense.layers import AveragePooling2D, Conv2D, Dense, Flatten, GlobalAveragePooling2D, MaxPooling2D


def _model(dev):
    with nd.device(dev):
        model = nd.Sequential([
            nd.layers.Input((4, 4, 2)),
            Conv2D(3, 2, activation="relu", padding="same"),
            MaxPooling2D(2, padding="same"),
            Conv2D(2, 2, activation="tanh"),
            AveragePooling2D(1),
            Flatten(),
            Dense(3),
        ])
    rng = np.random.default_rng(7)
    model.set_weights([rng.uniform(-0.6, 0.6, w.shape).astype("float32") for w in model.get_weights()])
    return model


@pytest.mark.cpu_reference
def test_cnn_forward_and_fit_match_cpu():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 4, 4, 2)).astype("float32")
    y = rng.integers(0, 3, 4)
    cpu, gpu = _model("cpu"), _model("cuda")
    assert gpu.device == "cuda" and backend.is_device_array(gpu.layers[0].kernel.value)
    np.testing.assert_allclose(gpu.predict(x, verbose=0), cpu.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    for model in (cpu, gpu):
        model.compile(optimizer=nd.optimizers.SGD(0.1),
                      loss=nd.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(gpu.get_weights(), cpu.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_global_average_pool_layer_on_device():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 2, 4)).astype("float32")
    layer = GlobalAveragePooling2D(keepdims=True)
    dx = backend.to_device(x)
    y = layer._train_forward(dx)
    np.testing.assert_allclose(y.copy_to_host(), x.mean(axis=(1, 2), keepdims=True), rtol=1e-5, atol=1e-6)
    g = layer._train_backward(backend.to_device(np.ones((2, 1, 1, 4), "float32")))
    np.testing.assert_allclose(g.copy_to_host(), np.full(x.shape, 1 / 6), rtol=1e-6)
