"""``Average``: element-wise mean of a list of inputs of one shape."""

from numdense.layers.merging.base_merge import Merge, flat, merge_kernels, reduce_pairwise


def _divided(x, count):
    kernels, alloc = merge_kernels(x)
    out = alloc(tuple(x.shape), x.dtype)
    kernels.divide_into(flat(x), float(count), flat(out))
    return out


class Average(Merge):
    """Averages a list of inputs: ``(x1 + ... + xn) / n``, summed in order then divided, as
    Keras computes it.

    Args:
        **kwargs: base layer arguments.
    """

    def _merge(self, inputs):
        total = reduce_pairwise(inputs, "add_into")
        return _divided(total, len(inputs)), len(inputs)

    def _merge_backward(self, dy, count):
        return [_divided(dy, count)] * count
