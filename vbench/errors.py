"""The one error type a user can cause; the CLI turns it into a one-line message and an exit code."""
from __future__ import annotations

# Exit codes of the vbench command, documented in docs/cli.md (exit codes and errors).
EXIT_OK = 0
EXIT_ERROR = 1  # bad input or an environment that cannot run: the message says which
EXIT_USAGE = 2  # malformed command line (argparse)
EXIT_INTERRUPTED = 130  # SIGINT/SIGTERM: finished trials are kept


class VBenchError(Exception):
    """A problem the user can fix: bad suite, unknown name, unavailable environment, unreadable result."""

    exit_code = EXIT_ERROR


class UsageError(VBenchError):
    """A malformed command line that argparse cannot see (e.g. how many runs compare was given)."""

    exit_code = EXIT_USAGE


class Unavailable(VBenchError):
    """An environment or workload cannot run here; the message says why."""
