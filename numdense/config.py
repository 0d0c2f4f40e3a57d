"""Global numeric settings: the default float type and the fuzz factor, as in ``keras.config``."""

_SUPPORTED_FLOATX = ("float32", "float64")
_FLOATX = "float32"
_EPSILON = 1e-7


def floatx():
    """Returns the default float type as a string (``"float32"`` unless changed)."""
    return _FLOATX


def float_name(value):
    """The dtype name of ``value`` (a string or NumPy dtype), or None if it is not a supported
    float type (float32, float64)."""
    try:
        import numpy as np

        name = np.dtype(value).name
    except TypeError:
        name = str(value)
    return name if name in _SUPPORTED_FLOATX else None


def set_floatx(value):
    """Sets the default float type.

    Args:
        value: ``"float32"`` or ``"float64"`` (a NumPy dtype naming one of them is accepted).

    Raises:
        ValueError: for any other type.
    """
    global _FLOATX
    name = float_name(value)
    if name is None:
        raise ValueError(
            f"Unknown `floatx` value: {value!r}. Expected one of {set(_SUPPORTED_FLOATX)}."
        )
    _FLOATX = name


def epsilon():
    """Returns the fuzz factor used in numeric expressions (``1e-7``)."""
    return _EPSILON


def set_epsilon(value):
    """Sets the fuzz factor used in numeric expressions.

    Args:
        value: a positive float.
    """
    global _EPSILON
    value = float(value)
    if not value > 0:
        raise ValueError(f"`epsilon` must be a positive float. Received: value={value}")
    _EPSILON = value
