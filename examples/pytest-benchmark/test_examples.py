"""Example benchmarks for `vbench run --pytest-benchmark`: pure-Python work and one numpy reduction."""
from __future__ import annotations

import dataclasses
import json
import random
import re

import pytest

RNG = random.Random(42)
RECORDS = [{"id": i, "name": f"user{i}", "score": RNG.random(), "tags": ["a", "b", "c"][: i % 4]}
           for i in range(2000)]
LOG = "\n".join(f"2026-11-29T12:{i % 60:02d}:00 host{i % 7} GET /api/v1/items/{i} 200 {RNG.randint(1, 999)}ms"
                for i in range(3000))
LINE = re.compile(r"^(\S+) (\S+) (GET|POST) (\S+) (\d{3}) (\d+)ms$", re.M)


def test_json_roundtrip(benchmark):
    text = benchmark(lambda: json.dumps(json.loads(json.dumps(RECORDS))))
    assert json.loads(text)[0]["id"] == 0


def test_regex_log_parse(benchmark):
    total = benchmark(lambda: sum(int(m.group(6)) for m in LINE.finditer(LOG)))
    assert total > 0


def test_sort_records(benchmark):
    ordered = benchmark(sorted, RECORDS, key=lambda r: (r["score"], r["name"]))
    assert ordered[0]["score"] <= ordered[-1]["score"]


def test_dict_word_count(benchmark):
    words = LOG.split()

    def count():
        counts: dict[str, int] = {}
        for word in words:
            counts[word] = counts.get(word, 0) + 1
        return counts

    assert benchmark(count)["GET"] == 3000


@dataclasses.dataclass(frozen=True)
class Item:
    id: int
    name: str
    score: float


def test_dataclass_roundtrip(benchmark):
    items = benchmark(lambda: [dataclasses.asdict(Item(r["id"], r["name"], r["score"])) for r in RECORDS])
    assert len(items) == len(RECORDS)


def test_numpy_reduction(benchmark):
    np = pytest.importorskip("numpy")
    data = np.random.default_rng(1).random(1_000_000)
    assert benchmark(lambda: float((data * data).sum())) > 0
