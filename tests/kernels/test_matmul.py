"""matmul / matmul_tn / matmul_nt: cores and wrappers against a float64 NumPy reference."""

import re

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numdense.kernels.cpu import _gemm, _gemm_gen, _isa
from numdense.kernels.cpu._gemm_ukernel import (
    FASTMATH,
    ukernel_f32,
    ukernel_f32_wide,
    ukernel_f64,
    ukernel_f64_wide,
)
from numdense.kernels.cpu.matmul import (
    matmul,
    matmul_into,
    matmul_nt,
    matmul_nt_into,
    matmul_tn,
    matmul_tn_into,
)

DTYPES = (np.float32, np.float64)
VARIANTS = {
    "nn": (matmul, matmul_into, False, False),
    "tn": (matmul_tn, matmul_tn_into, True, False),
    "nt": (matmul_nt, matmul_nt_into, False, True),
}
# (kernel, dtype, MR, NR, wide) for every generated micro-kernel.
UKERNELS = [(ukernel_f32, numba.float32, 6, 16, False), (ukernel_f64, numba.float64, 6, 8, False),
            (ukernel_f32_wide, numba.float32, 6, 32, True), (ukernel_f64_wide, numba.float64, 6, 16, True)]
TARGET_FEATURES = set(_isa._target_features().split(","))  # what Numba compiles for
# 0, 1, primes, MR/NR (both widths)/KC/MC_MAX edges, the small/packed switch.
DIMS = st.one_of(
    st.sampled_from([0, 1, 2, 5, 6, 7, 8, 13, 16, 17, 31, 32, 33, 63, 65, 67, 71, 73, 97, 130, 257]),
    st.integers(0, 150),
)


def operands(rng, m, k, n, ta, tb, dtype):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    return a, b


def reference(a, b, ta, tb):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return (a.T if ta else a) @ (b.T if tb else b)


def assert_product(got, a, b, ta, tb, base=None):
    """Error bound of a K-term float sum: a few K * eps * (|a| @ |b|)."""
    ref = reference(a, b, ta, tb)
    scale = reference(np.abs(a), np.abs(b), ta, tb)
    if base is not None:
        ref = ref + base
        scale = scale + np.abs(base)
    k = a.shape[0] if ta else a.shape[1]
    eps = np.finfo(got.dtype).eps
    np.testing.assert_array_less(np.abs(got - ref), 4 * (k + 2) * eps * scale + np.finfo(got.dtype).tiny)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", DTYPES)
@given(m=DIMS, k=DIMS, n=DIMS, accumulate=st.booleans(), seed=st.integers(0, 2**16))
def test_core_matches_numpy(variant, dtype, m, k, n, accumulate, seed):
    _, core, ta, tb = VARIANTS[variant]
    rng = np.random.default_rng(seed)
    a, b = operands(rng, m, k, n, ta, tb, dtype)
    base = rng.standard_normal((m, n)).astype(dtype)
    out = base.copy()
    core(a, b, out, accumulate)
    assert_product(out, a, b, ta, tb, base if accumulate else None)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", [(130, 257, 67), (6, 520, 16), (200, 300, 100), (73, 33, 145), (5, 64, 1000), (100, 150, 70), (150, 500, 200)])
def test_packed_path_shapes(variant, dtype, m, k, n, rng):
    _, core, ta, tb = VARIANTS[variant]
    a, b = operands(rng, m, k, n, ta, tb, dtype)
    out = np.full((m, n), np.nan, dtype)
    core(a, b, out, False)
    assert_product(out, a, b, ta, tb)
    base = out.copy()
    core(a, b, out, True)
    assert_product(out, a, b, ta, tb, base)


@pytest.mark.parametrize("accumulate", [False, True])
def test_k_zero(accumulate):
    out = np.full((3, 4), 7.0, np.float32)
    matmul_into(np.empty((3, 0), np.float32), np.empty((0, 4), np.float32), out, accumulate)
    assert np.all(out == (7.0 if accumulate else 0.0))


def layouts(x, kind):
    if kind == "F":
        return np.asfortranarray(x)
    if kind == "strided":
        big = np.zeros((2 * x.shape[0] + 1, 3 * x.shape[1] + 2), x.dtype)
        big[1::2, 2::3] = x
        return big[1::2, 2::3]
    return x


@pytest.mark.parametrize("variant", VARIANTS)
@given(
    m=DIMS,
    k=DIMS,
    n=DIMS,
    la=st.sampled_from(["C", "F", "strided"]),
    lb=st.sampled_from(["C", "F", "strided"]),
    da=st.sampled_from(DTYPES),
    db=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**16),
)
def test_wrapper_layouts_and_dtypes(variant, m, k, n, la, lb, da, db, seed):
    wrapper, _, ta, tb = VARIANTS[variant]
    rng = np.random.default_rng(seed)
    a, _ = operands(rng, m, k, n, ta, tb, da)
    _, b = operands(rng, m, k, n, ta, tb, db)
    got = wrapper(layouts(a, la), layouts(b, lb))
    assert got.dtype == np.result_type(a, b)
    assert got.shape == (m, n) and got.flags.c_contiguous
    assert_product(got, a, b, ta, tb)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_wrapper_out_and_accumulate(variant, dtype, rng):
    wrapper, _, ta, tb = VARIANTS[variant]
    a, b = operands(rng, 40, 30, 20, ta, tb, dtype)
    out = rng.standard_normal((40, 20)).astype(dtype)
    base = out.copy()
    assert wrapper(a, b, out=out, accumulate=True) is out
    assert_product(out, a, b, ta, tb, base)
    assert wrapper(a, b, out=out) is out
    assert_product(out, a, b, ta, tb)
    assert_product(wrapper(a, b, accumulate=True), a, b, ta, tb)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("n", [8, 90])
def test_wrapper_out_may_alias_inputs(variant, n, rng):
    wrapper, _, ta, tb = VARIANTS[variant]
    a, b = operands(rng, n, n, n, ta, tb, np.float64)
    expected = reference(a, b, ta, tb)
    np.testing.assert_allclose(wrapper(a, b, out=a), expected, rtol=1e-12, atol=1e-12)
    a2, b2 = operands(rng, n, n, n, ta, tb, np.float64)
    expected = reference(a2, b2, ta, tb) + b2
    np.testing.assert_allclose(wrapper(a2, b2, out=b2, accumulate=True), expected, rtol=1e-12, atol=1e-12)


def test_transposed_views_match(rng):
    a = rng.standard_normal((50, 40))
    b = rng.standard_normal((50, 30))
    np.testing.assert_allclose(matmul(a.T, b), a.T @ b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(matmul_tn(a.T.T, b), a.T @ b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(matmul_nt(b.T, a.T), b.T @ a, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(matmul(a.T, b[:, :7].T.copy().T), a.T @ b[:, :7], rtol=1e-12, atol=1e-12)


def test_readonly_inputs(rng):
    a = rng.standard_normal((20, 10)).astype(np.float32)
    b = rng.standard_normal((10, 7)).astype(np.float32)
    a.flags.writeable = False
    b.flags.writeable = False
    assert_product(matmul(a, b), a, b, False, False)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: matmul(np.ones(3), np.ones((3, 2))), ValueError, r"matmul: a must be a 2-D array, got 1-D"),
        (lambda: matmul(np.ones((2, 3)), np.ones((2, 3, 1))), ValueError, r"b must be a 2-D array, got 3-D"),
        (lambda: matmul(np.ones((2, 3)), np.ones((4, 2))), ValueError, r"inner dimensions must match.*\(2, 3\).*\(4, 2\)"),
        (lambda: matmul_tn(np.ones((2, 3)), np.ones((4, 2))), ValueError, r"matmul_tn: inner dimensions.*a\.T"),
        (lambda: matmul_nt(np.ones((2, 3)), np.ones((4, 2))), ValueError, r"matmul_nt: inner dimensions.*b\.T"),
        (lambda: matmul(np.ones((2, 3), int), np.ones((3, 2))), TypeError, r"a must have dtype float32 or float64, got int"),
        (lambda: matmul(np.ones((2, 3)), np.ones((3, 2), np.float16)), TypeError, r"b must have dtype.*float16"),
        (lambda: matmul(np.ones((2, 3)), np.ones((3, 2)), out=np.empty((3, 2))), ValueError, r"out must have shape \(2, 2\), got \(3, 2\)"),
        (lambda: matmul(np.ones((2, 3)), np.ones((3, 2)), out=np.empty((2, 2), np.float32)), ValueError, r"out must have dtype float64, got float32"),
        (lambda: matmul(np.ones((2, 3)), np.ones((3, 2)), out=np.empty((2, 4))[:, ::2]), ValueError, r"out must be C-contiguous"),
        (lambda: matmul(np.ones((2, 3)), np.ones((3, 2)), out=[[0.0, 0.0]] * 2), ValueError, r"out must be a numpy.ndarray"),
    ],
)
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_core_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="inner dimensions"):
        matmul_into(np.ones((2, 3)), np.ones((4, 2)), np.empty((2, 2)), False)
    with pytest.raises(ValueError, match="out shape"):
        matmul_into(np.ones((2, 3)), np.ones((3, 2)), np.empty((2, 3)), False)


def test_cores_callable_from_compiled_code(rng):
    @numba.njit
    def step(x, w, dz, y, dw, dx):
        matmul_into(x, w, y, False)
        matmul_tn_into(x, dz, dw, False)
        matmul_nt_into(dz, w, dx, False)

    x = rng.standard_normal((70, 90)).astype(np.float32)
    w = rng.standard_normal((90, 50)).astype(np.float32)
    dz = rng.standard_normal((70, 50)).astype(np.float32)
    y, dw, dx = np.empty((70, 50), np.float32), np.empty((90, 50), np.float32), np.empty((70, 90), np.float32)
    step(x, w, dz, y, dw, dx)
    assert_product(y, x, w, False, False)
    assert_product(dw, x, dz, True, False)
    assert_product(dx, dz, w, False, True)
    # The caller must have reused the SLP-compiled micro-kernels (the C symbols' own signature,
    # or none when the symbols came from the cache), not compiled new ones.
    for fn, t, *_ in UKERNELS:
        assert set(fn.signatures) <= {(numba.intp, t[:, ::1], t[:, ::1], t[::1])}, fn.signatures


def test_generated_ukernel_file_is_current():
    assert _gemm_gen.PATH.read_text() == _gemm_gen.source()


def _slp_twin(fn, t):
    """An uncached twin of a micro-kernel compiled as ``ensure_compiled`` compiles it (cached
    code cannot be inspected)."""
    twin = numba.njit(fastmath=FASTMATH, error_model="numpy")(fn.py_func)
    old = numba.config.SLP_VECTORIZE
    numba.config.SLP_VECTORIZE = True
    try:
        twin.compile((numba.intp, t[:, ::1], t[:, ::1], t[::1]))
    finally:
        numba.config.SLP_VECTORIZE = old
    return twin


@pytest.mark.parametrize("fn, t, mr, nr, wide", UKERNELS)
def test_ukernel_values(fn, t, mr, nr, wide, rng):
    # Every generated shape, whichever one this CPU's drivers use (a wide kernel on a CPU without
    # AVX-512 runs its vectors split in two).
    dtype = np.dtype(str(t))
    kc = 37
    ap = rng.standard_normal((kc, mr)).astype(dtype)
    bp = rng.standard_normal((kc, nr)).astype(dtype)
    ct = np.full(mr * nr + 3, 7.0, dtype)
    _slp_twin(fn, t)(kc, ap, bp, ct)
    assert_product(ct[:mr * nr].reshape(mr, nr), ap, bp, True, False)
    np.testing.assert_array_equal(ct[mr * nr:], 7.0)  # nothing past the block is written


@pytest.mark.parametrize("fn, t, mr, nr, wide", UKERNELS)
def test_ukernel_vectorizes_under_slp(fn, t, mr, nr, wide):
    register = "zmm" if wide else "ymm"
    if f"+{'avx512f' if wide else 'avx2'}" not in TARGET_FEATURES:
        pytest.skip(f"checks {register} code")
    asm = "\n".join(_slp_twin(fn, t).inspect_asm().values())
    assert len(re.findall(rf"vfmadd\d+p[sd]\s+[^\n]*%{register}", asm)) >= 12
    assert not re.search(r"vfmadd\d+s[sd]\s", asm)
    assert "gather" not in asm


def test_drivers_use_the_widest_register_block():
    # With AVX-512 the drivers' register block is two zmm vectors wide, else two ymm vectors.
    wide = "+avx512f" in TARGET_FEATURES
    assert (_gemm.NR_F32, _gemm.NR_F64) == ((32, 16) if wide else (16, 8))
    assert _gemm.UKERNEL[numba.float32].name.endswith(f"_6x{_gemm.NR_F32}_v3")


def test_ensure_compiled_restores_slp_setting():
    before = numba.config.SLP_VECTORIZE
    _gemm.ensure_compiled()
    assert numba.config.SLP_VECTORIZE == before
