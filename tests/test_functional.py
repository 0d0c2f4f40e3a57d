"""Functional models: building, node API, summary, training, saving, errors."""

import numpy as np
import pytest

import numdense as nd
from numdense.layers import Add, Concatenate, Dense, Dropout, Reshape

DATA = "tests/data/keras_reference/models/"


def _two_io(seed=0):
    a = nd.Input((4,), name="in_a")
    b = nd.Input((3,), name="in_b")
    shared = Dense(3, name="shared", kernel_initializer=nd.initializers.GlorotUniform(seed))
    ha, hb = shared(a), shared(Dense(4, name="proj_b")(b))
    out1 = Dense(2, name="out1")(Concatenate(name="cat")([ha, hb]))
    out2 = Dense(1, name="out2")(Add(name="add")([ha, hb]))
    return nd.Model([a, b], [out1, out2], name="two_io"), (a, b, shared, ha, hb)


def _data(n=10, seed=1):
    r = np.random.default_rng(seed)
    return ([r.random((n, 4)), r.random((n, 3))],
            [r.random((n, 2)), r.random((n, 1))])


def test_build_order_shared_layer_and_node_api():
    model, (a, b, shared, ha, hb) = _two_io()
    assert isinstance(model, nd.Model) and isinstance(model, nd.models.Functional)
    assert [l.name for l in model.layers] == ["in_b", "in_a", "proj_b", "shared", "cat",
                                              "add", "out1", "out2"]
    assert model.inputs == [a, b] and model.output_shape == [(None, 2), (None, 1)]
    assert shared.get_input_at(0) is a and shared.get_output_at(1) is hb
    assert shared.get_input_shape_at(1) == (None, 4) and shared.get_output_shape_at(0) == (None, 3)
    assert shared.output_shape == (None, 3)  # both nodes agree
    flatten = nd.layers.Flatten()
    flatten(nd.Input((2, 3)))
    flatten(nd.Input((6,)))
    assert flatten.output_shape == (None, 6)
    with pytest.raises(AttributeError, match="multiple inbound nodes, with different input"):
        flatten.input_shape
    with pytest.raises(ValueError, match="Asked to get input at node 2, but the layer has only 2"):
        shared.get_input_at(2)
    with pytest.raises(RuntimeError, match="has never been called"):
        Dense(2).get_output_at(0)
    assert model.get_layer("in_a").output_shape == [(None, 4)]  # Keras 2's InputLayer form
    assert model.get_layer("cat").input_shape == [(None, 3), (None, 3)]


def test_call_predict_and_input_errors():
    model, _ = _two_io()
    x, _ = _data(70)
    w = {l.name: l.get_weights() for l in model.layers}
    outs = model.predict(x, verbose=0)
    sh = lambda v: v @ w["shared"][0] + w["shared"][1]  # noqa: E731
    ha, hb = sh(x[0]), sh(x[1] @ w["proj_b"][0] + w["proj_b"][1])
    ref1 = np.concatenate([ha, hb], 1) @ w["out1"][0] + w["out1"][1]
    np.testing.assert_allclose(outs[0], ref1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outs[1], (ha + hb) @ w["out2"][0] + w["out2"][1], rtol=1e-5,
                               atol=1e-6)
    by_name = model({"in_a": x[0], "in_b": x[1]})
    np.testing.assert_array_equal(by_name[0], model(x)[0])
    with pytest.raises(ValueError, match="expects 2 input"):
        model.predict(x[0], verbose=0)
    with pytest.raises(ValueError, match=r"missing data for input\(s\) \['in_b'\]"):
        model({"in_a": x[0]})
    with pytest.raises(ValueError, match="incompatible: expected shape"):
        model([x[1], x[0]])


def test_graph_errors():
    a, b = nd.Input((2,), name="ga"), nd.Input((2,), name="gb")
    out = Add()([a, Dense(2)(b)])
    with pytest.raises(ValueError, match="Graph disconnected.*'gb'"):
        nd.Model(a, out)
    c = nd.Input((2,), name="gc")
    d1, d2 = Dense(2, name="twin"), Dense(2, name="twin")
    with pytest.raises(ValueError, match='name "twin" is used 2 times'):
        nd.Model(c, d2(d1(c)))
    with pytest.raises(ValueError, match="must be symbolic tensors"):
        nd.Model(c, np.zeros(2))


def test_summary_text_two_inputs():
    a = nd.Input((784,), name="input_1")
    b = nd.Input((10,), name="input_2")
    h = Dense(64, activation="relu", name="dense")(a)
    c = Concatenate(name="concatenate")([h, b])
    model = nd.Model([a, b], Dense(10, name="dense_1")(c), name="model")
    lines = []
    model.summary(print_fn=lines.append)
    rule = "_" * 98
    expected = [
        'Model: "model"',
        rule,
        " Layer (type)                   Output Shape         Param #     Connected to",
        "=" * 98,
        " input_1 (InputLayer)           [(None, 784)]        0           []",
        "",
        " dense (Dense)                  (None, 64)           50240       ['input_1[0][0]']",
        "",
        " input_2 (InputLayer)           [(None, 10)]         0           []",
        "",
        " concatenate (Concatenate)      (None, 74)           0           ['dense[0][0]',",
        "                                                                  'input_2[0][0]']",
        "",
        " dense_1 (Dense)                (None, 10)           750         ['concatenate[0][0]']",
        "",
        "=" * 98,
        "Total params: 50,990",
        "Trainable params: 50,990",
        "Non-trainable params: 0",
        rule,
    ]
    assert [l.rstrip() for l in lines] == expected
    assert all(len(l) == 98 for l in lines[2:15])


def test_multi_io_fit_evaluate_history_names():
    model, _ = _two_io()
    x, y = _data(12)
    model.compile("sgd", loss=["mse", "mae"], loss_weights={"out1": 1.0, "out2": 0.5},
                  metrics={"out1": ["mae"], "out2": ["mse"]})
    history = model.fit(x, {"out1": y[0], "out2": y[1]}, epochs=2, batch_size=5, verbose=0,
                        validation_split=0.25)
    assert set(history.history) == {"loss", "out1_loss", "out2_loss", "out1_mae", "out2_mse",
                                    "val_loss", "val_out1_loss", "val_out2_loss",
                                    "val_out1_mae", "val_out2_mse"}
    h = history.history
    np.testing.assert_allclose(h["loss"][1], h["out1_loss"][1] + 0.5 * h["out2_loss"][1],
                               rtol=1e-6)
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)
    mse1 = np.mean((p[0] - y[0]) ** 2)
    mae2 = np.mean(np.abs(p[1] - y[1]))
    np.testing.assert_allclose(result["out1_loss"], mse1, rtol=1e-5)
    np.testing.assert_allclose(result["loss"], mse1 + 0.5 * mae2, rtol=1e-5)
    values = model.evaluate(x, y, verbose=0)
    assert values[:3] == [result["loss"], result["out1_loss"], result["out2_loss"]]
    assert values[3:] == [result["out1_mae"], result["out2_mse"]]
    with pytest.raises(ValueError, match=r"Unknown output name\(s\) \['out3'\]"):
        model.compile("sgd", loss={"out1": "mse", "out3": "mse"})
    with pytest.raises(ValueError, match="holds 1 target"):
        model.fit(x, y[0], verbose=0)
    with pytest.raises(ValueError, match="expects 2 input"):
        model.fit(x[0], y, verbose=0)


def test_single_io_matches_sequential():
    init = nd.initializers.GlorotUniform(7)
    seq = nd.Sequential([nd.Input((5,)), Dense(8, activation="tanh", kernel_initializer=init),
                         Dropout(0.0), Dense(3, activation="softmax")])
    inp = nd.Input((5,))
    h = Dense(8, activation="tanh")(inp)
    fun = nd.Model(inp, Dense(3, activation="softmax")(Dropout(0.0)(h)))
    fun.set_weights(seq.get_weights())
    r = np.random.default_rng(3)
    x, y = r.random((40, 5)), r.integers(0, 3, 40)
    for m in (seq, fun):
        m.compile(nd.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    np.random.seed(0)
    hs = seq.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0).history
    hf = fun.fit([x], {fun.output_names[0]: y}, epochs=3, batch_size=16, shuffle=False,
                 verbose=0).history
    assert list(hf) == list(hs)
    for key in hs:
        np.testing.assert_allclose(hf[key], hs[key], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fun.predict(x, verbose=0), seq.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)


def test_shared_layer_graph_gradients_finite_differences():
    nd.config.set_floatx("float64")
    try:
        a, b = nd.Input((3,)), nd.Input((3,))
        shared = Dense(4, activation="tanh")
        merged = nd.layers.Multiply()([shared(a), shared(b)])
        mixed = nd.layers.Average()([merged, nd.layers.Subtract()([shared(a), merged])])
        out = Dense(2)(Reshape((4,))(Reshape((2, 2))(mixed)))
        model = nd.Model([a, b], out)
        model.compile("sgd", "mse")
        r = np.random.default_rng(5)
        x = [r.standard_normal((6, 3)), r.standard_normal((6, 3))]
        y = r.standard_normal((6, 2))
        outs, _ = model._graph_forward(x)
        dy = 2 * (outs[0] - y) / y.size
        grads = model._graph_backward([dy], {})

        def loss():
            return np.mean((model.predict(x, verbose=0) - y) ** 2)

        for v in model.trainable_weights:
            value = v.numpy()
            numeric = np.zeros_like(value)
            for i in np.ndindex(value.shape):
                for sign in (1, -1):
                    bumped = value.copy()
                    bumped[i] += sign * 1e-6
                    v.assign(bumped)
                    numeric[i] += sign * loss() / 2e-6
            v.assign(value)
            np.testing.assert_allclose(grads[id(v)], numeric, rtol=1e-5, atol=1e-8)
    finally:
        nd.config.set_floatx("float32")


def test_config_json_round_trip_and_keras_save(tmp_path):
    model, _ = _two_io()
    x, y = _data(8)
    model.compile("adam", "mse", metrics=[["mae"], ["mse"]])
    model.fit(x, y, epochs=1, verbose=0)
    config = model.get_config()
    cat = next(e for e in config["layers"] if e["name"] == "cat")
    assert [t["config"]["keras_history"] for t in cat["inbound_nodes"][0]["args"][0]] == \
        [["shared", 0, 0], ["shared", 1, 0]]
    assert config["input_layers"] == [["in_a", 0, 0], ["in_b", 0, 0]]
    clone = nd.models.model_from_json(model.to_json())
    assert [l.name for l in clone.layers] == [l.name for l in model.layers]
    clone.set_weights(model.get_weights())
    for p, q in zip(clone.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_array_equal(p, q)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = nd.models.load_model(path)
    for p, q in zip(loaded.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_array_equal(p, q)
    for u, v in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(u.numpy(), v.numpy())
    h1 = model.fit(x, y, epochs=1, shuffle=False, verbose=0).history
    h2 = loaded.fit(x, y, epochs=1, shuffle=False, verbose=0).history
    assert h1 == h2


def test_keras_functional_rank3_file():
    model = nd.models.load_model(DATA + "functional_rank3.keras")
    expected = np.load(DATA + "functional_rank3_expected.npz")
    assert [l.name for l in model.layers] == ["seq", "per_step", "flatten", "head"]
    np.testing.assert_allclose(model.predict(expected["x"], verbose=0), expected["y"],
                               rtol=1e-5, atol=1e-5)


def test_legacy_keras2_inbound_nodes():
    from numdense.saving import deserialize_model

    config = {"class_name": "Model", "config": {
        "name": "model", "layers": [
            {"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [],
             "config": {"batch_input_shape": [None, 3], "dtype": "float32", "sparse": False,
                        "name": "input_1"}},
            {"class_name": "Dense", "name": "dense", "inbound_nodes": [[["input_1", 0, 0, {}]]],
             "config": {"name": "dense", "units": 2}},
            {"class_name": "Dense", "name": "dense_1", "inbound_nodes": [[["input_1", 0, 0, {}]]],
             "config": {"name": "dense_1", "units": 2}},
            {"class_name": "Add", "name": "add",
             "inbound_nodes": [[["dense", 0, 0, {}], ["dense_1", 0, 0, {}]]],
             "config": {"name": "add"}}],
        "input_layers": [["input_1", 0, 0]], "output_layers": [["add", 0, 0]]}}
    model = deserialize_model(config)
    assert model.output_shape == (None, 2)
    assert model.get_layer("add").input_shape == [(None, 2), (None, 2)]
    bad = dict(config)
    bad["config"] = dict(config["config"], layers=config["config"]["layers"] + [
        {"class_name": "LSTM", "name": "lstm", "inbound_nodes": [], "config": {"name": "lstm"}}])
    with pytest.raises(ValueError, match="Unsupported layer type 'LSTM'"):
        deserialize_model(bad)
