"""``Activation``: applies an activation function to its input."""

import numpy as np

from numdense import activations, backend
from numdense.kernels import activation_kinds
from numdense.layers.layer import Layer


class Activation(Layer):
    """Applies an activation function to an output.

    Args:
        activation: activation function name, function, or Python callable.
        **kwargs: base layer arguments.
    """

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.supports_masking = True

    def _cuda_forward(self, x):
        """The activation of a device array with the CUDA kernels: ``(y, x2d, y2d, spec)``."""
        spec = activations.kernel_spec(self.activation)
        if spec is None:
            raise NotImplementedError(
                f"Activation layer '{self.name}': a custom Python activation cannot run on "
                "the 'cuda' device; use a builtin activation or the CPU device."
            )
        shape = tuple(x.shape)
        size = int(np.prod(shape, dtype=np.int64))
        if int(spec[0]) in activation_kinds.ROW_WISE:
            rows = (size // shape[-1] if shape[-1] else 0, shape[-1])
        else:
            rows = (1, size)
        x2 = x.reshape(*rows)
        y2 = backend.empty(rows, x.dtype, "cuda")
        backend.kernel_module("activations", "cuda").activation_forward_into(x2, y2, *spec)
        return y2.reshape(*shape), x2, y2, tuple(spec)

    def call(self, inputs, training=False):
        if backend.is_device_array(inputs):
            return self._cuda_forward(inputs)[0]
        return np.asarray(self.activation(inputs), dtype=self._dtype)

    def _train_forward(self, x):
        if backend.is_device_array(x):
            y, x2, y2, spec = self._cuda_forward(x)
            self._cache = ("cuda", x2, y2, spec)
            return y
        y = np.ascontiguousarray(self.activation(x), dtype=self._dtype)
        self._cache = ("cpu", x, y)
        return y

    def _train_backward(self, dy):
        self._grads = {}
        if self._cache[0] == "cuda":
            _, x2, y2, spec = self._cache
            shape = tuple(dy.shape)
            dy2 = backend.to_device(dy, self._dtype).reshape(*tuple(x2.shape))
            dx = backend.empty(tuple(x2.shape), self._dtype, "cuda")
            backend.kernel_module("activations", "cuda").activation_backward_into(
                x2, y2, dy2, dx, *spec)
            return dx.reshape(*shape)
        _, x, y = self._cache
        return np.asarray(activations.gradient(self.activation, x, dy, y=y), dtype=self._dtype)

    def get_config(self):
        config = super().get_config()
        config["activation"] = activations.serialize(self.activation)
        return config
