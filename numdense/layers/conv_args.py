"""Keras 3 argument checks shared by the convolution and pooling layers."""

import numpy as np

from numdense.kernels.cpu.conv import conv_output_size


def standardize_tuple(value, n, name, allow_zero=False):
    """``value`` (an int or n ints) as a tuple of n ints, with Keras' error for anything else.

    Args:
        value: int or iterable of ints.
        n: length of the tuple.
        name: argument name for the error message.
        allow_zero: accept 0 (else every value must be > 0).
    """
    message = f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value}"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        values = (int(value),) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise ValueError(message) from None
        if len(values) != n:
            raise ValueError(message)
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ValueError(f"{message}including element {v} of type {type(v)}")
        values = tuple(int(v) for v in values)
    bad = {v for v in values if (v < 0 if allow_zero else v <= 0)}
    if bad:
        need = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{message}, including values {bad} that do not satisfy `value {need}`")
    return values


def standardize_padding(value):
    """``"valid"`` or ``"same"`` (case-insensitive), with Keras' error otherwise."""
    padding = value.lower() if isinstance(value, str) else value
    if padding not in ("valid", "same"):
        raise ValueError(
            "The `padding` argument must be a list/tuple or one of {'valid', 'same'}. "
            f"Received: {value}"
        )
    return padding


def standardize_data_format(value, layer):
    """``"channels_last"`` (the default); ``channels_first`` is refused with a clear error."""
    data_format = "channels_last" if value is None else str(value).lower()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            "The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
            f"Received: data_format={value}"
        )
    if data_format == "channels_first":
        raise NotImplementedError(
            f"{layer}: numdense implements data_format='channels_last' only; received "
            "data_format='channels_first' (transpose the input to NHWC instead)."
        )
    return data_format


def spatial_output(input_shape, window, strides, dilation, padding, layer, what):
    """The output (height, width) and padding before (top, left) of a windowed 2-D op.

    Sizes of None stay None. Raises ValueError naming the layer when an output size is not
    positive.
    """
    sizes, pads = [], []
    for axis in (0, 1):
        size = input_shape[1 + axis]
        if size is None:
            sizes.append(None)
            pads.append(0)
            continue
        out, before = conv_output_size(int(size), window[axis], strides[axis], dilation[axis], padding)
        if out <= 0:
            raise ValueError(
                f"Computed output size would be negative. Received `inputs shape={tuple(input_shape)}`, "
                f"`{what}`, `dilation_rate={list(dilation)}` (layer '{layer}')."
            )
        sizes.append(out)
        pads.append(before)
    return tuple(sizes), tuple(pads)
