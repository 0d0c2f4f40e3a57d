"""Model-level tests run on both devices (the CUDA simulator at tiny sizes, or a GPU): weights,
optimizer state and training live on the device in force when the model is built; predict,
get_weights and set_weights exchange NumPy arrays; a CUDA-trained model matches the CPU one."""

import numpy as np
import pytest

import numdense as nd
from numdense import backend

DEVICES = ["cpu", "cuda"]
on_both = pytest.mark.parametrize("dev", DEVICES)


def _data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 5)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, n)]
    return x, y


def _model(dev, dropout=False, activation_layer=False):
    with nd.device(dev):
        layers = [
            nd.layers.Input((5,)),
            nd.layers.Dense(4, activation="relu", kernel_regularizer=nd.regularizers.L2(0.01),
                            kernel_constraint=nd.constraints.MaxNorm(0.6)),
        ]
        if dropout:
            layers.append(nd.layers.Dropout(0.25, seed=3))
        if activation_layer:
            layers += [nd.layers.Dense(3), nd.layers.Activation("softmax")]
        else:
            layers.append(nd.layers.Dense(3, activation="softmax"))
        model = nd.models.Sequential(layers)
    rng = np.random.default_rng(42)
    model.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype("float32")
                       for w in model.get_weights()])
    return model


@on_both
def test_weights_live_on_the_device_and_exchange_numpy(dev):
    model = _model(dev)
    assert model.device == dev
    for v in model.weights:
        assert backend.is_device_array(v.value) == (dev == "cuda")
    weights = model.get_weights()
    assert all(type(w) is np.ndarray for w in weights)
    model.set_weights([w + 1 for w in weights])
    np.testing.assert_array_equal(model.get_weights()[0], weights[0] + 1)
    assert backend.get_device() == "cpu"  # the context manager restored it


def test_predict_matches_cpu():
    x, _ = _data()
    ref = _model("cpu").predict(x, batch_size=4, verbose=0)
    gpu = _model("cuda")
    out = gpu.predict(x, batch_size=4, verbose=0)
    assert type(out) is np.ndarray
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gpu(x), ref, rtol=1e-5, atol=1e-6)
    dev_out = gpu(backend.to_device(x))  # device input: device output
    assert backend.is_device_array(dev_out)
    np.testing.assert_allclose(backend.to_host(dev_out), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.cpu_reference
@pytest.mark.parametrize("kwargs", [{}, {"activation_layer": True}, {"dropout": True}])
def test_fit_on_cuda_matches_cpu(kwargs):
    x, y = _data()
    results = {}
    for dev in DEVICES:
        model = _model(dev, **kwargs)
        model.compile(optimizer=nd.optimizers.Adam(0.05), loss="categorical_crossentropy",
                      metrics=["accuracy"])
        if kwargs.get("dropout"):
            model._force_python_path = True  # the same host noise draws on both devices
        history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        results[dev] = (history.history, model.get_weights(), model.optimizer.variables,
                        model.evaluate(x, y, verbose=0))
        if dev == "cuda":
            assert all(backend.is_device_array(v.value)
                       for v in model.optimizer.variables if v.shape)
            assert model.optimizer.iterations == 8
    (h_cpu, w_cpu, s_cpu, e_cpu), (h_gpu, w_gpu, s_gpu, e_gpu) = results["cpu"], results["cuda"]
    np.testing.assert_allclose(h_gpu["loss"], h_cpu["loss"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h_gpu["accuracy"], h_cpu["accuracy"])
    for a, b in zip(w_gpu, w_cpu):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    for a, b in zip(s_gpu, s_cpu):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(e_gpu, e_cpu, rtol=1e-5, atol=1e-5)


def test_train_on_batch_and_sparse_loss_match_cpu():
    x, y = _data()
    labels = y.argmax(axis=1)
    out = {}
    for dev in DEVICES:
        model = _model(dev)
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        out[dev] = ([model.train_on_batch(x[:8], labels[:8]) for _ in range(3)],
                    model.get_weights())
    np.testing.assert_allclose(out["cuda"][0], out["cpu"][0], rtol=1e-5, atol=1e-6)
    for a, b in zip(out["cuda"][1], out["cpu"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_set_device_errors(monkeypatch):
    with pytest.raises(ValueError, match="Unknown device"):
        nd.set_device("tpu")
    monkeypatch.setattr(backend, "_cuda_problem", lambda: "no usable NVIDIA GPU (test)")
    with pytest.raises(RuntimeError, match="Cannot use the 'cuda' device: no usable NVIDIA GPU"):
        nd.set_device("cuda")
    assert backend.get_device() == "cpu"


def test_device_context_and_unsupported_options():
    with nd.device("cuda"):
        assert nd.get_device() == "cuda"
        layer = nd.layers.Dense(2, activation=lambda t: t * 2)
        layer.build((None, 3))
    assert nd.get_device() == "cpu"
    assert layer.kernel.device == "cuda"
    with pytest.raises(NotImplementedError, match="custom Python activation"):
        layer(np.ones((2, 3), "float32"))
    model = _model("cuda")
    model.compile(optimizer=nd.optimizers.Adam(use_ema=True), loss="mse")
    with pytest.raises(NotImplementedError, match="use_ema"):
        model.fit(*_data(), verbose=0)
