"""``Conv2D``: 2-D convolution over NHWC images, ``activation(conv2d(inputs, kernel) + bias)``."""

import numpy as np

from numdense import activations, backend, constraints, initializers, regularizers
from numdense.layers.conv_args import (
    spatial_output,
    standardize_data_format,
    standardize_padding,
    standardize_tuple,
)
from numdense.layers.input_spec import InputSpec
from numdense.layers.layer import Layer

_LINEAR = (0, 0.0, 0.0, 0.0)


def _positive_int(value, message):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(message)
    return int(value)


class Conv2D(Layer):
    """2D convolution layer (cross-correlation, as Keras), channels_last.

    The patches of the input are gathered (im2col) and multiplied with the kernel by the tiled
    GEMM, bias and activation applied in its write-back; the kernel has Keras' shape
    ``(kernel_h, kernel_w, in_channels, filters)`` so Keras weights load unchanged.

    Args:
        filters: positive integer, the number of output channels.
        kernel_size: int or 2 ints, the height and width of the window.
        strides: int or 2 ints, the step of the window (> 1 excludes dilation_rate > 1).
        padding: ``"valid"`` (no padding) or ``"same"`` (pad so that the output is
            ``ceil(input / strides)``, the odd pixel after, as TensorFlow).
        data_format: ``"channels_last"`` or None; ``"channels_first"`` is not implemented.
        dilation_rate: int or 2 ints, the spacing of the kernel taps.
        groups: must be 1 (grouped convolution is not implemented).
        activation: activation name, function or Python callable; None is linear.
        use_bias: whether the layer adds a bias vector.
        kernel_initializer, bias_initializer: initializers of the kernel and the bias.
        kernel_regularizer, bias_regularizer, activity_regularizer: regularizers.
        kernel_constraint, bias_constraint: constraints applied after each optimizer update.
        **kwargs: base layer arguments (``name``, ``dtype``, ``trainable``, ``input_shape``).
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        for lora in ("lora_rank", "lora_alpha", "dora_rank", "dora_alpha"):
            if kwargs.pop(lora, None) is not None:
                raise ValueError(f"numdense does not support LoRA/DoRA Conv2D layers (`{lora}`).")
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.filters = _positive_int(
            filters,
            "Invalid value for argument `filters`. Expected a strictly positive value. "
            f"Received filters={filters}.",
        )
        self.groups = _positive_int(
            groups,
            f"The number of groups must be a positive integer. Received: groups={groups}.",
        )
        if self.filters % self.groups:
            raise ValueError(
                "The number of filters must be evenly divisible by the number of groups. "
                f"Received: groups={groups}, filters={filters}."
            )
        if self.groups != 1:
            raise NotImplementedError(
                f"Conv2D '{self.name}': grouped convolution is not implemented in numdense; "
                f"expected groups=1, received groups={groups}."
            )
        self.kernel_size = standardize_tuple(kernel_size, 2, "kernel_size")
        self.strides = standardize_tuple(strides, 2, "strides")
        self.dilation_rate = standardize_tuple(dilation_rate, 2, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}"
            )
        self.padding = standardize_padding(padding)
        self.data_format = standardize_data_format(data_format, f"Conv2D '{self.name}'")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.input_spec = InputSpec(min_ndim=4)
        self._kernel = None
        self.bias = None

    # ----------------------------------------------------------------- build
    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 4:
            raise ValueError(
                f"Conv2D '{self.name}' expects inputs of rank 4 (batch, height, width, "
                f"channels); received input_shape={input_shape}."
            )
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                f"Conv2D '{self.name}': the channel dimension of the inputs should be defined. "
                f"Found None in input_shape={input_shape}."
            )
        self.compute_output_shape(input_shape)
        kh, kw = self.kernel_size
        self._kernel = self.add_weight(
            "kernel", (kh, kw, int(channels), self.filters), initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                "bias", (self.filters,), initializer=self.bias_initializer,
                regularizer=self.bias_regularizer, constraint=self.bias_constraint,
            )
        self.input_spec = InputSpec(min_ndim=4, axes={-1: int(channels)})
        self.built = True

    @property
    def kernel(self):
        if self._kernel is None:
            raise AttributeError("You must build the layer before accessing `kernel`.")
        return self._kernel

    def _geometry(self, input_shape):
        kh, kw = self.kernel_size
        what = f"kernel shape={(kh, kw, input_shape[-1], self.filters)}"
        return spatial_output(input_shape, self.kernel_size, self.strides, self.dilation_rate,
                              self.padding, self.name, what)

    def compute_output_shape(self, input_shape):
        (oh, ow), _ = self._geometry(tuple(input_shape))
        return (input_shape[0], oh, ow, self.filters)

    # --------------------------------------------------------------- compute
    def _spec(self):
        """(kind, p0, p1, p2) of the activation, or None for a Python callable (CPU only)."""
        spec = activations.kernel_spec(self.activation or activations.linear)
        if spec is None and self._device == "cuda":
            raise NotImplementedError(
                f"Conv2D layer '{self.name}': a custom Python activation cannot run on the "
                "'cuda' device; use a builtin activation or the CPU device."
            )
        return None if spec is None else tuple(spec)

    def _forward(self, x, keep):
        """Runs the kernel; with ``keep`` stores what ``_train_backward`` needs."""
        device = self._device or "cpu"
        kernels = backend.kernel_module("conv", device)
        if device == "cuda":
            x = backend.to_device(x)
        else:
            x = np.ascontiguousarray(x, dtype=self._dtype)
        n, h, w, c = (int(d) for d in x.shape)
        (oh, ow), (pt, pl) = self._geometry((n, h, w, c))
        kh, kw = self.kernel_size
        spec = self._spec()
        kind = _LINEAR if spec is None else spec
        nonlinear = kind[0] != _LINEAR[0]

        def empty(shape):
            return backend.empty(shape, self._dtype, device)

        cols = empty((n, oh, ow, kh * kw * c))
        out = empty((n, oh, ow, self.filters))
        preact = empty((n, oh, ow, self.filters) if keep and nonlinear else (0, 0, 0, 0))
        bias = self.bias.value if self.bias is not None else empty(0)
        kernels.conv2d_forward_into(x, self._kernel.value, bias, cols, out, preact,
                                    *self.strides, *self.dilation_rate, pt, pl, *kind)
        z = out
        if spec is None:
            out = np.ascontiguousarray((self.activation)(z), dtype=self._dtype)
        if keep:
            self._cache = (tuple(x.shape), cols, preact if spec is not None else z, out, kind,
                           spec is None, (pt, pl))
        return out

    def call(self, inputs, training=False):
        return self._forward(inputs, keep=False)

    def _train_forward(self, x):
        return self._forward(x, keep=True)

    def _train_backward(self, dy):
        in_shape, cols, preact, y, kind, python_act, (pt, pl) = self._cache
        device = self._device or "cpu"
        kernels = backend.kernel_module("conv", device)

        def empty(shape):
            return backend.empty(shape, self._dtype, device)

        if device == "cuda":
            dy = backend.to_device(dy, self._dtype)
        else:
            dy = np.ascontiguousarray(dy, dtype=self._dtype)
        if python_act:
            # A user-supplied activation: its gradient by complex-step differentiation, then a
            # linear backward (preact holds the linear output z).
            dy = np.ascontiguousarray(activations.gradient(self.activation, preact, dy, y=y),
                                      dtype=self._dtype)
            preact = y = empty((0, 0, 0, 0))
        elif kind[0] == _LINEAR[0]:
            y = empty((0, 0, 0, 0))
        dz = empty(tuple(dy.shape))
        dcols = empty(tuple(cols.shape))
        dx = empty(in_shape)
        dw = empty(self._kernel.shape)
        db = empty(self.filters if self.bias is not None else 0)
        kernels.conv2d_backward_into(cols, self._kernel.value, preact, y, dy, dz, dcols, dx, dw, db,
                                     *self.strides, *self.dilation_rate, pt, pl, *kind, True)
        self._grads = {id(self._kernel): dw}
        if self.bias is not None:
            self._grads[id(self.bias)] = db
        return dx

    # ---------------------------------------------------------------- config
    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "groups": self.groups,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        })
        return config
