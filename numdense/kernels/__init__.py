"""numdense's kernel toolkit: ``numdense.kernels.cpu`` (Numba ``@njit``) and
``numdense.kernels.cuda`` (Numba ``@cuda.jit``, imported only on request)."""
