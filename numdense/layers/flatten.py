"""``Flatten``: flattens every sample to one dimension."""

import math

from numdense.layers.layer import Layer


class Flatten(Layer):
    """Flattens the input; does not affect the batch size.

    Args:
        data_format: ``"channels_last"`` (default) or ``"channels_first"``; only affects the
            element order of inputs of rank > 2 (channels first is moved last before flattening,
            as in Keras).
        **kwargs: base layer arguments.
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        data_format = data_format or "channels_last"
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(
                "The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
                f"Received: data_format={data_format}"
            )
        self.data_format = data_format

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else int(math.prod(rest))
        return (input_shape[0], size)

    def call(self, inputs, training=False):
        x = inputs
        if self.data_format == "channels_first" and x.ndim > 2:
            x = x.transpose((0,) + tuple(range(2, x.ndim)) + (1,))
        return x.reshape(x.shape[0], -1)

    def _train_forward(self, x):
        self._cache = x.shape
        if self.data_format == "channels_first" and x.ndim > 2:
            raise NotImplementedError("Training through Flatten(data_format='channels_first').")
        return x.reshape(x.shape[0], -1)

    def _train_backward(self, dy):
        self._grads = {}
        return dy.reshape(self._cache)

    def get_config(self):
        config = super().get_config()
        config["data_format"] = self.data_format
        return config
