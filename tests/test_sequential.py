import io
import json

import numpy as np
import pytest

import numdense as nd
from numdense.layers import Activation, Dense, Dropout, Flatten


@pytest.fixture(autouse=True)
def fresh_names():
    nd.clear_session()
    yield
    nd.clear_session()


def mlp_3589():
    return nd.Sequential([
        Dense(64, activation="relu", input_shape=(20,)),
        Dense(32, activation="relu"),
        Dense(5, activation="softmax"),
    ])


SUMMARY_3589 = """\
Model: "sequential"
_________________________________________________________________
 Layer (type)                Output Shape              Param #   
=================================================================
 dense (Dense)               (None, 64)                1344      
                                                                 
 dense_1 (Dense)             (None, 32)                2080      
                                                                 
 dense_2 (Dense)             (None, 5)                 165       
                                                                 
=================================================================
Total params: 3,589
Trainable params: 3,589
Non-trainable params: 0
_________________________________________________________________
"""


def capture_summary(model, **kwargs):
    lines = []
    model.summary(print_fn=lines.append, **kwargs)
    return "\n".join(lines) + "\n"


def test_summary_matches_keras_2_text_exactly():
    assert capture_summary(mlp_3589()) == SUMMARY_3589


def test_summary_prints_to_stdout(capsys):
    mlp_3589().summary()
    assert capsys.readouterr().out == SUMMARY_3589


def test_summary_one_layer_210_params():
    model = nd.Sequential([Dense(10, activation="relu", input_shape=(20,))])
    text = capture_summary(model)
    assert " dense (Dense)               (None, 10)                210       \n" in text
    assert "Total params: 210\n" in text


def test_summary_rows_are_padded_to_line_length():
    for line in capture_summary(mlp_3589()).splitlines()[1:-4]:
        assert len(line) == 65


def test_summary_line_length_and_non_trainable():
    model = mlp_3589()
    model.layers[0].trainable = False
    text = capture_summary(model, line_length=80)
    assert "Trainable params: 2,245" in text and "Non-trainable params: 1,344" in text
    assert "_" * 80 in text


def test_summary_unbuilt_raises():
    with pytest.raises(ValueError, match="has not yet been built"):
        nd.Sequential([Dense(2)]).summary()


def test_summary_long_names_wrap_like_keras():
    model = nd.Sequential([nd.Input((4,)), Dense(2, name="long-name-test-output")])
    text = capture_summary(model)
    # Keras 2.7-2.12 cut the first column at 27 characters (2.13 moved to 26), and the full
    # name column pushes that line's Output Shape one character right.
    assert " long-name-test-output (Dens  (None, 2)                10        \n" in text
    assert " e)" + " " * 62 + "\n" in text


def test_input_and_output_shapes_keras2_style():
    model = nd.Sequential([Dense(16, input_shape=(8,))])
    assert model.input_shape == (None, 8) and model.output_shape == (None, 16)
    layer = model.layers[0]
    assert layer.input_shape == (None, 8) and layer.output_shape == (None, 16)
    assert layer.input.shape == (None, 8) and layer.output.shape == (None, 16)
    assert model.input.shape == (None, 8)


def test_input_dim_kwarg():
    model = nd.Sequential([Dense(3, input_dim=4)])
    assert model.input_shape == (None, 4)


def test_never_called_layer_shape_errors():
    layer = Dense(3)
    with pytest.raises(AttributeError, match="has never been called"):
        layer.output_shape
    with pytest.raises(RuntimeError, match="has never been called"):
        layer.get_output_at(0)


def test_node_index_out_of_range():
    model = nd.Sequential([Dense(3, input_shape=(2,))])
    with pytest.raises(ValueError, match="Asked to get output shape at node 1, but the layer has only 1 inbound nodes"):
        model.layers[0].get_output_shape_at(1)


def test_rebuilds_do_not_accumulate_nodes():
    model = nd.Sequential([nd.Input((3,))])
    model.add(Dense(4))
    model.add(Dense(2))
    assert len(model.layers[0]._inbound_nodes) == 1


def test_input_tensor_first():
    inp = nd.Input(shape=(784,))
    assert inp.shape == (None, 784)
    model = nd.Sequential([inp, Dense(128, activation="relu"), Dense(10)])
    assert model.count_params() == 784 * 128 + 128 + 1290
    assert [l.name for l in model.layers] == ["dense", "dense_1"]


def test_deferred_build_on_first_call():
    model = nd.Sequential([Dense(4), Dense(2)])
    assert not model.built
    y = model(np.ones((3, 5)))
    assert y.shape == (3, 2) and model.built and model.input_shape == (None, 5)


def test_add_pop_get_layer():
    model = nd.Sequential()
    model.add(Dense(4, input_shape=(3,), name="a"))
    model.add(Dense(2, name="b"))
    assert model.get_layer("b") is model.layers[1]
    assert model.get_layer(index=0).name == "a"
    assert model.pop().name == "b"
    assert model.output_shape == (None, 4)
    with pytest.raises(ValueError, match="No such layer: zzz"):
        model.get_layer("zzz")
    with pytest.raises(ValueError, match="only has 1 layers"):
        model.get_layer(index=5)
    with pytest.raises(ValueError, match="Provide only a layer name or a layer index"):
        model.get_layer("a", 0)
    model.pop()
    with pytest.raises(TypeError, match="There are no layers in the model"):
        model.pop()


def test_add_rejects_non_layers_and_duplicate_names():
    model = nd.Sequential()
    with pytest.raises(ValueError, match="Only instances of"):
        model.add("dense")
    model.add(Dense(2, name="x", input_shape=(2,)))
    with pytest.raises(ValueError, match="unique names"):
        model.add(Dense(2, name="x"))


def test_auto_names():
    names = [Dense(1).name for _ in range(3)]
    assert names == ["dense", "dense_1", "dense_2"]
    assert nd.Sequential().name == "sequential"
    assert nd.Sequential().name == "sequential_1"


def test_tutorial_ones_weights_gives_14():
    model = nd.Sequential([Dense(5, activation="relu", input_shape=(10,))])
    model.layers[0].set_weights([np.ones((10, 5)), np.zeros(5)])
    y = model.predict(np.array([[1, 1, 3, 1, 2, 1, 1, 1, 1, 2]]), verbose=0)
    np.testing.assert_array_equal(y, [[14, 14, 14, 14, 14]])


def test_predict_batches_match_call_and_keep_last_partial(rng):
    model = mlp_3589()
    x = rng.standard_normal((70, 20)).astype("float32")
    full = model(x)
    np.testing.assert_allclose(model.predict(x, batch_size=32, verbose=0), full, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.predict_on_batch(x), full)
    assert full.shape == (70, 5)
    np.testing.assert_allclose(full.sum(axis=1), 1.0, rtol=1e-5)


def _count_forward_calls(monkeypatch):
    import numdense.models.sequential as seq_module

    calls = []
    real = seq_module.sequential_forward

    def counting(x, out, plan):
        calls.append(x.shape[0])
        real(x, out, plan)
    monkeypatch.setattr(seq_module, "sequential_forward", counting)
    return calls


def test_predict_runs_many_batches_of_a_dense_stack_per_compiled_call(rng, monkeypatch):
    calls = _count_forward_calls(monkeypatch)
    model = nd.Sequential([nd.Input((20,)), Dense(64, activation="relu"), Dense(5)])
    x = rng.standard_normal((300, 20)).astype("float32")
    got = model.predict(x, batch_size=32, verbose=0)
    assert calls == [300]  # 10 batches (the last one partial) in one call
    np.testing.assert_array_equal(got, model(x))
    calls.clear()
    assert model.predict(x, batch_size=32, steps=3, verbose=0).shape == (96, 5)
    assert calls == [96]


def test_predict_caps_the_rows_of_a_call_by_the_widest_layer(rng, monkeypatch):
    calls = _count_forward_calls(monkeypatch)
    model = nd.Sequential([nd.Input((3,)), Dense(4096, activation="relu"), Dense(2)])
    x = rng.standard_normal((1100, 3)).astype("float32")
    got = model.predict(x, batch_size=100, verbose=0)
    assert calls == [200] * 5 + [100]  # 2**20 elements of the 4096-wide layer: 256 rows
    parts = [model(x[i:i + 200]) for i in range(0, 1100, 200)]
    np.testing.assert_array_equal(got, np.concatenate(parts))
    calls.clear()
    model.predict(x, batch_size=1000, verbose=0)  # a batch is never split
    assert calls == [1000, 100]


def test_predict_progress_bar_keras2_format(capsys):
    model = mlp_3589()
    model.predict(np.zeros((70, 20)), verbose=1)
    out = capsys.readouterr().out
    assert out.startswith("3/3 [==============================] - ")
    assert out.rstrip().endswith("/step")
    model.predict(np.zeros((70, 20)), verbose=0)
    assert capsys.readouterr().out == ""


def test_predict_empty_and_bad_batch_size():
    model = mlp_3589()
    assert model.predict(np.zeros((0, 20)), verbose=0).shape == (0, 5)
    with pytest.raises(ValueError, match="batch_size"):
        model.predict(np.zeros((3, 20)), batch_size=0)


def test_model_weights_and_set_weights():
    model = mlp_3589()
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(20, 64), (64,), (64, 32), (32,), (32, 5), (5,)]
    model.set_weights([np.zeros_like(w) for w in weights])
    assert all((w == 0).all() for w in model.get_weights())
    with pytest.raises(ValueError, match="expecting 6 weights"):
        model.set_weights(weights[:2])


def test_model_trainable_flag_freezes_all_layers():
    model = mlp_3589()
    model.trainable = False
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 6


def test_config_round_trip_predicts_identically(rng):
    model = nd.Sequential([
        nd.Input((6,)), Dense(5, activation="elu", kernel_regularizer="l2"),
        Dropout(0.3, seed=1), Activation("tanh"), Dense(2, activation="softmax"),
    ])
    config = model.get_config()
    json.dumps(config)  # JSON-serialisable
    assert config["layers"][0]["class_name"] == "InputLayer"
    clone = nd.Sequential.from_config(config)
    assert clone.built and [l.name for l in clone.layers] == [l.name for l in model.layers]
    clone.set_weights(model.get_weights())
    x = rng.standard_normal((4, 6)).astype("float32")
    np.testing.assert_array_equal(clone(x), model(x))


def test_flatten_and_dropout_layers(rng):
    model = nd.Sequential([nd.Input((3, 4)), Flatten(), Dropout(0.5, seed=3), Dense(2)])
    assert model.layers[0].output_shape == (None, 12)
    x = rng.standard_normal((5, 3, 4)).astype("float32")
    np.testing.assert_array_equal(model.layers[1](x.reshape(5, 12)), x.reshape(5, 12))
    dropped = model.layers[1](np.ones((200, 12), "float32"), training=True)
    kept = dropped != 0
    assert 0.35 < kept.mean() < 0.65 and np.allclose(dropped[kept], 2.0)


def test_dropout_seed_reproducible_and_rate_validation():
    a = Dropout(0.4, seed=7)(np.ones((10, 10)), training=True)
    b = Dropout(0.4, seed=7)(np.ones((10, 10)), training=True)
    np.testing.assert_array_equal(a, b)
    for rate in (-0.1, 1.5, "0.5"):
        with pytest.raises(ValueError, match="rate"):
            Dropout(rate)


def test_activation_layer_and_unknown_identifier():
    np.testing.assert_array_equal(Activation("relu")(np.array([[-1.0, 2.0]])), [[0.0, 2.0]])
    with pytest.raises(ValueError, match="Could not interpret activation function identifier"):
        Activation("no_such_activation")


def test_unknown_kwarg_raises():
    with pytest.raises(TypeError, match="Unrecognized keyword arguments passed to Dense"):
        Dense(3, units_typo=4)
