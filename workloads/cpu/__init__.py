"""CPU workloads: interpreter loops, hashing, compression, a sieve and (with numpy) BLAS matrix multiply."""
