"""Compiles every kernel for a real GPU (sm_75) in a subprocess without the simulator, so code
that only the simulator accepts cannot pass unnoticed. Needs libnvvm (CUDA_HOME / CUDA_PATH or
the nvidia-cuda-nvcc-cu12 wheel), not a GPU; skipped when libnvvm cannot be found."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest


def _cuda_home():
    for var in ("CUDA_HOME", "CUDA_PATH"):
        home = os.environ.get(var)
        if home and (pathlib.Path(home) / "nvvm" / "lib64" / "libnvvm.so").exists():
            return home
    try:
        spec = importlib.util.find_spec("nvidia.cuda_nvcc")
    except ModuleNotFoundError:
        spec = None
    if spec and spec.submodule_search_locations:
        home = pathlib.Path(list(spec.submodule_search_locations)[0])
        if (home / "nvvm" / "lib64" / "libnvvm.so").exists():
            return str(home)
    return None


def test_every_kernel_compiles_to_ptx():
    home = _cuda_home()
    if home is None:
        pytest.skip("libnvvm not found (set CUDA_HOME or pip install nvidia-cuda-nvcc-cu12)")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["CUDA_HOME"] = home
    script = pathlib.Path(__file__).with_name("ptx_check.py")
    root = pathlib.Path(__file__).parents[2]
    proc = subprocess.run([sys.executable, str(script)], env=env, cwd=root, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "all kernels compiled" in proc.stdout
