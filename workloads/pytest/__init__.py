"""Workloads that run a user's own test-suite benchmarks (pytest-benchmark) inside an environment."""
