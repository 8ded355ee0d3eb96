"""Synchronous small-write latency: write ``bs`` bytes, then fsync (or fdatasync), for ``seconds``.

This is the pattern of a database log or a mail spool, and the one where virtualization hurts most: every op
waits for a flush to travel through the guest kernel, the virtual disk and the host to the device, so the cost of
each layer shows directly in ops/s and latency.

The writes go sequentially through a fresh file of ``span`` bytes that is written and made durable first (then
wrapped around), so each op overwrites allocated blocks: fdatasync then flushes only data, fsync also the inode
times, and neither pays for block allocation or a size change. A fresh file per trial keeps trials alike; it is
removed afterwards. The latency of an op is the wall time of its write plus its sync.
"""
from __future__ import annotations

import os
import time

from workloads.io import PIN_IO_WORKERS, latency_us, remove_quietly, scratch_path
from workloads.rules import Choice, Number, Size
from workloads.units import format_size, parse_size

PARAMS = {"bs": "4k", "seconds": 5.0, "sync": "fsync", "span": "16M"}
METRICS = {"ops": ("ops/s", True), "lat_mean": ("us", False), "lat_p50": ("us", False), "lat_p99": ("us", False)}
PRIMARY = "ops"
PIN_WORKERS = PIN_IO_WORKERS  # a block's workers are left unpinned (workloads/io/__init__.py says why)
SLICE_ESTIMATOR = "pair-median"  # a stalled slice moves one pair, not the figure (vbench.slices)
SYNCS = {"fsync": os.fsync, "fdatasync": getattr(os, "fdatasync", os.fsync)}
RULES = {"bs": Size(1, 64 << 20), "seconds": Number(0.001, 3600), "sync": Choice(tuple(SYNCS)),
         "span": Size(1, 16 << 30)}  # the span is written in full before the clock starts


def check_params(params: dict) -> None:
    """What RULES cannot say alone: a write fits in the span."""
    size, span = parse_size(params["bs"]), parse_size(params["span"])
    if size > span:
        raise ValueError(f"bs ({format_size(size)}) must be at most span ({format_size(span)})")


def run(params: dict, workdir: str) -> dict:
    size, span = parse_size(params["bs"]), parse_size(params["span"])
    path = scratch_path(workdir, "fsync", ".dat")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            prefill(fd, span)
            samples, elapsed_ns = sync_loop(fd, size, span // size, SYNCS[params["sync"]], float(params["seconds"]))
        finally:
            os.close(fd)
    finally:
        remove_quietly(path)
    return result(samples, elapsed_ns, params["sync"], size)


class SyncUnit:
    """One write-then-sync per call on a prefilled file, for sliced trials; ``close()`` removes the file."""

    def __init__(self, params: dict, workdir: str):
        self.size, span = parse_size(params["bs"]), parse_size(params["span"])
        self.slots, self.sync, self.written = span // self.size, SYNCS[params["sync"]], 0
        self.data = os.urandom(self.size)
        self.path = scratch_path(workdir, "fsync", ".dat")
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            prefill(self.fd, span)
        except BaseException:
            self.close()
            raise

    def __call__(self) -> None:
        os.pwrite(self.fd, self.data, self.written % self.slots * self.size)
        self.sync(self.fd)
        self.written += 1

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        remove_quietly(self.path)


def unit(params: dict):
    """One op (a write and its sync) of the workload, its amount (one op) and what a trial's info says."""
    size = parse_size(params["bs"])
    return (SyncUnit(params, os.getcwd()), 1.0,
            {"io_mode": f"buffered+{params['sync']}", "sync": params["sync"], "op_bytes": size})


def prefill(fd: int, span: int) -> None:
    """Write the whole span and make it durable, so the timed writes overwrite allocated blocks."""
    chunk = os.urandom(min(span, 1 << 20))
    for offset in range(0, span, len(chunk)):
        os.pwrite(fd, chunk[:span - offset], offset)
    os.fsync(fd)


def sync_loop(fd: int, size: int, slots: int, sync, seconds: float) -> tuple[list[int], int]:
    """Per-op times in ns of write-then-sync, and the span of the loop, for ``seconds``."""
    data, samples = os.urandom(size), []
    clock = time.perf_counter_ns
    begin = clock()
    stop, now = begin + int(seconds * 1e9), begin
    while now < stop:
        start = now
        os.pwrite(fd, data, len(samples) % slots * size)
        sync(fd)
        now = clock()
        samples.append(now - start)
    return samples, now - begin


def result(samples: list[int], elapsed_ns: int, sync: str, size: int) -> dict:
    lat = latency_us(samples)
    metrics = {"ops": len(samples) / (elapsed_ns / 1e9), "lat_mean": lat["mean"], "lat_p50": lat["p50"],
               "lat_p99": lat["p99"]}
    info = {"io_mode": f"buffered+{sync}", "sync": sync, "op_bytes": size, "operations": len(samples)}
    return {"metrics": metrics, "info": info}
