"""Saving: atomic writes, damaged and foreign files, resumable training, Keras cross-check."""

import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import numdense as nd
from numdense.layers import Dense
from numdense.saving import keras_archive

h5py = pytest.importorskip("h5py")


def model_and_data(name="m"):
    model = nd.Sequential([nd.Input((5,)), Dense(7, activation="relu"), Dense(3)], name=name)
    model.compile(optimizer=nd.optimizers.Adam(0.01), loss="mse")
    rng = np.random.default_rng(3)
    return model, rng.normal(size=(30, 5)).astype("float32"), rng.normal(size=(30, 3))


# ------------------------------------------------------------------------ atomicity
@pytest.mark.parametrize("filename", ["m.keras", "m.h5", "m.weights.h5"])
def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch, filename):
    model, x, _ = model_and_data()
    path = tmp_path / filename
    save = model.save_weights if filename.endswith(".weights.h5") else model.save
    save(path)
    before = path.read_bytes()
    for layer in model.layers:
        layer.kernel.assign(np.zeros(layer.kernel.shape))

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(h5py.Group, "create_dataset", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [filename]  # no temporary file left behind


def test_failure_while_zipping_keeps_the_old_file(tmp_path, monkeypatch):
    model, _, _ = model_and_data()
    path = tmp_path / "m.keras"
    model.save(path)
    before = path.read_bytes()
    real = zipfile.ZipFile.writestr

    def half(self, name, data, *args, **kwargs):
        if name == keras_archive.WEIGHTS:
            raise KeyboardInterrupt
        return real(self, name, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", half)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.keras"]


# ------------------------------------------------------------ damaged or foreign files
@pytest.fixture
def saved(tmp_path):
    model, _, _ = model_and_data()
    model.save(tmp_path / "good.keras")
    return tmp_path / "good.keras"


def rewrite_zip(src, dst, drop=(), replace=None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            if name in drop:
                continue
            zout.writestr(name, (replace or {}).get(name, zin.read(name)))


def test_truncated_archive(saved, tmp_path):
    data = saved.read_bytes()
    for cut in (len(data) // 2, len(data) - 30):
        bad = tmp_path / f"cut{cut}.keras"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="truncated|Corrupt|corrupt|not a valid"):
            nd.models.load_model(bad)


def test_random_bytes_and_wrong_formats(tmp_path):
    junk = tmp_path / "junk.keras"
    junk.write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(ValueError, match="not a valid .keras archive"):
        nd.models.load_model(junk)
    junk_h5 = tmp_path / "junk.h5"
    junk_h5.write_bytes(b"\x89HDF" + bytes(500))
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        nd.models.load_model(junk_h5)
    with pytest.raises(ValueError, match="File not found"):
        nd.models.load_model(tmp_path / "missing.keras")
    other = tmp_path / "m.pkl"
    other.write_bytes(b"x")
    with pytest.raises(ValueError, match="File format not supported"):
        nd.models.load_model(other)


def test_archive_without_config_or_weights(saved, tmp_path):
    rewrite_zip(saved, tmp_path / "a.keras", drop=("config.json",))
    with pytest.raises(ValueError, match="no 'config.json'"):
        nd.models.load_model(tmp_path / "a.keras")
    rewrite_zip(saved, tmp_path / "b.keras", replace={"model.weights.h5": b"not hdf5"})
    with pytest.raises(ValueError, match="not a readable HDF5"):
        nd.models.load_model(tmp_path / "b.keras")
    rewrite_zip(saved, tmp_path / "c.keras", replace={"config.json": b"{oops"})
    with pytest.raises(ValueError, match="not valid JSON"):
        nd.models.load_model(tmp_path / "c.keras")


def test_h5_without_model_config(tmp_path):
    model, _, _ = model_and_data()
    model.save_weights(tmp_path / "w.weights.h5")
    os.rename(tmp_path / "w.weights.h5", tmp_path / "w.h5")
    with pytest.raises(ValueError, match="No model config found.*load_weights"):
        nd.models.load_model(tmp_path / "w.h5")


def edited_config(saved, tmp_path, edit):
    with zipfile.ZipFile(saved) as zf:
        config = json.loads(zf.read("config.json"))
    edit(config)
    out = tmp_path / "edited.keras"
    rewrite_zip(saved, out, replace={"config.json": json.dumps(config).encode()})
    return out


def test_unknown_layer_class_is_named(saved, tmp_path):
    def edit(config):
        config["config"]["layers"][1]["class_name"] = "LSTM"

    with pytest.raises(ValueError, match="Unsupported layer type 'LSTM'"):
        nd.models.load_model(edited_config(saved, tmp_path, edit))


def test_unsupported_option_is_named(saved, tmp_path):
    def quantized(config):
        config["config"]["layers"][1]["config"]["quantization_config"] = {"mode": "int8"}

    with pytest.raises(ValueError, match="quantization_config"):
        nd.models.load_model(edited_config(saved, tmp_path, quantized))

    def unknown(config):
        config["config"]["layers"][2]["config"]["lora_magic"] = 3

    with pytest.raises(ValueError, match="lora_magic"):
        nd.models.load_model(edited_config(saved, tmp_path, unknown))

    def bad_loss(config):
        config["compile_config"]["loss"] = "no_such_loss"

    path = edited_config(saved, tmp_path, bad_loss)
    with pytest.raises(ValueError, match="no_such_loss.*compile=False"):
        nd.models.load_model(path)
    assert nd.models.load_model(path, compile=False).built


def test_failed_load_weights_changes_nothing(tmp_path):
    model, x, _ = model_and_data("a")
    model.save_weights(tmp_path / "a.weights.h5")
    other = nd.Sequential([nd.Input((5,)), Dense(7, activation="relu"), Dense(4)], name="b")
    before = other.get_weights()
    with pytest.raises(ValueError, match="shape"):
        other.load_weights(tmp_path / "a.weights.h5")
    for a, b in zip(before, other.get_weights()):
        np.testing.assert_array_equal(a, b)  # the first layer, which matched, is untouched too
    with pytest.warns(UserWarning, match="skipped"):
        other.load_weights(tmp_path / "a.weights.h5", skip_mismatch=True)
    np.testing.assert_array_equal(other.layers[0].kernel.numpy(), model.layers[0].kernel.numpy())
    fewer = nd.Sequential([nd.Input((5,)), Dense(7)])
    with pytest.raises(ValueError, match="not yet been built|expects"):
        nd.Sequential([Dense(2)]).load_weights(tmp_path / "a.weights.h5")
    fewer.load_weights(tmp_path / "a.weights.h5")  # extra entries in the file are ignored, as Keras


def test_missing_h5py_says_what_to_install(tmp_path, monkeypatch):
    model, _, _ = model_and_data()
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r"numdense\[h5\]"):
        model.save(tmp_path / "m.keras")
    assert not (tmp_path / "m.keras").exists()


# ------------------------------------------------------------------- resuming training
def test_fit_resumes_after_save_and_load(tmp_path):
    model, x, y = model_and_data("resume")
    initial = model.get_weights()
    model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    model.save(tmp_path / "half.keras")
    resumed = nd.models.load_model(tmp_path / "half.keras")
    assert resumed.optimizer.iterations == 8
    resumed.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)

    straight, _, _ = model_and_data("straight")
    straight.set_weights(initial)
    straight.fit(x, y, epochs=4, batch_size=8, shuffle=False, verbose=0)
    assert resumed.optimizer.iterations == straight.optimizer.iterations == 16
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    for a, b in zip(resumed.optimizer.variables, straight.optimizer.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- Keras cross-check
KERAS_SCRIPT = """
import sys, numpy as np, keras
d = np.load(sys.argv[2])
m = keras.models.load_model(sys.argv[1])
print(float(np.abs(m.predict(d["x"], verbose=0) - d["y"]).max()), int(m.optimizer.iterations))
"""


def keras_python():
    """A Python with Keras: $NUMDENSE_KERAS_PYTHON, or this one if it has Keras, else skip."""
    python = os.environ.get("NUMDENSE_KERAS_PYTHON")
    if python:
        return python
    pytest.importorskip("keras")
    return sys.executable


def test_keras_loads_numdense_files(tmp_path):
    """Keras 3 itself loads numdense's .keras and .h5 files and predicts the same (runs where
    Keras is available; it is not a numdense dependency)."""
    python = keras_python()
    model, x, y = model_and_data()
    # Keras' legacy .h5 loader cannot resolve loss aliases such as "mse" (also in files Keras
    # writes itself), so this model uses the full name.
    model.compile(optimizer=nd.optimizers.Adam(0.01), loss="mean_squared_error")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    np.savez(tmp_path / "io.npz", x=x, y=model.predict(x, verbose=0))
    for name in ("m.keras", "m.h5"):
        model.save(tmp_path / name)
        out = subprocess.run([python, "-c", KERAS_SCRIPT, str(tmp_path / name),
                              str(tmp_path / "io.npz")], capture_output=True, text=True,
                             check=True, env=dict(os.environ, KERAS_BACKEND="jax"))
        diff, iterations = out.stdout.split()[-2:]
        assert float(diff) < 1e-5 and int(iterations) == 4


def test_truncated_or_foreign_hdf5(tmp_path):
    model, _, _ = model_and_data()
    model.save(tmp_path / "m.h5")
    model.save_weights(tmp_path / "w.weights.h5")
    for name in ("m.h5", "w.weights.h5"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / f"cut_{name}").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut_m.h5"):
        nd.models.load_model(tmp_path / "cut_m.h5")
    before = model.get_weights()
    with pytest.raises(ValueError, match="cut_w.weights.h5"):
        model.load_weights(tmp_path / "cut_w.weights.h5")
    with h5py.File(tmp_path / "foreign.weights.h5", "w") as f:
        f["images"] = np.zeros((2, 2))
    with pytest.raises(ValueError, match="Not a Keras 3 weights file"):
        model.load_weights(tmp_path / "foreign.weights.h5")
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
