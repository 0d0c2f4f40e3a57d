"""``Subtract``: the difference of exactly two inputs."""

from numdense.layers.merging.base_merge import Merge, flat, merge_kernels, reduce_pairwise


class Subtract(Merge):
    """Subtracts two inputs: ``Subtract()([x1, x2])`` is ``x1 - x2``.

    Args:
        **kwargs: base layer arguments.
    """

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and len(input_shape) != 2:
            raise ValueError(
                "A `Subtract` layer should be called on exactly 2 inputs. "
                f"Received: input_shape={list(input_shape)}"
            )
        return super().compute_output_shape(input_shape)

    def _merge(self, inputs):
        return reduce_pairwise(inputs, "subtract_into"), None

    def _merge_backward(self, dy, cache):
        kernels, alloc = merge_kernels(dy)
        neg = alloc(tuple(dy.shape), dy.dtype)
        kernels.divide_into(flat(dy), -1.0, flat(neg))
        return [dy, neg]
