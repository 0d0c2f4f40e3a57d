"""CUDA kernels (Numba ``@cuda.jit``): twins of ``numdense.kernels.cpu`` with the same module names
and signatures. The ``*_into`` functions take numba device arrays and launch kernels; the wrappers
also accept NumPy arrays. Importing this package imports ``numba.cuda``; nothing else in numdense
imports it, so a CPU-only install never touches CUDA.

Set ``NUMBA_ENABLE_CUDASIM=1`` before numba is first imported to run everything on the CUDA
simulator (tiny sizes only).
"""
