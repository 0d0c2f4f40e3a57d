"""Threading-layer policy for numdense's parallel kernels (filled in by the GEMM work)."""
