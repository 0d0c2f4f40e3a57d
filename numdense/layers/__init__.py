"""Keras-compatible layers."""

from numdense.layers.activation import Activation
from numdense.layers.conv2d import Conv2D
from numdense.layers.dense import Dense
from numdense.layers.dropout import Dropout
from numdense.layers.flatten import Flatten
from numdense.layers.input_layer import Input, InputLayer
from numdense.layers.input_spec import InputSpec
from numdense.layers.layer import Layer
from numdense.layers.merging import Add, Average, Concatenate, Multiply, Subtract
from numdense.layers.reshape import Reshape
from numdense.layers.pooling import AveragePooling2D, GlobalAveragePooling2D, MaxPooling2D

_LAYERS = {
    cls.__name__: cls for cls in (Activation, Dense, Dropout, Flatten, InputLayer, Layer)
}
_LAYERS.update({cls.__name__: cls for cls in (Add, Average, Concatenate, Multiply, Reshape,
                                              Subtract)})
_LAYERS.update({
    cls.__name__: cls
    for cls in (Conv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D)
})


def get_layer_class(class_name):
    """The numdense layer class for a Keras class name, or ValueError naming it."""
    try:
        return _LAYERS[class_name]
    except KeyError:
        raise ValueError(
            f"Unsupported layer type '{class_name}': numdense provides {sorted(_LAYERS)}."
        ) from None


def serialize(layer):
    return {
        "module": "keras.layers",
        "class_name": type(layer).__name__,
        "config": layer.get_config(),
        "registered_name": None,
    }


def deserialize(config, custom_objects=None):
    classes = dict(_LAYERS, **(custom_objects or {}))
    class_name = config["class_name"]
    if class_name not in classes:
        get_layer_class(class_name)
    layer = classes[class_name].from_config(dict(config["config"]))
    if config.get("build_config"):
        layer.build_from_config(config["build_config"])
    return layer
