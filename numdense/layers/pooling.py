"""2-D pooling layers over NHWC images: ``MaxPooling2D``, ``AveragePooling2D``,
``GlobalAveragePooling2D``."""

import numpy as np

from numdense import backend
from numdense.layers.conv_args import (
    spatial_output,
    standardize_data_format,
    standardize_padding,
    standardize_tuple,
)
from numdense.layers.input_spec import InputSpec
from numdense.layers.layer import Layer


def _input(layer, x):
    if layer._device == "cuda" or backend.is_device_array(x):
        return backend.to_device(x, layer._dtype), "cuda"
    return np.ascontiguousarray(x, dtype=layer._dtype), "cpu"


def _grad(layer, dy, device):
    if device == "cuda":
        return backend.to_device(dy, layer._dtype)
    return np.ascontiguousarray(dy, dtype=layer._dtype)


class _Pooling2D(Layer):
    """Windowed 2-D pooling (base of the max and average layers).

    Args:
        pool_size: int or 2 ints, the window size.
        strides: int or 2 ints, or None for ``pool_size``.
        padding: ``"valid"`` or ``"same"`` (TensorFlow's split; padded positions are ignored).
        data_format: ``"channels_last"`` or None; ``"channels_first"`` is not implemented.
        **kwargs: base layer arguments.
    """

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = standardize_tuple(pool_size, 2, "pool_size")
        self.strides = standardize_tuple(pool_size if strides is None else strides, 2, "strides")
        self.padding = standardize_padding(padding)
        self.data_format = standardize_data_format(data_format, f"{type(self).__name__} '{self.name}'")
        self.input_spec = InputSpec(ndim=4)

    def _geometry(self, input_shape):
        return spatial_output(input_shape, self.pool_size, self.strides, (1, 1), self.padding,
                              self.name, f"pool_size={self.pool_size}")

    def compute_output_shape(self, input_shape):
        (oh, ow), _ = self._geometry(tuple(input_shape))
        return (input_shape[0], oh, ow, input_shape[3])

    def _prepare(self, x):
        x, device = _input(self, x)
        n, h, w, c = (int(d) for d in x.shape)
        (oh, ow), pads = self._geometry((n, h, w, c))
        return x, device, backend.kernel_module("pooling", device), (n, oh, ow, c), pads

    def call(self, inputs, training=False):
        return self._forward(inputs, keep=False)

    def _train_forward(self, x):
        return self._forward(x, keep=True)

    def get_config(self):
        config = super().get_config()
        config.update({
            "pool_size": self.pool_size,
            "padding": self.padding,
            "strides": self.strides,
            "data_format": self.data_format,
        })
        return config


class MaxPooling2D(_Pooling2D):
    """Max pooling for 2D spatial data: the maximum of each window.

    The gradient goes to the first maximum of each window (row-major order), as TensorFlow.

    Args:
        pool_size: int or 2 ints, the window size (default (2, 2)).
        strides: int or 2 ints, or None for ``pool_size``.
        padding: ``"valid"`` or ``"same"``.
        data_format: ``"channels_last"`` or None.
        **kwargs: base layer arguments.
    """

    def _forward(self, x, keep):
        x, device, kernels, out_shape, (pt, pl) = self._prepare(x)
        out = backend.empty(out_shape, self._dtype, device)
        argmax = backend.empty(out_shape, np.int64, device)
        kernels.maxpool2d_forward_into(x, *self.pool_size, *self.strides, pt, pl, out, argmax)
        if keep:
            self._cache = (tuple(x.shape), argmax, device)
        return out

    def _train_backward(self, dy):
        in_shape, argmax, device = self._cache
        dx = backend.empty(in_shape, self._dtype, device)
        backend.kernel_module("pooling", device).maxpool2d_backward_into(_grad(self, dy, device), argmax, dx)
        self._grads = {}
        return dx


class AveragePooling2D(_Pooling2D):
    """Average pooling for 2D spatial data: the mean of each window's in-bounds elements.

    Args:
        pool_size: int or 2 ints, the window size (default (2, 2)).
        strides: int or 2 ints, or None for ``pool_size``.
        padding: ``"valid"`` or ``"same"`` (``same`` averages over the in-bounds elements only).
        data_format: ``"channels_last"`` or None.
        **kwargs: base layer arguments.
    """

    def _forward(self, x, keep):
        x, device, kernels, out_shape, (pt, pl) = self._prepare(x)
        out = backend.empty(out_shape, self._dtype, device)
        kernels.avgpool2d_forward_into(x, *self.pool_size, *self.strides, pt, pl, out)
        if keep:
            self._cache = (tuple(x.shape), (pt, pl), device)
        return out

    def _train_backward(self, dy):
        in_shape, (pt, pl), device = self._cache
        dx = backend.empty(in_shape, self._dtype, device)
        backend.kernel_module("pooling", device).avgpool2d_backward_into(
            _grad(self, dy, device), *self.pool_size, *self.strides, pt, pl, dx)
        self._grads = {}
        return dx


class GlobalAveragePooling2D(Layer):
    """Global average pooling for 2D spatial data: the mean over height and width.

    Args:
        data_format: ``"channels_last"`` or None; ``"channels_first"`` is not implemented.
        keepdims: keep the spatial axes with length 1 (output ``(batch, 1, 1, channels)``).
        **kwargs: base layer arguments.
    """

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format, f"GlobalAveragePooling2D '{self.name}'")
        self.keepdims = bool(keepdims)
        self.input_spec = InputSpec(ndim=4)

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0], 1, 1, input_shape[3])
        return (input_shape[0], input_shape[3])

    def _forward(self, x, keep):
        x, device = _input(self, x)
        n, h, w, c = (int(d) for d in x.shape)
        out = backend.empty((n, c), self._dtype, device)
        backend.kernel_module("pooling", device).global_avgpool2d_forward_into(x, out)
        if keep:
            self._cache = (tuple(x.shape), device)
        return out.reshape(n, 1, 1, c) if self.keepdims else out

    def call(self, inputs, training=False):
        return self._forward(inputs, keep=False)

    def _train_forward(self, x):
        return self._forward(x, keep=True)

    def _train_backward(self, dy):
        in_shape, device = self._cache
        dy = _grad(self, dy, device)
        dy = dy.reshape(in_shape[0], in_shape[3])
        dx = backend.empty(in_shape, self._dtype, device)
        backend.kernel_module("pooling", device).global_avgpool2d_backward_into(dy, dx)
        self._grads = {}
        return dx

    def get_config(self):
        config = super().get_config()
        config.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return config
