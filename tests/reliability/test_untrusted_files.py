"""Loading files from untrusted sources: no code runs, nothing is written, absurd sizes are
refused with a clear ValueError before anything large is allocated."""

import base64
import json
import marshal
import os
import zipfile

import numpy as np
import pytest

import numdense as nd
from numdense.layers import Dense
from numdense.saving import keras_archive

h5py = pytest.importorskip("h5py")

def saved_model(tmp_path):
    model = nd.Sequential([nd.Input((3,)), Dense(4, activation="relu"), Dense(2)], name="m")
    model.compile(optimizer="adam", loss="mse")
    path = tmp_path / "good.keras"
    model.save(path)
    return model, path


def rebuild(src, dst, replace=None, extra=()):
    """Copies the archive ``src`` to ``dst``, replacing members and appending ``extra``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            zout.writestr(name, (replace or {}).get(name, zin.read(name)))
        for name, data in extra:
            zout.writestr(zipfile.ZipInfo(name), data)
    return dst


def edit_config(src, dst, edit):
    with zipfile.ZipFile(src) as zf:
        config = json.loads(zf.read(keras_archive.CONFIG))
    edit(config)
    return rebuild(src, dst, replace={keras_archive.CONFIG: json.dumps(config).encode()})


def refused(path, match, **kwargs):
    with pytest.raises(ValueError, match=match):
        nd.models.load_model(path, **kwargs)


def sentinel_code(target):
    """Base64 marshalled bytecode of a lambda that creates ``target`` (Keras' ``__lambda__``
    serialization format)."""
    fn = eval(f"lambda x: open({str(target)!r}, 'w').write('ran') and x")  # noqa: S307 (the test builds the hostile file)
    return base64.b64encode(marshal.dumps(fn.__code__)).decode("ascii")


@pytest.mark.parametrize("safe_mode", [True, False])
def test_lambda_activation_is_never_run(tmp_path, safe_mode):
    _, good = saved_model(tmp_path)
    flag = tmp_path / "code_ran"
    hostile = {"class_name": "__lambda__", "config": {"value": [sentinel_code(flag), None, None]}}

    def edit(config):
        config["config"]["layers"][1]["config"]["activation"] = hostile

    path = edit_config(good, tmp_path / f"lambda_{safe_mode}.keras", edit)
    refused(path, "__lambda__", safe_mode=safe_mode)
    assert not flag.exists()


def test_lambda_layer_and_foreign_modules_are_refused(tmp_path):
    _, good = saved_model(tmp_path)
    flag = tmp_path / "code_ran"

    def lambda_layer(config):
        config["config"]["layers"].insert(1, {
            "module": "keras.layers", "class_name": "Lambda",
            "config": {"name": "lam", "function": {
                "class_name": "__lambda__", "config": {"value": [sentinel_code(flag), None, None]}}},
        })

    refused(edit_config(good, tmp_path / "lambda_layer.keras", lambda_layer),
            "Unsupported layer type 'Lambda'")

    def os_system(config):
        config["config"]["layers"][1]["config"]["activation"] = {
            "module": "os", "class_name": "system", "config": f"touch {flag}",
            "registered_name": None}

    refused(edit_config(good, tmp_path / "os_system.keras", os_system), "system")

    def builtin_eval(config):
        config["compile_config"]["loss"] = {
            "module": "builtins", "class_name": "function", "config": "eval",
            "registered_name": "eval"}

    refused(edit_config(good, tmp_path / "eval_loss.keras", builtin_eval), "eval")
    assert not flag.exists()


def test_pickled_object_dataset_is_refused(tmp_path):
    """An object (vlen bytes) dataset where a weight belongs is refused; nothing unpickles it."""
    model, good = saved_model(tmp_path)
    with zipfile.ZipFile(good) as zf:
        weights = zf.read(keras_archive.WEIGHTS)
    hacked = tmp_path / "w.h5"
    hacked.write_bytes(weights)
    with h5py.File(hacked, "a") as f:
        del f["layers/dense/vars/0"]
        f.create_dataset("layers/dense/vars/0", data=np.array([b"cos\nsystem\n"], dtype=object))
    path = rebuild(good, tmp_path / "pickle.keras",
                   replace={keras_archive.WEIGHTS: hacked.read_bytes()})
    refused(path, "not numeric|dtype")


@pytest.mark.parametrize("member", ["../escaped.txt", "/tmp/numdense_abs_escape.txt",
                                    "a/../../escaped.txt", "..\\escaped.txt"])
def test_path_traversal_members_are_refused(tmp_path, member):
    _, good = saved_model(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    path = rebuild(good, work / "slip.keras", extra=[(member, b"owned")])
    before = sorted(p.name for p in tmp_path.rglob("*"))
    refused(path, "unsafe member name")
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert not os.path.exists("/tmp/numdense_abs_escape.txt")


def test_loading_writes_no_file(tmp_path):
    model, good = saved_model(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    loaded = nd.models.load_model(good)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_zip_bomb_member_is_refused_before_inflating(tmp_path, monkeypatch):
    _, good = saved_model(tmp_path)
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == keras_archive.CONFIG:
                data = data + b" " * (96 << 20)  # 96 MiB of spaces deflate ~1000:1
            zout.writestr(name, data)
    assert bomb.stat().st_size < (1 << 20)
    inflated = []
    real = zipfile.ZipFile.read
    monkeypatch.setattr(zipfile.ZipFile, "read",
                        lambda self, name, pwd=None: inflated.append(name) or real(self, name, pwd))
    refused(bomb, "expansion ratio")
    assert keras_archive.CONFIG not in inflated


def test_lying_declared_size_is_refused(tmp_path):
    """A central directory that declares a tiny size for a large member: the read stops at the
    declared size and the CRC check refuses the member."""
    _, good = saved_model(tmp_path)
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as zf:
        info = zf.getinfo(keras_archive.CONFIG)
    real = info.file_size.to_bytes(4, "little")
    fake = (info.file_size // 2).to_bytes(4, "little")
    at = data.rfind(b"PK\x01\x02" + data[data.find(b"PK\x01\x02") + 4:data.find(b"PK\x01\x02") + 20])
    offset = data.find(real, at)  # uncompressed size field of the central directory entry
    data[offset:offset + 4] = fake
    local = data.find(real)  # and of the local header
    data[local:local + 4] = fake
    path = tmp_path / "lying.keras"
    path.write_bytes(bytes(data))
    refused(path, "Corrupt|not valid|JSON")


def huge_dataset_weights(good, tmp_path, shape):
    with zipfile.ZipFile(good) as zf:
        weights = zf.read(keras_archive.WEIGHTS)
    hacked = tmp_path / "w.h5"
    hacked.write_bytes(weights)
    with h5py.File(hacked, "a") as f:
        del f["layers/dense/vars/0"]
        f.create_dataset("layers/dense/vars/0", shape=shape, dtype="float32", chunks=(1, 1))
    return hacked.read_bytes()


def test_absurd_weight_shape_in_h5_is_refused(tmp_path):
    """A chunked dataset declaring 40 TB in a file of a few KiB: refused before reading."""
    _, good = saved_model(tmp_path)
    path = rebuild(good, tmp_path / "huge_w.keras",
                   replace={keras_archive.WEIGHTS: huge_dataset_weights(good, tmp_path,
                                                                        (10**7, 10**6))})
    refused(path, "declare .* bytes")
    moderate = rebuild(good, tmp_path / "moderate_w.keras",
                       replace={keras_archive.WEIGHTS: huge_dataset_weights(good, tmp_path,
                                                                            (3, 10**8))})
    refused(moderate, "declare .* bytes")  # 1.2 GB: allocatable, still refused


@pytest.mark.parametrize("units, width", [(10**7, 10**6), (50_000, 100_000)])
def test_absurd_layer_sizes_in_config_are_refused(tmp_path, units, width):
    _, good = saved_model(tmp_path)

    def edit(config):
        layers = config["config"]["layers"]
        layers[0]["config"]["batch_shape"] = [None, width]
        layers[1]["config"]["units"] = units
        config["config"].pop("build_input_shape", None)
        for layer in layers:
            layer.pop("build_config", None)

    path = edit_config(good, tmp_path / f"huge_{units}.keras", edit)
    refused(path, "parameters")


def test_absurd_shapes_in_legacy_h5_are_refused(tmp_path):
    model, _ = saved_model(tmp_path)
    path = tmp_path / "huge.h5"
    model.save(path)
    with h5py.File(path, "a") as f:
        config = json.loads(f.attrs["model_config"])
        config["config"]["layers"][0]["config"]["batch_shape"] = [None, 10**6]
        config["config"]["layers"][1]["config"]["units"] = 10**7
        config["config"].pop("build_input_shape", None)
        for layer in config["config"]["layers"]:
            layer.pop("build_config", None)
        f.attrs["model_config"] = json.dumps(config)
    refused(path, "declares .* parameters")


@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
def test_absurd_dataset_in_weights_and_legacy_h5_is_refused(tmp_path, suffix):
    """Plain HDF5 files get the archive's declared-size check: a chunked dataset declaring
    40 TB in a file of a few KiB is refused before any weight is read, leaving the model as it
    was."""
    model, _ = saved_model(tmp_path)
    path = tmp_path / f"huge{suffix}"
    if suffix == ".h5":
        model.save(path)
    else:
        model.save_weights(path)
    with h5py.File(path, "a") as f:
        names = []
        f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset)
                     and obj.ndim == 2 else None)
        del f[names[0]]
        f.create_dataset(names[0], shape=(10**7, 10**6), dtype="float32", chunks=(1, 1))
    before = model.get_weights()
    with pytest.raises(ValueError, match="declare .* bytes"):
        model.load_weights(path)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    if suffix == ".h5":
        refused(path, "declare .* bytes")
