"""tests/cuda runs only where numba.cuda can execute kernels: under the CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1`` set before numba is imported, e.g. in a separate pytest process) or on
a machine with a usable NVIDIA GPU. Everything here is marked ``cuda``; tests marked ``gpu`` also
need real hardware (large sizes, timings) and are skipped under the simulator. The "cpu" half of a
test shared by both kernel sets runs in the main (non-simulator) run."""

import pytest
from numba import config as numba_config


def _cuda_state():
    """(usable, simulator, reason) for this process."""
    if numba_config.ENABLE_CUDASIM:
        return True, True, ""
    try:
        from numba import cuda

        if cuda.is_available():
            return True, False, ""
    except Exception as exc:  # pragma: no cover - depends on the machine
        return False, False, f"numba.cuda unusable: {exc}"
    return False, False, "no NVIDIA GPU; run with NUMBA_ENABLE_CUDASIM=1 for the simulator"


USABLE, SIMULATOR, REASON = _cuda_state()


def _backend(item):
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("backend") if callspec is not None else None


def pytest_collection_modifyitems(config, items):
    here = __file__.rsplit("/", 1)[0]
    for item in items:
        if not str(item.fspath).startswith(here):
            continue
        item.add_marker(pytest.mark.cuda)
        if _backend(item) == "cpu":
            # The CPU half of a shared CPU/CUDA kernel test needs no GPU: the main run has it,
            # so the simulator run (the slower, separate process) leaves it out.
            if SIMULATOR:
                item.add_marker(pytest.mark.skip(reason="CPU half: runs in the main pytest run"))
            continue
        if not USABLE:
            item.add_marker(pytest.mark.skip(reason=REASON))
        elif SIMULATOR and "gpu" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="needs real NVIDIA hardware (simulator run)"))


@pytest.fixture(autouse=True)
def _small_launches():
    """Tiny blocks so the small test shapes span several blocks and ragged edges."""
    if not USABLE:
        yield
        return
    from numdense.kernels.cuda import _config

    with _config.using(tiles=(8, 8, 4, 2, 2), tpb=8):
        yield
