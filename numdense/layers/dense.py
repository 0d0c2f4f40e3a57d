"""``Dense``: ``output = activation(dot(input, kernel) + bias)`` over the last input axis."""

import numpy as np

from numdense import activations, backend, constraints, initializers, regularizers
from numdense.kernels.cpu import dense as dense_kernels
from numdense.layers.input_spec import InputSpec
from numdense.layers.layer import Layer

_NO_BIAS = {}


def _empty(dtype, ndim):
    key = (dtype, ndim)
    if key not in _NO_BIAS:
        _NO_BIAS[key] = np.empty((0,) * ndim, dtype=dtype)
    return _NO_BIAS[key]


def _rows_view(x, width):
    """``x`` as a 2-D ``(rows, width)`` array (a view; device arrays must be C-contiguous)."""
    if backend.is_device_array(x):
        shape = tuple(x.shape)
        return x if len(shape) == 2 else x.reshape(int(np.prod(shape[:-1])), width)
    return x.reshape(-1, width)


def _reshaped(a, shape):
    shape = tuple(shape)
    return a if tuple(a.shape) == shape else a.reshape(*shape)


class Dense(Layer):
    """Just your regular densely-connected NN layer.

    Computes ``activation(dot(input, kernel) + bias)`` with one fused kernel (bias and
    activation applied in the matmul's write-back). Inputs of rank > 2 are contracted over
    their last axis only: ``(b, d0, d1) -> (b, d0, units)``.

    Args:
        units: positive integer, dimensionality of the output space.
        activation: activation function (name, function, or any Python callable taking and
            returning an array). None means linear.
        use_bias: whether the layer uses a bias vector.
        kernel_initializer: initializer for the ``kernel`` weights matrix.
        bias_initializer: initializer for the bias vector.
        kernel_regularizer: regularizer applied to the ``kernel`` weights matrix.
        bias_regularizer: regularizer applied to the bias vector.
        activity_regularizer: regularizer applied to the output of the layer.
        kernel_constraint: constraint applied to the ``kernel`` after each optimizer update.
        bias_constraint: constraint applied to the bias after each optimizer update.
        **kwargs: base layer arguments (``name``, ``dtype``, ``trainable``, ``input_shape``,
            ``input_dim``).
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 quantization_config=None, **kwargs):
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(
                "Received an invalid value for `units`, expected a positive integer. "
                f"Received: units={units}"
            )
        if quantization_config is not None:
            raise ValueError(
                "numdense does not support quantized Dense layers; received "
                f"quantization_config={quantization_config!r}."
            )
        for lora in ("lora_rank", "lora_alpha"):
            if kwargs.pop(lora, None) is not None:
                raise ValueError(f"numdense does not support LoRA Dense layers (`{lora}`).")
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.input_spec = InputSpec(min_ndim=2)
        self.supports_masking = True
        self._kernel = None
        self._bias = None

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                "The last dimension of the inputs to a Dense layer should be defined. Found None."
            )
        self._kernel = self.add_weight(
            "kernel", (input_dim, self.units), initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
        )
        if self.use_bias:
            self._bias = self.add_weight(
                "bias", (self.units,), initializer=self.bias_initializer,
                regularizer=self.bias_regularizer, constraint=self.bias_constraint,
            )
        self.input_spec = InputSpec(min_ndim=2, axes={-1: int(input_dim)})
        self.built = True

    @property
    def activation(self):
        return self._activation

    @activation.setter
    def activation(self, value):
        self._activation = value
        Layer.structure_version += 1  # compiled inference plans encode the activation

    @property
    def kernel(self):
        if self._kernel is None:
            raise AttributeError("You must build the layer before accessing `kernel`.")
        return self._kernel

    @property
    def bias(self):
        return self._bias

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def _cuda_kernels(self):
        """The CUDA dense kernels and activation spec (raises for a Python activation)."""
        spec = activations.kernel_spec(self.activation or activations.linear)
        if spec is None:
            raise NotImplementedError(
                f"Dense layer '{self.name}': a custom Python activation cannot run on the "
                "'cuda' device; use a builtin activation or the CPU device."
            )
        return backend.kernel_module("dense", "cuda"), tuple(spec)

    def _cuda_empty(self, shape):
        return backend.empty(shape, self._dtype, "cuda")

    def _cuda_call(self, inputs, keep):
        """Forward on the GPU; with ``keep`` also stores what ``_train_backward`` needs."""
        kernels, spec = self._cuda_kernels()
        in_shape = tuple(inputs.shape)
        x2 = _rows_view(backend.to_device(inputs), in_shape[-1])
        rows = x2.shape[0]
        y = self._cuda_empty((rows, self.units))
        z = self._cuda_empty((rows, self.units) if keep else (0, 0))
        bias = self._bias.value if self._bias is not None else self._cuda_empty(0)
        kernels.dense_forward_into(x2, self._kernel.value, bias, y, z, *spec)
        if keep:
            self._cache = (in_shape, x2, z, y, spec, None)
        return _reshaped(y, in_shape[:-1] + (self.units,))

    def _cuda_backward(self, dy):
        in_shape, x2, z, y, spec, _ = self._cache
        kernels = backend.kernel_module("dense", "cuda")
        dy2 = _rows_view(backend.to_device(dy, self._dtype), self.units)
        dz = self._cuda_empty(tuple(dy2.shape))
        dx = self._cuda_empty(tuple(x2.shape))
        dw = self._cuda_empty(self._kernel.shape)
        db = self._cuda_empty(self.units if self._bias is not None else 0)
        kernels.dense_backward_into(x2, self._kernel.value, z, y, dy2, dz, dx, dw, db, *spec, True)
        self._grads = {id(self._kernel): dw}
        if self._bias is not None:
            self._grads[id(self._bias)] = db
        return _reshaped(dx, in_shape)

    def call(self, inputs, training=False):
        if self._device == "cuda":
            return self._cuda_call(inputs, keep=False)
        x = inputs.reshape(-1, inputs.shape[-1])
        out = np.empty((x.shape[0], self.units), dtype=self._dtype)
        bias = self._bias.value if self._bias is not None else _empty(self._dtype, 1)
        activation = self.activation or activations.linear
        spec = activations.kernel_spec(activation)
        if spec is None:
            dense_kernels.dense_forward_into(
                x, self._kernel.value, bias, out, _empty(self._dtype, 2), 0, 0.0, 0.0, 0.0
            )
            out = np.asarray(activation(out), dtype=self._dtype)
        else:
            kind, p0, p1, p2 = spec
            dense_kernels.dense_forward_into(
                x, self._kernel.value, bias, out, _empty(self._dtype, 2), kind, p0, p1, p2
            )
        return out.reshape(inputs.shape[:-1] + (self.units,))

    def _train_forward(self, x):
        if self._device == "cuda":
            return self._cuda_call(x, keep=True)
        # The previous layer may compute in another dtype; the kernels need one dtype throughout.
        x2 = np.ascontiguousarray(x.reshape(-1, x.shape[-1]), dtype=self._dtype)
        rows = x2.shape[0]
        z = np.empty((rows, self.units), dtype=self._dtype)
        y = np.empty_like(z)
        bias = self._bias.value if self._bias is not None else _empty(self._dtype, 1)
        activation = self.activation or activations.linear
        spec = activations.kernel_spec(activation)
        if spec is None:
            dense_kernels.dense_forward_into(x2, self._kernel.value, bias, z, z, 0, 0.0, 0.0, 0.0)
            y = np.ascontiguousarray(activation(z), dtype=self._dtype)
        else:
            dense_kernels.dense_forward_into(x2, self._kernel.value, bias, y, z, *spec)
        self._cache = (x.shape, x2, z, y, spec, activation)
        return y.reshape(x.shape[:-1] + (self.units,))

    def _train_backward(self, dy):
        if self._device == "cuda":
            return self._cuda_backward(dy)
        in_shape, x2, z, y, spec, activation = self._cache
        dy2 = np.ascontiguousarray(dy.reshape(-1, self.units), dtype=self._dtype)
        dz = np.empty_like(dy2)
        dx = np.empty(x2.shape, dtype=self._dtype)
        dw = np.empty(self._kernel.shape, dtype=self._dtype)
        db = np.empty(self.units if self._bias is not None else 0, dtype=self._dtype)
        if spec is None:
            # A user-supplied activation: its gradient comes from activations.gradient
            # (complex-step differentiation), then a linear backward.
            dz_act = np.ascontiguousarray(activations.gradient(activation, z, dy2, y=y),
                                          dtype=self._dtype)
            dense_kernels.dense_backward_into(x2, self._kernel.value, z, z, dz_act, dz, dx, dw,
                                              db, 0, 0.0, 0.0, 0.0, True)
        else:
            dense_kernels.dense_backward_into(x2, self._kernel.value, z, y, dy2, dz, dx, dw, db,
                                              *spec, True)
        self._grads = {id(self._kernel): dw}
        if self._bias is not None:
            self._grads[id(self._bias)] = db
        return dx.reshape(in_shape)

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "quantization_config": None,
        })
        return config
