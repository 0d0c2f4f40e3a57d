"""CPU kernels (Numba ``@njit``): pure functions on NumPy arrays."""
