"""``InputSpec``: the rank and axis sizes a layer accepts, checked on every call."""


class InputSpec:
    """Constraints on a layer input.

    Args:
        ndim: exact rank, or None.
        min_ndim: minimum rank, or None.
        axes: dict ``{axis: size}`` of required sizes (negative axes allowed).
    """

    def __init__(self, ndim=None, min_ndim=None, axes=None):
        self.ndim = ndim
        self.min_ndim = min_ndim
        self.axes = dict(axes or {})


def assert_input_compatibility(spec, shape, layer_name, index=0):
    """Raises ValueError, naming the layer and both shapes, if ``shape`` breaks ``spec``."""
    if spec is None:
        return
    shape = tuple(shape)
    head = f"Input {index} of layer '{layer_name}' is incompatible with the layer: "
    if spec.ndim is not None and len(shape) != spec.ndim:
        raise ValueError(
            f"{head}expected ndim={spec.ndim}, found ndim={len(shape)}. Full shape received: {shape}"
        )
    if spec.min_ndim is not None and len(shape) < spec.min_ndim:
        raise ValueError(
            f"{head}expected min_ndim={spec.min_ndim}, found ndim={len(shape)}. "
            f"Full shape received: {shape}"
        )
    for axis, size in spec.axes.items():
        if size is None:
            continue
        try:
            got = shape[axis]
        except IndexError:
            raise ValueError(
                f"{head}expected axis {axis} of input shape to exist. Full shape received: {shape}"
            ) from None
        if got is not None and got != size:
            raise ValueError(
                f"{head}expected axis {axis} of input shape to have value {size}, "
                f"but received input with shape {shape}"
            )
