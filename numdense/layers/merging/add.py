"""``Add``: element-wise sum of a list of inputs of one shape."""

from numdense.layers.merging.base_merge import Merge, reduce_pairwise


class Add(Merge):
    """Adds a list of inputs: ``Add()([x1, x2])`` is ``x1 + x2``.

    Args:
        **kwargs: base layer arguments.
    """

    def _merge(self, inputs):
        return reduce_pairwise(inputs, "add_into"), len(inputs)

    def _merge_backward(self, dy, count):
        return [dy] * count
