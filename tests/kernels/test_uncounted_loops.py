"""The training loop runs without Numba's reference counting (``kernel(refcounted=False)``):
no ``NRT_incref`` / ``NRT_decref`` call in its body, no allocation it could leak, and the
kernels it calls keep their own counting whichever caller compiles them first."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from numba import types
from numba.core.errors import TypingError

import numdense as nd
from numdense.kernels.cpu import sequential as seq
from numdense.kernels.cpu._jit import kernel


def _body(llvm_ir, name):
    """The text of the function that Numba compiled for the Python function ``name`` in
    ``llvm_ir``: not its Python or C wrappers, nor the callees linked into the module."""
    tag = f"{len(name)}{name}B"  # the mangled name's part for ``name``, then its ABI tags
    found = []
    for start in (m.start() for m in re.finditer(r"^define ", llvm_ir, flags=re.M)):
        header = llvm_ir[start:llvm_ir.index("\n", start)]
        symbol = re.search(r"@(\S+)\(", header).group(1).strip('"')
        if tag in symbol and not symbol.startswith(("_ZN7cpython", "cfunc.")):
            found.append(llvm_ir[start:llvm_ir.index("\n}", start)])
    assert len(found) == 1, f"{len(found)} functions named {name}"
    return found[0]


def _refcount_calls(body):
    return len(re.findall(r"call [^\n]*@NRT_(?:incref|decref)\b", body))


@pytest.mark.parametrize("loop", [seq.sequential_train_epochs, seq._batch_gradients])
def test_the_training_loop_is_compiled_without_reference_counts(loop):
    # What the flag does to a function's code is checked on a small kernel below (the loop's
    # own code cannot be inspected when it is loaded from the cache).
    assert loop.targetoptions["_nrt"] is False


@kernel(cache=False)
def _total(a):
    return a.sum()


def _sum_of_row_heads(a, n):
    # Row views handed to a kernel inside a branch of a loop: counts that Numba's pruning of
    # matched pairs keeps, as in the training loop.
    total = 0.0
    for i in range(n):
        if a[i, 0] > 1:
            total += _total(a[i][:2])
    return total


def test_an_uncounted_kernel_makes_no_reference_count_calls():
    signature = (types.float64[:, ::1], types.int64)
    table = np.arange(12.0).reshape(4, 3)
    for refcounted in (True, False):
        dispatcher = kernel(cache=False, refcounted=refcounted)(_sum_of_row_heads)
        assert dispatcher(table, 4) == 7.0 + 13.0 + 19.0
        body = _body(dispatcher.inspect_llvm(signature), "_sum_of_row_heads")
        assert (_refcount_calls(body) > 0) == refcounted


def test_a_counted_kernel_counts_even_when_an_uncounted_caller_compiles_it_first():
    # A Numba callee takes the reference-counting flag of the first caller that compiles it,
    # unless it sets its own: a view it returns would then carry no count, and a counting
    # caller would release it once too often.
    @kernel(cache=False)
    def head(a, n):
        return a[:n]

    @kernel(cache=False, refcounted=False)
    def uncounted_first_two(a):
        v = head(a, 2)
        return v[0] + v[1]

    @kernel(cache=False)
    def counted_first(a):
        return head(a, 1)[0]

    a = np.arange(4.0)
    assert uncounted_first_two(a) == 1.0  # compiles head first, from the uncounted caller
    for _ in range(1000):
        assert counted_first(a) == 0.0
    body = _body(next(iter(head.inspect_llvm().values())), "head")
    assert _refcount_calls(body) > 0  # the returned view's count is taken
    assert np.array_equal(a, np.arange(4.0))


def test_an_uncounted_kernel_can_neither_allocate_nor_return_a_view():
    def allocates(n):
        return np.zeros(n).sum()

    def returns_a_view(a):
        return a[:1]

    for fn, args in ((allocates, (3,)), (returns_a_view, (np.zeros(2),))):
        with pytest.raises(TypingError):
            kernel(cache=False, refcounted=False)(fn)(*args)


_LEAK_SCRIPT = r"""
import gc, json
import numpy as np
import numdense as nd
from numba.core.runtime import rtsys

rng = np.random.default_rng(0)
x = rng.random((300, 40)).astype(np.float32)
y = rng.integers(0, 3, 300)

def fit(model, optimizer, loss, target):
    model.compile(optimizer=optimizer, loss=loss)
    model.fit(x, target, batch_size=64, epochs=2, verbose=0)

def models():
    nd.utils.set_random_seed(1)
    # A constraint (its kernel allocates a scratch row), dropout, an activity regularizer.
    yield (nd.Sequential([nd.Input((40,)),
                          nd.layers.Dense(16, activation="tanh", kernel_constraint="max_norm",
                                          activity_regularizer=nd.regularizers.L2(0.01)),
                          nd.layers.Dropout(0.3), nd.layers.Dense(3)]),
           "rmsprop", nd.losses.SparseCategoricalCrossentropy(from_logits=True), y)
    # Layers big enough for the packed GEMM (scratch panels) and the parallel Adam and gather.
    yield (nd.Sequential([nd.Input((40,)), nd.layers.Dense(1024, activation="relu"),
                          nd.layers.Dense(1)]),
           nd.optimizers.Adam(global_clipnorm=1.0), "mse", x[:, :1])

for args in models():  # compile everything first
    fit(*args)
gc.collect()
before = rtsys.get_allocation_stats()
for args in models():
    fit(*args)
gc.collect()
after = rtsys.get_allocation_stats()
print(json.dumps({"alloc": after.alloc - before.alloc, "free": after.free - before.free,
                  "mi_alloc": after.mi_alloc - before.mi_alloc,
                  "mi_free": after.mi_free - before.mi_free}))
"""


def test_training_through_the_uncounted_loop_frees_what_its_kernels_allocate():
    env = dict(os.environ, NUMBA_NRT_STATS="1")
    out = subprocess.run([sys.executable, "-c", _LEAK_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    stats = json.loads(out.stdout.strip().splitlines()[-1])
    assert stats["alloc"] > 0  # the kernels did allocate: the count is live
    assert stats["alloc"] == stats["free"], stats
    assert stats["mi_alloc"] == stats["mi_free"], stats
