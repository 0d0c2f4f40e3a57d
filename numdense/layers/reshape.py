"""``Reshape``: gives every sample a new shape with the same number of elements."""

import math

from numdense.layers.layer import Layer


def resolve_target_shape(input_dims, target_shape):
    """The per-sample output shape for ``input_dims`` (batch axis excluded), with the one
    ``-1`` of ``target_shape`` filled in when the input size is known (Keras' rules/errors)."""
    target_shape = tuple(target_shape)
    if target_shape.count(-1) > 1:
        raise ValueError(
            "There must be at most one unknown dimension (-1) in target_shape. Received: "
            f"target_shape={target_shape}."
        )
    if None in input_dims:
        return tuple(None if d == -1 else d for d in target_shape)
    size = math.prod(input_dims)
    if -1 not in target_shape:
        if size != math.prod(target_shape):
            raise ValueError(
                "The total size of the tensor must be unchanged. Received: "
                f"input_shape={tuple(input_dims)}, target_shape={target_shape}"
            )
        return target_shape
    known = math.prod(d for d in target_shape if d != -1)
    if known == 0 or size % known:
        raise ValueError(
            "The total size of the tensor must be unchanged, however, the input size cannot "
            "by divided by the specified dimensions in target_shape. Received: "
            f"input_shape={tuple(input_dims)}, target_shape={target_shape}"
        )
    return tuple(size // known if d == -1 else d for d in target_shape)


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (the batch axis is kept).

    Args:
        target_shape: tuple of positive integers, one of which may be -1 (inferred).
        **kwargs: base layer arguments.
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        if isinstance(target_shape, int):
            target_shape = (target_shape,)
        try:
            target_shape = tuple(target_shape)
        except TypeError:
            raise ValueError(
                "Argument `target_shape` must be a tuple of integers. Received: "
                f"target_shape={target_shape!r}"
            ) from None
        for d in target_shape:
            if isinstance(d, bool) or not isinstance(d, int) or (d < 1 and d != -1):
                raise ValueError(
                    "Argument `target_shape` must be a tuple of positive integers, with at most "
                    f"one -1. Received: target_shape={target_shape}"
                )
        if target_shape.count(-1) > 1:
            resolve_target_shape((None,), target_shape)  # raises Keras' error
        self.target_shape = target_shape

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + resolve_target_shape(tuple(input_shape[1:]),
                                                        self.target_shape)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def _reshaped(self, x):
        shape = tuple(x.shape)
        out = (shape[0],) + resolve_target_shape(shape[1:], self.target_shape)
        return x.reshape(*out) if out != shape else x

    def call(self, inputs, training=False):
        return self._reshaped(inputs)

    def _train_forward(self, x):
        self._cache = tuple(x.shape)
        return self._reshaped(x)

    def _train_backward(self, dy):
        self._grads = {}
        return dy.reshape(*self._cache) if tuple(dy.shape) != self._cache else dy

    def get_config(self):
        config = super().get_config()
        config["target_shape"] = self.target_shape
        return config
