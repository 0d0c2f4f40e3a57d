"""Saving and loading: Keras reference files, round trips, file layouts, JSON configs."""

import json
import warnings
import zipfile

import numpy as np
import pytest

import numdense as nd
from numdense.layers import Dense, Dropout
from tests.reference import MODELS

h5py = pytest.importorskip("h5py")


def small_model(compiled=True, name="small"):
    model = nd.Sequential([
        nd.Input((6,)),
        Dense(8, activation="relu", kernel_regularizer="l2",
              kernel_constraint=nd.constraints.MaxNorm(2.0)),
        Dropout(0.25),
        Dense(5, activation="tanh", use_bias=False),
        Dense(3, activation="softmax"),
    ], name=name)
    if compiled:
        model.compile(optimizer=nd.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    return model


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)).astype("float32"), rng.integers(0, 3, n)


@pytest.fixture
def trained():
    model = small_model()
    x, y = data()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    return model, x


def assert_same_model(a, b, x):
    assert a.get_config() == b.get_config()
    for va, vb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(va.numpy(), vb.numpy())
    np.testing.assert_array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))


# ------------------------------------------------------------ Keras reference files
@pytest.mark.parametrize("filename", ["digits_mlp.keras", "digits_mlp.h5"])
def test_keras_reference_files_reproduce_keras_predictions(filename):
    with np.load(MODELS / "digits_mlp_expected.npz") as z:
        expected = {k: z[k] for k in z.files}
    model = nd.models.load_model(MODELS / filename)
    np.testing.assert_allclose(model.predict(expected["x"], verbose=0), expected["y"],
                               rtol=0, atol=1e-5)
    accuracy = (model.predict(expected["test_x"], verbose=0).argmax(1) == expected["test_y"]).mean()
    keras_accuracy = json.loads((MODELS / "models.json").read_text())["digits_mlp_test_accuracy"]
    assert accuracy == pytest.approx(keras_accuracy, abs=1e-6)
    # the compile config and the optimizer state come back too
    assert model.compiled and isinstance(model.optimizer, nd.optimizers.Adam)
    assert model.loss == "sparse_categorical_crossentropy" and model._metric_ids == ["accuracy"]
    assert model.optimizer.iterations > 0
    assert [l.name for l in model.layers] == ["dense", "dropout", "dense_1", "dense_2"]
    assert isinstance(model.layers[1], Dropout) and model.layers[1].rate == 0.1


def test_keras_reference_compile_false_skips_optimizer():
    model = nd.models.load_model(MODELS / "digits_mlp.keras", compile=False)
    assert not model.compiled


def test_functional_file_names_the_unsupported_feature(tmp_path):
    # Functional files load now (tests/test_functional.py); an unsupported option still fails
    # with its name.
    with zipfile.ZipFile(MODELS / "functional_rank3.keras") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"][1]["config"]["quantization_config"] = {"mode": "int8"}
    members["config.json"] = json.dumps(config).encode()
    path = tmp_path / "quantized.keras"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(ValueError, match="quantization_config.*per_step|per_step.*quantization"):
        nd.models.load_model(path)


def test_saved_config_is_what_keras_writes():
    with zipfile.ZipFile(MODELS / "digits_mlp.keras") as zf:
        keras_config = json.loads(zf.read("config.json"))
    model = nd.models.load_model(MODELS / "digits_mlp.keras")

    def without_sharing_ids(obj):  # Keras' in-process object ids, meaningless in a file
        if isinstance(obj, dict):
            return {k: without_sharing_ids(v) for k, v in obj.items() if k != "shared_object_id"}
        if isinstance(obj, list):
            return [without_sharing_ids(v) for v in obj]
        return obj

    assert json.loads(model.to_json()) == without_sharing_ids(keras_config)


# ------------------------------------------------------------------- round trips
def test_keras_archive_round_trip(trained, tmp_path):
    model, x = trained
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = nd.models.load_model(path)
    assert_same_model(model, loaded, x)
    assert loaded.optimizer.iterations == model.optimizer.iterations == 5
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert loaded.get_compile_config() == model.get_compile_config()


def test_keras_archive_layout(trained, tmp_path):
    model, _ = trained
    path = tmp_path / "m.keras"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        assert set(zf.namelist()) == {"metadata.json", "config.json", "model.weights.h5"}
        config = json.loads(zf.read("config.json"))
        assert json.loads(zf.read("metadata.json"))["keras_version"].startswith("3.")
        weights = zf.read("model.weights.h5")
    assert config["class_name"] == "Sequential" and config["module"] == "keras"
    import io

    with h5py.File(io.BytesIO(weights), "r") as f:
        assert f["vars"].attrs["name"] == "small"
        np.testing.assert_array_equal(f["layers/dense/vars/0"][()], model.layers[0].kernel.numpy())
        assert f["layers/dense/vars"].attrs["name"] == model.layers[0].name
        assert len(f["layers/dropout/vars"]) == 0
        assert list(f["layers/dense_1/vars"]) == ["0"]  # no bias
        assert f["optimizer/vars/0"][()] == 5 and f["optimizer/vars/0"].dtype == np.int64
        assert len(f["optimizer/vars"]) == 2 + 2 * len(model.trainable_weights)


def test_legacy_h5_round_trip(trained, tmp_path):
    model, x = trained
    model.save(tmp_path / "m.h5")
    loaded = nd.models.load_model(tmp_path / "m.h5")
    assert_same_model(model, loaded, x)
    assert loaded.optimizer.iterations == 5
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert "model_config" in f.attrs and "training_config" in f.attrs
        names = [n.decode() for n in f["model_weights"].attrs["layer_names"]]
        assert names == [layer.name for layer in model.layers]


def test_unbuilt_and_uncompiled_models_round_trip(tmp_path):
    model = nd.Sequential([Dense(4), Dense(2)], name="lazy")
    model.save(tmp_path / "lazy.keras")
    loaded = nd.models.load_model(tmp_path / "lazy.keras")
    assert not loaded.built and not loaded.compiled
    built = nd.Sequential([Dense(4, input_shape=(3,)), Dense(2)])
    built.save(tmp_path / "b.keras")
    again = nd.models.load_model(tmp_path / "b.keras")
    assert_same_model(built, again, np.ones((2, 3), np.float32))


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_compiled_untrained_model_round_trips_without_warnings(tmp_path, suffix):
    """Saved before any step, the optimizer holds only its step count and learning rate; the
    loaded model restores them, warns about nothing, and trains like the original."""
    model = nd.Sequential([nd.Input((3,)), Dense(4, activation="tanh"), Dense(2)])
    model.compile(nd.optimizers.Adam(0.005), "mse")
    path = tmp_path / f"untrained{suffix}"
    model.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = nd.models.load_model(path)
    assert loaded.optimizer.iterations == 0
    assert float(loaded.optimizer.learning_rate) == pytest.approx(0.005)
    x = np.linspace(-1, 1, 24, dtype=np.float32).reshape(8, 3)
    y = np.cos(x[:, :2])
    h1 = model.fit(x, y, epochs=2, shuffle=False, verbose=0).history
    h2 = loaded.fit(x, y, epochs=2, shuffle=False, verbose=0).history
    assert h1 == h2


def test_save_weights_load_weights(trained, tmp_path):
    model, x = trained
    path = tmp_path / "w.weights.h5"
    model.save_weights(path)
    other = small_model(name="other")
    other.build((None, 6))
    other.load_weights(path)
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    assert other.optimizer.iterations == 5
    # .keras and .h5 files serve as weight sources too
    model.save(tmp_path / "m.keras")
    model.save(tmp_path / "m.h5")
    for source in ("m.keras", "m.h5"):
        fresh = small_model(compiled=False)
        fresh.build((None, 6))
        fresh.load_weights(tmp_path / source)
        np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))


def test_save_weights_argument_errors(tmp_path):
    model = small_model()
    with pytest.raises(ValueError, match="must end in `.weights.h5`"):
        model.save_weights(tmp_path / "w.h5")
    with pytest.raises(ValueError, match="not yet been built"):
        nd.Sequential([Dense(2)]).save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(ValueError, match="Invalid filepath extension"):
        model.save(tmp_path / "m.pkl")
    model.save(tmp_path / "m.keras")
    with pytest.raises(FileExistsError):
        model.save(tmp_path / "m.keras", overwrite=False)


def test_json_and_config_round_trip(trained):
    model, x = trained
    clone = nd.models.model_from_json(model.to_json())
    assert clone.get_config() == model.get_config()
    assert clone.compiled and clone.get_compile_config() == model.get_compile_config()
    again = nd.Sequential.from_config(model.get_config())
    assert again.get_config() == model.get_config()
    assert json.loads(model.to_json(indent=2))["class_name"] == "Sequential"


def test_compile_config_round_trip_with_objects():
    model = small_model(compiled=False)
    model.compile(optimizer=nd.optimizers.SGD(0.1, momentum=0.9),
                  loss=nd.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], loss_weights=0.5)
    config = model.get_compile_config()
    other = small_model(compiled=False)
    other.compile_from_config(config)
    assert isinstance(other.optimizer, nd.optimizers.SGD) and other.optimizer.momentum == 0.9
    assert other.get_compile_config() == config
    assert other.optimizer.built


def test_checkpoint_callback_saves_loadable_models(tmp_path):
    model = small_model()
    x, y = data()
    path = str(tmp_path / "ck-{epoch}.keras")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[nd.callbacks.ModelCheckpoint(path)])
    loaded = nd.models.load_model(tmp_path / "ck-2.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_serve_keras_model_example(capsys):
    import pathlib
    import runpy

    example = pathlib.Path(__file__).resolve().parents[1] / "examples" / "serve_keras_model.py"
    out = runpy.run_path(str(example))["main"](repeats=20, with_keras=False)
    assert out["max_abs_error"] < 1e-5 and out["numdense_call"] > 0
    assert "single-sample latency" in capsys.readouterr().out
