"""Convolution speed: the Conv2D kernels at the MNIST tutorial shapes, one training step of the
tutorial CNN, and one epoch of the digits CNN (examples/cnn_digits.py, 1437 samples)."""

import numpy as np

import numdense as nd
from numdense.kernels import activation_kinds as ak
from numdense.kernels.cpu import conv

from .common import TIMEOUT

# (N, H, C, F): the three Conv2D layers of the tutorial model at batch 64
SHAPES = {"conv1": (64, 28, 1, 32), "conv2": (64, 13, 32, 64), "conv3": (64, 5, 64, 64)}


def tutorial_cnn():
    from numdense.layers import Conv2D, Dense, Flatten, MaxPooling2D

    nd.utils.set_random_seed(0)
    model = nd.Sequential([
        Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)), MaxPooling2D(2),
        Conv2D(64, 3, activation="relu"), MaxPooling2D(2), Conv2D(64, 3, activation="relu"),
        Flatten(), Dense(64, activation="relu"), Dense(10),
    ])
    model.compile(optimizer="adam", loss=nd.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


class ConvKernels:
    """``conv2d_forward_into`` and ``conv2d_backward_into`` (3x3, valid, relu, float32)."""

    timeout = TIMEOUT
    params = list(SHAPES)
    param_names = ["layer"]

    def setup(self, layer):
        n, h, c, f = SHAPES[layer]
        rng = np.random.default_rng(0)
        o = h - 2
        self.x = rng.random((n, h, h, c), dtype=np.float32)
        self.w = rng.standard_normal((3, 3, c, f)).astype(np.float32)
        self.b = np.zeros(f, np.float32)
        self.cols = np.empty((n, o, o, 9 * c), np.float32)
        self.out = np.empty((n, o, o, f), np.float32)
        self.pre = np.empty_like(self.out)
        self.dy = rng.standard_normal(self.out.shape).astype(np.float32)
        self.dz, self.dcols = np.empty_like(self.out), np.empty_like(self.cols)
        self.dx, self.dw, self.db = np.empty_like(self.x), np.empty_like(self.w), np.empty_like(self.b)
        self.time_forward(layer)
        self.time_backward(layer)

    def time_forward(self, layer):
        conv.conv2d_forward_into(self.x, self.w, self.b, self.cols, self.out, self.pre,
                                 1, 1, 1, 1, 0, 0, ak.RELU, 0.0, np.inf, 0.0)

    def time_backward(self, layer):
        conv.conv2d_backward_into(self.cols, self.w, self.pre, self.out, self.dy, self.dz,
                                  self.dcols, self.dx, self.dw, self.db, 1, 1, 1, 1, 0, 0,
                                  ak.RELU, 0.0, np.inf, 0.0, True)


class CNNTrainStep:
    """One ``train_on_batch`` of the tutorial CNN (Adam) at batch 32 and 128."""

    timeout = TIMEOUT
    params = [32, 128]
    param_names = ["batch_size"]

    def setup(self, batch_size):
        rng = np.random.default_rng(0)
        self.x = rng.random((batch_size, 28, 28, 1), dtype=np.float32)
        self.y = rng.integers(0, 10, batch_size)
        self.model = tutorial_cnn()
        self.model.train_on_batch(self.x, self.y)

    def time_train_on_batch(self, batch_size):
        self.model.train_on_batch(self.x, self.y)


class DigitsCNNEpoch:
    """One epoch of the tutorial CNN on the 1437 upsampled digits training samples, batch 32."""

    timeout = TIMEOUT
    number = 1
    repeat = (4, 6, 120.0)  # enough samples for asv continuous to call a change significant

    def setup(self):
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise NotImplementedError("needs scikit-learn")
        images = load_digits().images.astype(np.float32) / 16.0
        x = np.pad(np.kron(images, np.ones((1, 3, 3), np.float32)), ((0, 0), (2, 2), (2, 2)))[..., None]
        self.x, self.y = x[:1437], load_digits().target[:1437]
        self.model = tutorial_cnn()
        self.model.fit(self.x[:64], self.y[:64], batch_size=32, epochs=1, verbose=0)

    def time_epoch(self):
        self.model.fit(self.x, self.y, batch_size=32, epochs=1, verbose=0)
