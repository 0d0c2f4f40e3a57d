"""``Merge``: the base of the layers that combine a list of tensors into one.

numdense's element-wise merge layers need inputs of one shape (``None`` matches any size); the
shapes Keras would broadcast (a size-1 axis, or fewer axes) raise a ``ValueError`` that says so.
"""

import numpy as np

from numdense import backend
from numdense.layers.layer import Layer


def merge_kernels(x):
    """``(kernel module, allocate(shape))`` for the device ``x`` lives on."""
    if backend.is_device_array(x):
        return backend.kernel_module("merge", "cuda"), lambda shape, dtype: backend.empty(
            shape, dtype, "cuda")
    return backend.kernel_module("merge", "cpu"), np.empty


def flat(x):
    """``x`` as a 1-D view (a contiguous copy first on the host when needed)."""
    size = int(np.prod(tuple(x.shape), dtype=np.int64))
    if backend.is_device_array(x):
        return x.reshape(size)
    return np.ascontiguousarray(x).reshape(size)


def check_list_shapes(layer, shapes, minimum):
    """Keras' checks of a merge layer's input list: a list of shapes, at least ``minimum`` of
    them, one batch size."""
    if (not isinstance(shapes, (list, tuple)) or not shapes
            or not all(isinstance(s, (list, tuple)) for s in shapes)):
        raise ValueError(
            f"A merge layer ('{layer.name}', {type(layer).__name__}) should be called on a list "
            f"of inputs. Received: input_shape={shapes} (not a list of shapes)"
        )
    if len(shapes) < minimum:
        raise ValueError(
            f"A merge layer should be called on a list of at least {minimum} input"
            f"{'s' if minimum > 1 else ''}. Got {len(shapes)} inputs. Full input_shape "
            f"received: {list(shapes)}"
        )
    batch_sizes = {s[0] for s in shapes} - {None}
    if len(batch_sizes) > 1:
        raise ValueError(
            f"Cannot merge tensors with different batch sizes. Got tensors with shapes "
            f"{list(shapes)}"
        )


def _merged_dims(layer, a, b):
    if len(a) == len(b):
        out = []
        for i, j in zip(a, b):
            if i is None or j is None or i == j:
                out.append(i if j is None else j)
            elif i != 1 and j != 1:
                raise ValueError(
                    f"Inputs have incompatible shapes. Received shapes {a} and {b}"
                )
            else:
                break
        else:
            return tuple(out)
    raise ValueError(
        f"Layer '{layer.name}' ({type(layer).__name__}) received inputs of shapes {a} and {b}: "
        "numdense's merge layers need inputs of one shape (broadcasting a size-1 axis or "
        "missing axes is not supported). Reshape the inputs to a common shape first."
    )


class Merge(Layer):
    """Base of the element-wise merge layers: one output of the inputs' common shape.

    Args:
        **kwargs: base layer arguments (``name``, ``dtype``, ``trainable``).
    """

    _list_input = True
    _min_inputs = 1

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        check_list_shapes(self, input_shape, self._min_inputs)
        dims = tuple(input_shape[0][1:])
        for shape in input_shape[1:]:
            dims = _merged_dims(self, dims, tuple(shape[1:]))
        batch = next((s[0] for s in input_shape if s[0] is not None), None)
        return (batch,) + dims

    def _check_arrays(self, inputs):
        self.compute_output_shape([tuple(x.shape) for x in inputs])
        first = tuple(inputs[0].shape)
        for x in inputs[1:]:
            if tuple(x.shape) != first:
                raise ValueError(
                    f"Inputs have incompatible shapes. Received shapes {first} and "
                    f"{tuple(x.shape)}"
                )

    def call(self, inputs, training=False):
        self._check_arrays(inputs)
        return self._merge(list(inputs))[0]

    def _train_forward(self, inputs):
        self._check_arrays(inputs)
        out, self._cache = self._merge(list(inputs))
        return out

    def _train_backward(self, dy):
        self._grads = {}
        return self._merge_backward(dy, self._cache)

    def _merge(self, inputs):
        """``(output, cache)`` for a list of same-shape arrays."""
        raise NotImplementedError

    def _merge_backward(self, dy, cache):
        """The list of input gradients."""
        raise NotImplementedError


def reduce_pairwise(inputs, kernel_name):
    """``x0 op x1 op ... op xn`` with a binary merge kernel; a new array of ``x0``'s shape."""
    kernels, alloc = merge_kernels(inputs[0])
    shape = tuple(inputs[0].shape)
    op = getattr(kernels, kernel_name)
    out = alloc(shape, inputs[0].dtype)
    out_flat = flat(out)
    if len(inputs) == 1:
        kernels.divide_into(flat(inputs[0]), 1.0, out_flat)
        return out
    op(flat(inputs[0]), flat(inputs[1]), out_flat)
    for x in inputs[2:]:
        op(out_flat, flat(x), out_flat)
    return out
