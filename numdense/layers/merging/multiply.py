"""``Multiply``: element-wise product of a list of inputs of one shape."""

from numdense.layers.merging.base_merge import Merge, reduce_pairwise


class Multiply(Merge):
    """Multiplies a list of inputs: ``Multiply()([x1, x2])`` is ``x1 * x2``.

    Args:
        **kwargs: base layer arguments.
    """

    def _merge(self, inputs):
        return reduce_pairwise(inputs, "multiply_into"), inputs

    def _merge_backward(self, dy, inputs):
        # d(x0*...*xn)/dxi = dy * product of the other inputs.
        return [reduce_pairwise([dy] + inputs[:i] + inputs[i + 1:], "multiply_into")
                for i in range(len(inputs))]
