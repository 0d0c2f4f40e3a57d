"""Arrays handed to compiled loops as rows of an int64 table: (data address, rows, cols).

A training loop over a model's layers reads each layer's arrays every step. From a typed list
an item costs ~15 ns (a C call and a reference count), which for a tiny model was half of the
step; a tuple is read in ~1 ns but compiles the loop again for every depth (~20 s each). A
table row is rebuilt into an array in a few instructions, and one compiled loop (per dtype)
serves every model. The caller keeps the arrays alive while the loop runs.
"""

import numpy as np
from numba import carray, types
from numba.extending import intrinsic

from ._jit import kernel


@intrinsic
def _pointer(typingctx, address, like):
    """``address`` (an int64) as a pointer to ``like``'s dtype."""
    sig = types.CPointer(like.dtype)(address, like)

    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(sig.return_type))

    return sig, codegen


@intrinsic
def from_bits(typingctx, bits):
    """The float64 whose bit pattern is the int64 ``bits`` (``np.float64(v).view(np.int64)``
    undone), so a float can travel in an int64 table."""
    if bits != types.int64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(bits), codegen


@kernel(inline="always")
def at2(address, rows, cols, like):
    """The C-contiguous (rows, cols) array of ``like``'s dtype at ``address``."""
    return carray(_pointer(address, like), (rows, cols))


@kernel(inline="always")
def at1(address, n, like):
    """The 1-D array of ``n`` items of ``like``'s dtype at ``address``."""
    return carray(_pointer(address, like), (n,))


@kernel(inline="always")
def view2(table, i, like):
    """Row ``i`` of ``table`` as a C-contiguous (rows, cols) array of ``like``'s dtype."""
    return at2(table[i, 0], table[i, 1], table[i, 2], like)


@kernel(inline="always")
def view1(table, i, like):
    """Row ``i`` of ``table`` as a 1-D array of ``table[i, 1]`` items of ``like``'s dtype."""
    return at1(table[i, 0], table[i, 1], like)


def address_table(arrays, dtype):
    """The (len(arrays), 3) int64 table of ``arrays`` (1-D or 2-D, C-contiguous, ``dtype``).

    Raises:
        ValueError: for an array of another dtype, rank or layout (its memory would be read
            as something it is not).
    """
    table = np.zeros((len(arrays), 3), dtype=np.int64)
    for i, a in enumerate(arrays):
        if a.dtype != dtype or a.ndim not in (1, 2) or not a.flags.c_contiguous:
            raise ValueError(
                f"address_table: array {i} must be a 1-D or 2-D C-contiguous {np.dtype(dtype)} "
                f"array; received ndim={a.ndim}, dtype={a.dtype}, "
                f"C-contiguous={a.flags.c_contiguous}")
        table[i, 0] = a.ctypes.data
        table[i, 1:1 + a.ndim] = a.shape
    return table
