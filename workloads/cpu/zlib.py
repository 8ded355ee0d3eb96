"""zlib (deflate) level-6 compression throughput, in MiB/s of input: branchy native code with a cache-sized window.

The input is text-like and deterministic: words drawn with a fixed seed from a small vocabulary fill a 64 KiB
block, repeated up to ``size``. The repeats lie farther apart than deflate's 32 KiB window, so they do not make
the data easier; it compresses about 3:1, so the matcher works as it does on real files rather than racing
through random or constant bytes. The ratio, the zlib version and a CRC of the input go into info, so every
environment provably compressed the same bytes with a known library.
"""
from __future__ import annotations

import random
import zlib
from typing import Any, Callable

from workloads.rules import Number, Size
from workloads.timing import repeat_for
from workloads.units import parse_size

PARAMS: dict[str, Any] = {"seconds": 2.0, "size": "1M", "level": 6}
RULES = {"seconds": Number(0.001, 3600), "size": Size(1, 256 << 20), "level": Number(0, 9, integer=True)}
METRICS = {"throughput": ("MiB/s", True)}
PRIMARY = "throughput"
SEED = 20261129
BLOCK = 64 * 1024


def sample_text(size: int, seed: int = SEED) -> bytes:
    """``size`` bytes of seeded pseudo-text (see the module docstring)."""
    rng = random.Random(seed)
    letters = "etaoinshrdlucmfwypvbgkjqxz"
    vocab = ["".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(512)]
    block = " ".join(rng.choices(vocab, k=BLOCK // 3)).encode()[:BLOCK]
    return (block * (size // BLOCK + 1))[:size]


def unit(params: dict[str, Any]) -> tuple[Callable[[], object], float, dict[str, Any]]:
    """One call of the work, the MiB it compresses, and the check figures (for sliced trials)."""
    data = sample_text(parse_size(params["size"]))
    level = params["level"]
    return (lambda: zlib.compress(data, level)), len(data) / 2**20, \
        {"input_crc32": zlib.crc32(data), "zlib": zlib.ZLIB_RUNTIME_VERSION}


def run(params: dict[str, Any], workdir: str) -> dict[str, Any]:
    data = sample_text(parse_size(params["size"]))
    level = params["level"]
    work, _, _ = unit(params)
    calls, elapsed = repeat_for(work, float(params["seconds"]))
    return {"metrics": {"throughput": calls * len(data) / elapsed / 2**20},
            "info": {"iterations": calls, "bytes": calls * len(data), "elapsed_s": elapsed,
                     "ratio": len(data) / len(zlib.compress(data, level)), "input_crc32": zlib.crc32(data),
                     "zlib": zlib.ZLIB_RUNTIME_VERSION}}
