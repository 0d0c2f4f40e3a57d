"""Kernels of the merge layers (Add, Subtract, Multiply, Average, Concatenate) and their
gradients, on flat or row-major 2-D arrays."""

from numdense.kernels.cpu._jit import kernel


@kernel
def add_into(a, b, out):
    """Element-wise sum: ``out = a + b``.

    a, b, out: 1-D C-contiguous arrays of one length and one float dtype; ``out`` may alias
    ``a`` or ``b``.
    """
    for i in range(out.shape[0]):
        out[i] = a[i] + b[i]


@kernel
def subtract_into(a, b, out):
    """Element-wise difference: ``out = a - b`` (1-D arrays as ``add_into``; out may alias)."""
    for i in range(out.shape[0]):
        out[i] = a[i] - b[i]


@kernel
def multiply_into(a, b, out):
    """Element-wise product: ``out = a * b`` (1-D arrays as ``add_into``; out may alias)."""
    for i in range(out.shape[0]):
        out[i] = a[i] * b[i]


@kernel
def divide_into(a, divisor, out):
    """Division by a scalar: ``out = a / divisor`` (1-D arrays as ``add_into``; ``divisor`` a
    Python number; out may alias a). The quotient is formed in float64 and rounded once, which
    for float32 arrays equals float32 division."""
    for i in range(out.shape[0]):
        out[i] = a[i] / divisor


@kernel
def copy_columns_into(src, dst, offset):
    """Concatenation step: ``dst[:, offset:offset + w] = src`` for ``src`` of shape (m, w).

    src: (m, w), dst: (m, n) with ``offset + w <= n``; both C-contiguous, one float dtype.
    Only those columns of ``dst`` are written.
    """
    for r in range(src.shape[0]):
        for c in range(src.shape[1]):
            dst[r, offset + c] = src[r, c]


@kernel
def take_columns_into(src, offset, dst):
    """Concatenation gradient: ``dst = src[:, offset:offset + w]`` for ``dst`` of shape (m, w).

    src: (m, n), dst: (m, w) with ``offset + w <= n``; both C-contiguous, one float dtype.
    """
    for r in range(dst.shape[0]):
        for c in range(dst.shape[1]):
            dst[r, c] = src[r, offset + c]
