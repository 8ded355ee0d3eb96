"""A worked example of a vbench plugin: the workload ``example.fib`` and the environment ``unshare``."""
