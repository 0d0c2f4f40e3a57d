"""Arrays handed to compiled loops as rows of an int64 table: (data address, rows, cols).

A training loop over a model's layers reads each layer's arrays every step. From a typed list
an item costs ~15 ns (a C call and a reference count), which for a tiny model was half of the
step; a tuple is read in ~1 ns but compiles the loop again for every depth (~20 s each). A
table row is rebuilt into an array in a few instructions, and one compiled loop (per dtype)
serves every model. The caller keeps the arrays alive while the loop runs.
"""

import numpy as np
from numba import types
from numba.core.errors import TypingError
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array

# The readers below are intrinsics rather than inlined Numba functions: a loop reads dozens of
# table rows, and each inlined call copies and re-types the callee's IR (seconds of the loop's
# cold compile).


def _array_at(context, builder, aryty, address, shape):
    """The C-contiguous array value of type ``aryty`` over ``address`` (int64) and ``shape``."""
    ary = make_array(aryty)(context, builder)
    itemsize = context.get_constant(
        types.intp, context.get_abi_sizeof(context.get_data_type(aryty.dtype)))
    strides = [itemsize] * len(shape)
    for d in range(len(shape) - 2, -1, -1):
        strides[d] = builder.mul(strides[d + 1], shape[d + 1])
    populate_array(ary, data=builder.inttoptr(address, ary.data.type), shape=shape,
                   strides=strides, itemsize=itemsize, meminfo=None)
    return ary._getvalue()


def _row_items(context, builder, table_type, table, index_type, index, count):
    """Items 0..count-1 of row ``index`` of a C-contiguous 2-D int64 table."""
    t = make_array(table_type)(context, builder, value=table)
    cols = builder.extract_value(t.shape, 1)
    base = builder.mul(context.cast(builder, index, index_type, types.intp), cols)
    return [builder.load(builder.gep(t.data, [builder.add(base, cols.type(j))]))
            for j in range(count)]


def _check(name, like, ints=(), table=None):
    if not isinstance(like, types.Array) or like.dtype not in (types.float32, types.float64):
        raise TypingError(f"{name}: like must be a float32 or float64 array, got {like}")
    if table is not None and not (isinstance(table, types.Array) and table.ndim == 2
                                  and table.dtype == types.int64 and table.layout == "C"):
        raise TypingError(f"{name}: table must be a C-contiguous 2-D int64 array, got {table}")
    for v in ints:
        if not isinstance(v, types.Integer):
            raise TypingError(f"{name}: expected an integer, got {v}")


@intrinsic
def from_bits(typingctx, bits):
    """The float64 whose bit pattern is the int64 ``bits`` (``np.float64(v).view(np.int64)``
    undone), so a float can travel in an int64 table."""
    if bits != types.int64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(bits), codegen


def _at(name, address, dims, like):
    """(signature, codegen) of the C-contiguous array of ``like``'s dtype at ``address``, its
    shape the integer arguments ``dims``."""
    _check(name, like, (address, *dims))
    sig = types.Array(like.dtype, len(dims), "C")(address, *dims, like)

    def codegen(context, builder, sig, args):
        address, *shape = [context.cast(builder, v, t, types.intp)
                           for v, t in zip(args[:-1], sig.args[:-1])]
        return _array_at(context, builder, sig.return_type, address, shape)

    return sig, codegen


def _view(name, table, i, like, ndim):
    """(signature, codegen) of row ``i`` of ``table`` as an ``ndim``-D array of ``like``'s dtype."""
    _check(name, like, (i,), table)
    sig = types.Array(like.dtype, ndim, "C")(table, i, like)

    def codegen(context, builder, sig, args):
        address, *shape = _row_items(context, builder, sig.args[0], args[0], sig.args[1],
                                     args[1], ndim + 1)
        return _array_at(context, builder, sig.return_type, address, shape)

    return sig, codegen


@intrinsic
def at2(typingctx, address, rows, cols, like):
    """The C-contiguous (rows, cols) array of ``like``'s dtype at ``address``."""
    return _at("at2", address, (rows, cols), like)


@intrinsic
def at1(typingctx, address, n, like):
    """The 1-D array of ``n`` items of ``like``'s dtype at ``address``."""
    return _at("at1", address, (n,), like)


@intrinsic
def view2(typingctx, table, i, like):
    """Row ``i`` of ``table`` as a C-contiguous (rows, cols) array of ``like``'s dtype."""
    return _view("view2", table, i, like, 2)


@intrinsic
def view1(typingctx, table, i, like):
    """Row ``i`` of ``table`` as a 1-D array of ``table[i, 1]`` items of ``like``'s dtype."""
    return _view("view1", table, i, like, 1)


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
