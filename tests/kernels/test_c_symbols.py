"""``CSymbols``: a kernel's per-dtype C symbols are compiled when first needed, except where a
cached caller may already call them."""

import uuid

import numba
import pytest
from numba import types

from numdense.kernels.cpu import _gemm_cabi
from numdense.kernels.cpu._gemm_cabi import CSymbols


def _double(x, n):
    for i in range(n):
        x[i] = 2 * x[i]


@pytest.fixture
def make(tmp_path, monkeypatch):
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_gemm_cabi, "CACHE", True)
    tag = uuid.uuid4().hex

    def make(t):
        return f"numdense_test_double_{t}_{tag}", _double, types.void(types.CPointer(t), types.intp)

    return make


def test_only_the_dtypes_in_use_are_compiled(make):
    first = CSymbols(make)
    assert first._symbols == {}  # nothing cached yet: nothing compiled at construction
    symbol, cfunc = first[types.float32]
    assert symbol.startswith("numdense_test_double_float32") and cfunc.address
    assert set(first._symbols) == {types.float32}
    # A later process loads the cached float32 code at once (a cached caller may call it)
    # and still leaves float64 until it is needed.
    again = CSymbols(make)
    assert set(again._symbols) == {types.float32}


def test_an_outdated_cache_entry_compiles_every_dtype_at_once(make, tmp_path):
    CSymbols(make)[types.float32]
    (index,) = tmp_path.rglob("*.nbi")
    index.rename(index.with_name(index.name.replace("-", "-9", 1)))  # as after an edit above
    assert set(CSymbols(make)._symbols) == {types.float32, types.float64}
