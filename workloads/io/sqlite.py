"""Durable small transactions: SQLite commits of one inserted row each, for ``seconds``.

An application-shaped version of the fsync test: with ``synchronous=FULL`` every COMMIT waits for SQLite's
fsyncs (one per commit in WAL mode, several with a rollback journal), so transactions/s follow the flush latency
of the storage stack under test. ``journal_mode`` is a parameter because it changes how many syncs a commit
costs. The database is a fresh file per trial (no trial starts with another's pages, WAL or free lists) and it
is removed afterwards with its -wal, -shm and -journal companions.
"""
from __future__ import annotations

import os
import sqlite3
import time

from workloads.io import PIN_IO_WORKERS, latency_us, remove_quietly, scratch_path
from workloads.rules import Choice, Number

PARAMS = {"seconds": 5.0, "journal_mode": "wal", "row_bytes": 100}
METRICS = {"tps": ("transactions/s", True), "tx_lat_p99": ("us", False)}
PRIMARY = "tps"
PIN_WORKERS = PIN_IO_WORKERS  # a block's workers are left unpinned (workloads/io/__init__.py says why)
SLICE_ESTIMATOR = "pair-median"  # a stalled slice moves one pair, not the figure (vbench.slices)
JOURNAL_MODES = ("wal", "delete", "truncate", "persist", "memory", "off")
COMPANIONS = ("", "-wal", "-shm", "-journal")
RULES = {"seconds": Number(0.001, 3600), "journal_mode": Choice(JOURNAL_MODES),
         "row_bytes": Number(0, 16 << 20, integer=True)}


def run(params: dict, workdir: str) -> dict:
    mode = params["journal_mode"]
    path = scratch_path(workdir, "sqlite", ".db")
    try:
        conn = open_database(path, mode)
        try:
            samples, elapsed_ns = commit_loop(conn, os.urandom(int(params["row_bytes"])), float(params["seconds"]))
        finally:
            conn.close()
    finally:
        for suffix in COMPANIONS:
            remove_quietly(path + suffix)
    return result(samples, elapsed_ns, mode)


class CommitUnit:
    """One committed transaction per call, for sliced trials; ``close()`` closes and removes the database."""

    def __init__(self, params: dict, workdir: str):
        self.path = scratch_path(workdir, "sqlite", ".db")
        self.row = os.urandom(int(params["row_bytes"]))
        self.conn: sqlite3.Connection | None = None
        try:
            self.conn = open_database(self.path, params["journal_mode"])
        except BaseException:
            self.close()
            raise

    def __call__(self) -> None:
        self.conn.execute("BEGIN")
        self.conn.execute("INSERT INTO t (v) VALUES (?)", (self.row,))
        self.conn.execute("COMMIT")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        for suffix in COMPANIONS:
            remove_quietly(self.path + suffix)


def unit(params: dict):
    """One transaction of the workload, its amount (one transaction) and what a trial's info says."""
    mode = params["journal_mode"]
    return (CommitUnit(params, os.getcwd()), 1.0,
            {"io_mode": f"sqlite journal_mode={mode} synchronous=FULL", "journal_mode": mode,
             "sqlite": sqlite3.sqlite_version})


def open_database(path: str, mode: str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with the journal mode and synchronous=FULL."""
    conn = sqlite3.connect(path, isolation_level=None)
    actual = conn.execute(f"PRAGMA journal_mode={mode}").fetchone()[0]
    if actual.lower() != mode:
        conn.close()
        raise RuntimeError(f"SQLite refused journal_mode={mode} here (got {actual})")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)")
    return conn


def commit_loop(conn: sqlite3.Connection, row: bytes, seconds: float) -> tuple[list[int], int]:
    """Per-transaction times in ns (BEGIN, one INSERT, COMMIT) and the span of the loop."""
    samples = []
    clock = time.perf_counter_ns
    begin = clock()
    stop, now = begin + int(seconds * 1e9), begin
    while now < stop:
        start = now
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t (v) VALUES (?)", (row,))
        conn.execute("COMMIT")
        now = clock()
        samples.append(now - start)
    return samples, now - begin


def result(samples: list[int], elapsed_ns: int, mode: str) -> dict:
    metrics = {"tps": len(samples) / (elapsed_ns / 1e9), "tx_lat_p99": latency_us(samples)["p99"]}
    info = {"io_mode": f"sqlite journal_mode={mode} synchronous=FULL", "journal_mode": mode,
            "transactions": len(samples), "sqlite": sqlite3.sqlite_version}
    return {"metrics": metrics, "info": info}
