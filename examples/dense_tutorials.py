"""The classic Keras Dense tutorials, run with numdense by changing the import.

Run: python examples/dense_tutorials.py
"""

import numpy as np

import numdense as nd
from numdense.layers import Dense


def one_layer_model():
    """A single Dense(10, relu) on 20 inputs: 20 * 10 + 10 = 210 parameters."""
    model = nd.Sequential([Dense(10, activation="relu", input_shape=(20,))])
    model.summary()
    return model


def three_layer_mlp():
    """The 20 -> 64 -> 32 -> 5 MLP of the Keras guide: 3,589 parameters."""
    model = nd.Sequential([
        Dense(64, activation="relu", input_shape=(20,)),
        Dense(32, activation="relu"),
        Dense(5, activation="softmax"),
    ])
    model.summary()
    return model


def ones_weights():
    """Dense(5, relu) on 10 inputs with a kernel of ones and zero biases."""
    model = nd.Sequential([Dense(5, activation="relu", input_shape=(10,))])
    model.layers[0].set_weights([np.ones((10, 5)), np.zeros(5)])
    x = np.array([[1, 1, 3, 1, 2, 1, 1, 1, 1, 2]])
    y = model.predict(x, verbose=0)
    print("ones kernel, zero bias:", y)  # [[14. 14. 14. 14. 14.]]
    return y


def custom_square_activation():
    """A Python callable as the activation: (1 + 2 + 3 + 1 + 1) ** 2 = 64."""
    layer = Dense(2, activation=lambda x: x ** 2, kernel_initializer="ones",
                  bias_initializer="ones")
    y = layer(np.array([[1.0, 2.0, 3.0, 1.0]]))
    print("custom square activation:", y)  # [[64. 64.]]
    return y


if __name__ == "__main__":
    one_layer_model()
    print()
    three_layer_mlp()
    print()
    ones_weights()
    custom_square_activation()
