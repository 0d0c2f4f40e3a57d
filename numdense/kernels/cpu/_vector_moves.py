"""Vector moves for the GEMM packing and write-back: block transposes and plain row moves.

Numba compiles with LLVM's SLP vectorizer off, so short fixed-length copies (a 16-wide tile row,
an MR-group of a packed panel) stay scalar: the loop vectorizer leaves constant trip counts to
full unrolling. These intrinsics emit the vector IR directly.

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


def _emit_transpose(context, builder, sig, args, nrows):
    """Load nrows (<= 8) rows of 8, transpose, store the first nrows lanes of each column."""
    src_v, s_off_v, s_ld_v, dst_v, d_off_v, d_ld_v = args
    sp = context.make_array(sig.args[0])(context, builder, value=src_v).data
    dp = context.make_array(sig.args[3])(context, builder, value=dst_v).data
    elem = context.get_value_type(sig.args[0].dtype)
    align = elem.get_abi_size(context.target_data)
    rows = []
    for r in range(nrows):
        off = builder.add(s_off_v, builder.mul(s_ld_v, s_ld_v.type(r)))
        rows.append(builder.load(builder.bitcast(builder.gep(sp, [off]), ir.VectorType(elem, 8).as_pointer()), align=align))
    rows += [rows[-1]] * (8 - nrows)  # lanes that are never stored
    pieces = [(0, 8)] if nrows == 8 else _split_lanes(nrows)
    for c, col in enumerate(transpose_network(builder, rows)):
        base = builder.add(d_off_v, builder.mul(d_ld_v, d_ld_v.type(c)))
        for lane, width in pieces:
            part = col if width == 8 else builder.shuffle_vector(
                col, col, ir.Constant(ir.VectorType(ir.IntType(32), width), list(range(lane, lane + width))))
            ptr = builder.gep(dp, [builder.add(base, base.type(lane))])
            builder.store(part, builder.bitcast(ptr, ir.VectorType(elem, width).as_pointer()), align=align)
    return context.get_dummy_value()


def _split_lanes(n):
    """n lanes as stores of 4, 2, 1: [(first lane, width), ...]."""
    out, lane = [], 0
    for width in (4, 2, 1):
        while n - lane >= width:
            out.append((lane, width))
            lane += width
    return out


def _typed(src, dst):
    return (isinstance(src, types.Array) and isinstance(dst, types.Array) and src.dtype == dst.dtype
            and isinstance(src.dtype, types.Float))


@intrinsic
def transpose8x8(typingctx, src, s_off, s_ld, dst, d_off, d_ld):
    """dst.flat[d_off + c*d_ld + r] = src.flat[s_off + r*s_ld + c] for r, c in 0..7.

    src, dst: C-contiguous arrays of one float dtype (any rank; flat element offsets); the 8 x 8
    block is read and written in place, unaligned; the caller keeps all 64 elements in bounds.
    """
    if not _typed(src, dst):
        return None
    sig = types.void(src, types.intp, types.intp, dst, types.intp, types.intp)
    return sig, lambda context, builder, sig, args: _emit_transpose(context, builder, sig, args, 8)


@intrinsic
def transpose_rows(typingctx, src, s_off, s_ld, nrows, dst, d_off, d_ld):
    """``transpose8x8`` for nrows (a compile-time constant, 1..8) rows of 8:
    dst.flat[d_off + c*d_ld + r] = src.flat[s_off + r*s_ld + c] for r < nrows, c < 8.

    Packs an MR-row micro-panel of A (MR = 6) eight depth steps at a time.
    """
    if not _typed(src, dst) or not isinstance(nrows, types.IntegerLiteral) or not 1 <= nrows.literal_value <= 8:
        return None
    n = nrows.literal_value
    sig = types.void(src, types.intp, types.intp, nrows, dst, types.intp, types.intp)

    def codegen(context, builder, sig, args):
        inner = types.void(sig.args[0], types.intp, types.intp, sig.args[4], types.intp, types.intp)
        return _emit_transpose(context, builder, inner, args[:3] + args[4:], n)

    return sig, codegen


@intrinsic
def move(typingctx, dst, d_off, src, s_off, width, add):
    """dst.flat[d_off:d_off+width] = (or += when add) src.flat[s_off:s_off+width].

    width: a compile-time constant (1..64); dst, src: C-contiguous arrays of one float dtype; the
    lanes are moved as one vector (unaligned), split by LLVM into the CPU's registers.
    """
    if not _typed(src, dst) or not isinstance(width, types.IntegerLiteral) or not 1 <= width.literal_value <= 64:
        return None
    n = width.literal_value
    sig = types.void(dst, types.intp, src, types.intp, width, types.boolean)

    def codegen(context, builder, sig, args):
        dst_v, d_off_v, src_v, s_off_v, _, add_v = args
        elem = context.get_value_type(sig.args[0].dtype)
        vec_ptr = ir.VectorType(elem, n).as_pointer()
        align = elem.get_abi_size(context.target_data)
        dp = builder.bitcast(builder.gep(context.make_array(sig.args[0])(context, builder, value=dst_v).data, [d_off_v]), vec_ptr)
        sp = builder.bitcast(builder.gep(context.make_array(sig.args[2])(context, builder, value=src_v).data, [s_off_v]), vec_ptr)
        lanes = builder.load(sp, align=align)
        with builder.if_else(add_v) as (then, otherwise):
            with then:
                builder.store(builder.fadd(builder.load(dp, align=align), lanes), dp, align=align)
            with otherwise:
                builder.store(lanes, dp, align=align)
        return context.get_dummy_value()

    return sig, codegen
