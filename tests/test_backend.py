"""The device switch on a CPU-only process: CPU use never imports numba.cuda, and asking for
CUDA where it cannot run raises an error that says why."""

import os
import subprocess
import sys
import textwrap

import pytest

from numdense import backend

_ENV = {k: v for k, v in os.environ.items() if k not in ("NUMBA_ENABLE_CUDASIM", "NUMDENSE_DEVICE")}


def _run(code):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=_ENV, timeout=300)


def test_cpu_use_never_imports_numba_cuda():
    result = _run("""
        import sys
        import numpy as np
        import numdense as nd
        model = nd.models.Sequential([nd.layers.Input((5,)), nd.layers.Dense(4, activation="relu"),
                                      nd.layers.Dense(3, activation="softmax")])
        model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
        x = np.random.rand(16, 5).astype("float32")
        y = np.eye(3, dtype="float32")[np.arange(16) % 3]
        model.fit(x, y, batch_size=4, epochs=2, verbose=0)
        model.predict(x, verbose=0)
        model.get_weights()
        print(sorted(m for m in sys.modules if m.startswith("numba.cuda")
                     or m.startswith("numdense.kernels.cuda")))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.skipif("NUMBA_ENABLE_CUDASIM" in os.environ, reason="the simulator makes CUDA usable")
def test_set_device_cuda_without_a_gpu_names_the_reason():
    result = _run("""
        import numdense as nd
        try:
            nd.set_device("cuda")
        except RuntimeError as exc:
            print("RuntimeError:", exc)
        else:
            print("usable")
        print(nd.get_device())
    """)
    assert result.returncode == 0, result.stderr
    first, device = result.stdout.strip().splitlines()
    if first == "usable":  # pragma: no cover - a machine with a GPU
        assert device == "cuda"
        return
    assert first.startswith("RuntimeError: Cannot use the 'cuda' device: ")
    assert "GPU" in first or "numba.cuda" in first
    assert device == "cpu"


def test_unknown_device_and_unusable_cuda_message(monkeypatch):
    with pytest.raises(ValueError, match="Unknown device 'tpu'"):
        backend.set_device("tpu")
    monkeypatch.setattr(backend, "_cuda_problem", lambda: "no usable NVIDIA GPU (test)")
    with pytest.raises(RuntimeError, match="no usable NVIDIA GPU \\(test\\)"):
        backend.set_device("cuda")
    with pytest.raises(RuntimeError):
        with backend.device("cuda"):
            pass


def test_host_helpers_on_the_cpu():
    import numpy as np

    a = np.arange(3.0)
    assert not backend.is_device_array(a)
    assert backend.to_host(a) is a
    assert backend.empty((2,), "float32").dtype == np.float32
    assert backend.array_device(a) == "cpu"
