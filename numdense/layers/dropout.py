"""``Dropout``: randomly zeroes inputs during training; the identity at inference."""

import numpy as np

from numdense import backend
from numdense.kernels.cpu import dropout as dropout_kernels
from numdense.layers.layer import Layer


class Dropout(Layer):
    """Applies dropout to the input.

    During training each input unit is set to 0 with probability ``rate`` and the kept units are
    scaled by ``1 / (1 - rate)``; at inference the layer returns its input unchanged.

    Args:
        rate: float in [0, 1], fraction of the input units to drop.
        noise_shape: optional shape of the binary mask, broadcast against the input
            (``None`` entries take the input's size).
        seed: integer seed for reproducible masks.
        **kwargs: base layer arguments.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ValueError(
                "Invalid value received for argument `rate`. Expected a float value between 0 "
                f"and 1. Received: rate={rate}"
            )
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        from numdense.utils.random import draw_seed

        self._rng = np.random.default_rng(draw_seed() if seed is None else seed)
        self.supports_masking = True
        self.built = True

    def _noise(self, shape, dtype):
        if self.noise_shape is None:
            return self._rng.random(shape, dtype=dtype)
        mask_shape = tuple(s if n is None else n for n, s in zip(self.noise_shape, shape))
        return np.broadcast_to(self._rng.random(mask_shape, dtype=dtype), shape)

    def dropout_mask(self, shape):
        """A fresh scaled keep-mask for ``shape`` (training), as the kernel computes it."""
        noise = np.ascontiguousarray(self._noise(shape, self._dtype)).reshape(-1)
        ones = np.ones(noise.shape, dtype=self._dtype)
        mask = np.empty_like(ones)
        dropout_kernels.dropout_forward_into(ones, noise, ones, mask, min(self.rate, 1.0 - 1e-7))
        return mask.reshape(shape)

    def _cuda_mask(self, x):
        """``(x * mask, mask)`` on the GPU for a device array ``x``; the uniform noise is drawn
        on the host by the layer's generator (the same draws as on the CPU) and copied up."""
        shape = tuple(x.shape)
        size = int(np.prod(shape, dtype=np.int64))
        flat = x.reshape(size)
        out = backend.empty(size, x.dtype, "cuda")
        mask = backend.empty(size, x.dtype, "cuda")
        if self.rate >= 1.0:
            noise = np.zeros(size, dtype=self._dtype)  # every sample < rate: all dropped
            rate = 1.0 - 1e-7
        else:
            noise = np.ascontiguousarray(self._noise(shape, self._dtype)).reshape(-1)
            rate = self.rate
        backend.kernel_module("dropout", "cuda").dropout_forward_into(
            flat, backend.to_device(noise), out, mask, rate)
        return out.reshape(*shape), mask

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        if backend.is_device_array(inputs):
            return self._cuda_mask(inputs)[0]
        if self.rate >= 1.0:
            return np.zeros_like(inputs)
        flat = inputs.reshape(-1)
        noise = np.ascontiguousarray(self._noise(inputs.shape, self._dtype)).reshape(-1)
        out = np.empty_like(flat)
        mask = np.empty_like(flat)
        dropout_kernels.dropout_forward_into(flat, noise, out, mask, self.rate)
        return out.reshape(inputs.shape)

    def _train_forward(self, x):
        if self.rate == 0.0:
            self._mask = None
            return x
        if backend.is_device_array(x):
            out, self._mask = self._cuda_mask(x)
            return out
        self._mask = (np.zeros(x.shape, self._dtype) if self.rate >= 1.0
                      else self.dropout_mask(x.shape))
        return x * self._mask

    def _train_backward(self, dy):
        self._grads = {}
        if self._mask is None:
            return dy
        if backend.is_device_array(self._mask):
            shape = tuple(dy.shape)
            dx = backend.empty(self._mask.shape[0], self._dtype, "cuda")
            backend.kernel_module("dropout", "cuda").dropout_backward_into(
                backend.to_device(dy, self._dtype).reshape(self._mask.shape[0]), self._mask, dx)
            return dx.reshape(*shape)
        return dy * self._mask

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed, "noise_shape": self.noise_shape})
        return config
