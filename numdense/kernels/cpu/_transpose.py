"""An 8 x 8 block transpose in vector registers, for the GEMM packing routines.

Packing a transposed operand element by element costs a load and a store per element; here
eight rows of eight are loaded as vectors, transposed with a fixed network of 24 shuffles
(unpack, in-lane shuffle, lane permute: the AVX sequence) and stored as eight vectors.
The shuffles are written as LLVM ``shufflevector`` on ``<8 x T>``, so the same code serves
float32 (one ymm register per row) and float64 (two), whatever vector width the CPU has.
"""

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

# (first, second) -> result index lists for shufflevector on two <8 x T> operands.
_UNPACK_LO = (0, 8, 1, 9, 4, 12, 5, 13)
_UNPACK_HI = (2, 10, 3, 11, 6, 14, 7, 15)
_PAIRS_LO = (0, 1, 8, 9, 4, 5, 12, 13)
_PAIRS_HI = (2, 3, 10, 11, 6, 7, 14, 15)
_LANES_LO = (0, 1, 2, 3, 8, 9, 10, 11)
_LANES_HI = (4, 5, 6, 7, 12, 13, 14, 15)


def _shuffle(builder, x, y, mask):
    return builder.shuffle_vector(x, y, ir.Constant(ir.VectorType(ir.IntType(32), 8), mask))


def transpose_network(builder, rows):
    """Eight <8 x T> values (rows) -> eight <8 x T> values (columns)."""
    t = []
    for i in range(0, 8, 2):
        t += [_shuffle(builder, rows[i], rows[i + 1], _UNPACK_LO), _shuffle(builder, rows[i], rows[i + 1], _UNPACK_HI)]
    # t[0] = a0 b0 a1 b1 | a4 b4 a5 b5, t[1] = a2 b2 a3 b3 | a6 b6 a7 b7, t[2], t[3] for c, d ...
    u = []
    for i in (0, 4):
        u += [_shuffle(builder, t[i], t[i + 2], _PAIRS_LO), _shuffle(builder, t[i], t[i + 2], _PAIRS_HI),
              _shuffle(builder, t[i + 1], t[i + 3], _PAIRS_LO), _shuffle(builder, t[i + 1], t[i + 3], _PAIRS_HI)]
    # u[c] = column c and c+4 of rows a-d (lanes lo | hi); u[4 + c] the same for rows e-h.
    lo = [_shuffle(builder, u[c], u[4 + c], _LANES_LO) for c in range(4)]
    hi = [_shuffle(builder, u[c], u[4 + c], _LANES_HI) for c in range(4)]
    return lo + hi


@intrinsic
def transpose8x8(typingctx, src, s_off, s_ld, dst, d_off, d_ld):
    """dst.flat[d_off + c*d_ld + r] = src.flat[s_off + r*s_ld + c] for r, c in 0..7.

    src, dst: C-contiguous arrays of one float dtype (any rank; flat element offsets); the 8 x 8
    block is read and written in place, unaligned; the caller keeps all 64 elements in bounds.
    """
    if not (isinstance(src, types.Array) and isinstance(dst, types.Array) and src.dtype == dst.dtype
            and isinstance(src.dtype, types.Float)):
        return None

    def codegen(context, builder, sig, args):
        src_v, s_off_v, s_ld_v, dst_v, d_off_v, d_ld_v = args
        sp = context.make_array(sig.args[0])(context, builder, value=src_v).data
        dp = context.make_array(sig.args[3])(context, builder, value=dst_v).data
        elem = context.get_value_type(sig.args[0].dtype)
        vec_ptr = ir.VectorType(elem, 8).as_pointer()
        align = elem.get_abi_size(context.target_data)
        rows = []
        for r in range(8):
            off = builder.add(s_off_v, builder.mul(s_ld_v, s_ld_v.type(r)))
            rows.append(builder.load(builder.bitcast(builder.gep(sp, [off]), vec_ptr), align=align))
        for c, col in enumerate(transpose_network(builder, rows)):
            off = builder.add(d_off_v, builder.mul(d_ld_v, d_ld_v.type(c)))
            builder.store(col, builder.bitcast(builder.gep(dp, [off]), vec_ptr), align=align)
        return context.get_dummy_value()

    return types.void(src, types.intp, types.intp, dst, types.intp, types.intp), codegen
