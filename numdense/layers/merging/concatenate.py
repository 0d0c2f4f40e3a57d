"""``Concatenate``: joins a list of inputs along one axis."""

import math

import numpy as np

from numdense import backend
from numdense.layers.layer import Layer
from numdense.layers.merging.base_merge import check_list_shapes, merge_kernels


def _columns(x, axis):
    """``x`` as a 2-D (rows, columns) view: rows span the axes before ``axis``."""
    shape = tuple(x.shape)
    rows = int(math.prod(shape[:axis]))
    cols = int(math.prod(shape[axis:]))
    if not backend.is_device_array(x):
        x = np.ascontiguousarray(x)
    return x.reshape(rows, cols)


class Concatenate(Layer):
    """Concatenates a list of inputs along ``axis``; all other axes must match.

    Args:
        axis: the concatenation axis (default -1, the last); the batch axis (0) is not allowed.
        **kwargs: base layer arguments.
    """

    _list_input = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"Argument `axis` must be an integer. Received: axis={axis!r}")
        self.axis = axis
        self.supports_masking = True

    def _axis(self, rank):
        axis = self.axis % rank if -rank <= self.axis < rank else None
        if axis is None or axis == 0:
            raise ValueError(
                f"Layer '{self.name}': invalid concatenation axis={self.axis} for inputs of "
                f"rank {rank} (the batch axis 0 cannot be concatenated in a model)."
            )
        return axis

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        if (not isinstance(input_shape, (list, tuple)) or not input_shape
                or not all(isinstance(s, (list, tuple)) for s in input_shape)):
            raise ValueError(
                "A `Concatenate` layer should be called on a list of at least 1 input. "
                f"Received: input_shape={input_shape}"
            )
        check_list_shapes(self, input_shape, 1)
        ranks = {len(s) for s in input_shape}
        error = ("A `Concatenate` layer requires inputs with matching shapes except for the "
                 f"concatenation axis. Received: input_shape={list(input_shape)}")
        if len(ranks) != 1:
            raise ValueError(error)
        rank = ranks.pop()
        axis = self._axis(rank)
        out = []
        for k in range(rank):
            dims = [s[k] for s in input_shape]
            if k == axis:
                out.append(None if None in dims else int(sum(dims)))
                continue
            known = {d for d in dims if d is not None}
            if len(known) > 1:
                raise ValueError(error)
            out.append(known.pop() if known else None)
        return tuple(out)

    def _concat(self, inputs):
        shapes = [tuple(x.shape) for x in inputs]
        out_shape = self.compute_output_shape(shapes)
        if None in out_shape:  # concrete arrays: the batch sizes must agree
            raise ValueError(f"Cannot concatenate arrays of shapes {shapes}.")
        axis = self._axis(len(out_shape))
        kernels, alloc = merge_kernels(inputs[0])
        out = alloc(out_shape, inputs[0].dtype)
        out2 = _columns(out, axis)
        offset = 0
        widths = []
        for x in inputs:
            x2 = _columns(x, axis)
            kernels.copy_columns_into(x2, out2, offset)
            widths.append(x2.shape[1])
            offset += x2.shape[1]
        return out, (shapes, widths, axis)

    def call(self, inputs, training=False):
        return self._concat(list(inputs))[0]

    def _train_forward(self, inputs):
        out, self._cache = self._concat(list(inputs))
        return out

    def _train_backward(self, dy):
        self._grads = {}
        shapes, widths, axis = self._cache
        kernels, alloc = merge_kernels(dy)
        dy2 = _columns(dy, axis)
        grads, offset = [], 0
        for shape, width in zip(shapes, widths):
            dx = alloc(shape, dy.dtype)
            kernels.take_columns_into(dy2, offset, _columns(dx, axis))
            grads.append(dx)
            offset += width
        return grads

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config
