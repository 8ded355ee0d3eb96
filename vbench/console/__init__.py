"""What the CLI shows (rich): the progress of a run (``progress``), the summary after it (``summary``), and the
listings, doctor's checks and cached images (``listing``). ``out`` and ``err`` are the two consoles they print to.
"""
from __future__ import annotations

import sys

from rich.console import Console

# Piped output gets a wide table rather than rich's 80-column default.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)
