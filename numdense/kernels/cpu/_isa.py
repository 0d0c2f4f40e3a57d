"""The vector width the GEMM micro-kernels are built for, and the hint that makes LLVM use it.

On CPUs with AVX-512, LLVM's tuning for recent Intel cores prefers 256-bit vectors, so the SLP
vectorizer builds the micro-kernels from ymm FMAs: half the arithmetic per instruction that
OpenBLAS's kernels get from zmm. ``WIDE_VECTORS`` is true when the code Numba compiles may use
AVX-512; the micro-kernels then take a twice-as-wide register block and carry
``prefer_wide_vectors()``, which asks LLVM for 512-bit vectors in that one function.

The choice follows the CPU features Numba compiles for, which are part of Numba's cache key, so a
cached caller and the micro-kernel it calls always agree on the block width.
"""

from llvmlite.ir.values import FunctionAttributes
from numba import types
from numba.core.registry import cpu_target
from numba.extending import intrinsic


def _target_features():
    """The CPU features string Numba's JIT compiles for (``+avx2,+avx512f,...``)."""
    return cpu_target.target_context.codegen().magic_tuple()[2]


WIDE_VECTORS = "+avx512f" in _target_features().split(",")

_WIDE_HINTS = ('"prefer-vector-width"="512"', '"min-legal-vector-width"="512"')


class _WideVectorAttributes(FunctionAttributes):
    """A function's attributes plus LLVM's 512-bit vector-width hints (llvmlite's attribute set
    accepts only enum attributes, so the string ones are appended where it writes the list)."""

    def _to_list(self, ret_type):
        return super()._to_list(ret_type) + list(_WIDE_HINTS)

    def __bool__(self):  # the prototype is written with its attributes only when this is true
        return True


@intrinsic
def prefer_wide_vectors(typingctx):
    """Mark the function being compiled for 512-bit vectors (no code is emitted).

    The hint covers the whole function: both its vectorization and the registers its vectors are
    lowered to. Where the CPU has no AVX-512, LLVM splits the wide vectors into the widest it has.
    """

    def codegen(context, builder, sig, args):
        fn = builder.function
        if not isinstance(fn.attributes, _WideVectorAttributes):
            wide = _WideVectorAttributes(fn.attributes)
            wide.alignstack = fn.attributes.alignstack
            wide.personality = fn.attributes.personality
            fn.attributes = wide
        return context.get_dummy_value()

    return types.none(), codegen
