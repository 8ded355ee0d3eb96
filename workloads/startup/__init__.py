"""Start-up latency: measured by the environment itself, not by a workload running inside it."""
