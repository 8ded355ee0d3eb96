"""Claims as data: every rule's verdicts on hand-built trial tables, and the shipped claims file."""
from __future__ import annotations

import numpy as np
import pandas as pd

from vbench.claims import EMULATION, HOLDS, INCONCLUSIVE, NOT_RUN, REFUTED, Claim, evaluate, load_claims


def frame(cases: dict[tuple[str, str], list[float]], accelerator: str | None = None, hib: bool = True):
    """A tidy table: {(case, environment): values} as measured ok trials of one primary metric."""
    rows = []
    for (case, env), values in cases.items():
        for i, value in enumerate(values):
            rows.append({"case": case, "environment": env, "metric": "m", "value": value, "unit": "u",
                         "higher_is_better": hib, "warmup": False, "status": "ok", "primary": True,
                         "accelerator": accelerator if env.startswith("vm") else None, "trial_id": f"{env}{i}",
                         "round": i + 1})
    return pd.DataFrame(rows)


def noisy(center: float, n: int = 12, spread: float = 0.002, seed: int = 0) -> list[float]:
    return list(center * (1 + np.random.default_rng(seed).normal(0, spread, n)))


AT_MOST = Claim("c", "costs at most 3%", "slides", "at_most", ("cpu*",), env_kind="vm", limit_pct=3.0,
                kvm_only=True)


def test_at_most_holds_refuted_and_inconclusive():
    base = noisy(100.0, seed=1)
    holds = evaluate(frame({("cpu1", "native"): base, ("cpu1", "vm:virtio"): noisy(99.0, seed=2)}, "kvm"),
                     [AT_MOST])[0]
    assert holds.verdict == HOLDS and "cpu1" in holds.reason
    refuted = evaluate(frame({("cpu1", "native"): base, ("cpu1", "vm:virtio"): noisy(80.0, seed=2)}, "kvm"),
                       [AT_MOST])[0]
    assert refuted.verdict == REFUTED and refuted.cases[0]["overhead_pct"] > 20
    wide = evaluate(frame({("cpu1", "native"): noisy(100.0, spread=0.1, seed=1),
                           ("cpu1", "vm:virtio"): noisy(97.5, spread=0.1, seed=2)}, "kvm"), [AT_MOST])[0]
    assert wide.verdict == INCONCLUSIVE


def test_one_refuting_case_refutes_the_claim():
    base = noisy(100.0, seed=1)
    data = {("cpu1", "native"): base, ("cpu1", "vm:virtio"): noisy(99.5, seed=2),
            ("cpu2", "native"): base, ("cpu2", "vm:virtio"): noisy(50.0, seed=3)}
    verdict = evaluate(frame(data, "kvm"), [AT_MOST])[0]
    assert verdict.verdict == REFUTED and {c["verdict"] for c in verdict.cases} == {HOLDS, REFUTED}


def test_tcg_answers_emulation_never_a_kvm_verdict():
    data = {("cpu1", "native"): noisy(100.0), ("cpu1", "vm:virtio"): noisy(7.0, seed=2)}
    verdict = evaluate(frame(data, "tcg"), [AT_MOST])[0]
    assert verdict.verdict == EMULATION and "TCG" in verdict.reason


def test_missing_cases_are_not_run():
    verdict = evaluate(frame({("cpu1", "native"): noisy(100.0)}), [AT_MOST])[0]
    assert verdict.verdict == NOT_RUN and "vm" in verdict.reason


def test_slower_than_compares_two_environments_directly():
    claim = Claim("l", "layer slower than volume", "slides", "slower_than", ("w*",), env="docker:layer",
                  than="docker:volume", margin_pct=2.0)
    slower = {("w1", "docker:volume"): noisy(100.0, seed=1), ("w1", "docker:layer"): noisy(90.0, seed=2)}
    assert evaluate(frame(slower), [claim])[0].verdict == HOLDS
    same = {("w1", "docker:volume"): noisy(100.0, seed=1), ("w1", "docker:layer"): noisy(100.0, seed=2)}
    assert evaluate(frame(same), [claim])[0].verdict == REFUTED  # the CI excludes a 2% slowdown


def test_near_a_published_figure_for_latency_metrics():
    claim = Claim("n", "KVM adds 80% latency", "paper", "near", ("lat",), env_kind="vm", published_pct=80.0,
                  tolerance_pct=10.0)
    data = {("lat", "native"): noisy(100.0, seed=1), ("lat", "vm:virtio"): noisy(182.0, seed=2)}
    verdict = evaluate(frame(data, "kvm", hib=False), [claim])[0]
    assert verdict.verdict == HOLDS and abs(verdict.cases[0]["overhead_pct"] - 82) < 2
    far = {("lat", "native"): noisy(100.0, seed=1), ("lat", "vm:virtio"): noisy(120.0, seed=2)}
    assert evaluate(frame(far, "kvm", hib=False), [claim])[0].verdict == REFUTED


def test_variant_filter_and_warmups_ignored():
    claim = Claim("d", "volume free", "paper", "near", ("io",), env_kind="docker", variant="volume",
                  published_pct=0.0, tolerance_pct=5.0)
    data = frame({("io", "native"): noisy(100.0), ("io", "docker:volume"): noisy(100.0, seed=2),
                  ("io", "docker:layer"): noisy(10.0, seed=3)})
    warm = data.iloc[:1].assign(warmup=True, value=1.0)
    verdict = evaluate(pd.concat([data, warm]), [claim])[0]
    assert verdict.verdict == HOLDS and [c["environment"] for c in verdict.cases] == ["docker:volume"]


def test_shipped_claims_are_well_formed():
    claims = load_claims()
    ids = [c.id for c in claims]
    assert len(ids) == len(set(ids)) and {"vm-cpu-1pct", "vm-io-30pct", "layer-slower-than-volume"} <= set(ids)
    for claim in claims:
        assert claim.cases and claim.claim and claim.source
        if claim.rule == "at_most":
            assert claim.limit_pct is not None
        if claim.rule == "near":
            assert claim.published_pct is not None and claim.tolerance_pct
        if claim.rule == "slower_than":
            assert claim.env and claim.than


def test_shipped_network_claims_match_the_net_suites_cases_and_paths():
    from vbench.suite import load_suite

    cases = [entry.name for entry in load_suite("net").entries]
    data = {}
    for i, case in enumerate(cases):
        data[(case, "native")] = noisy(100.0, seed=i)
        data[(case, "dockernet:host")] = noisy(92.6, seed=10 + i)  # +8%: near moby#7857's +10%
        data[(case, "dockernet:bridge")] = noisy(100.0, seed=20 + i)
        data[(case, "dockernet:published")] = noisy(60.0, seed=30 + i)
        data[(case, "vm:tap")] = noisy(20.0, seed=40 + i)
    verdicts = {v.claim_id: v for v in evaluate(frame(data, "tcg"), load_claims())}
    published = verdicts["published-port-slower-than-host"]
    assert published.verdict == HOLDS and len(published.cases) == len(cases)
    assert verdicts["moby-bridge-rr"].verdict == REFUTED  # the bridge costs nothing here, not +72%
    assert verdicts["moby-host-network"].verdict == HOLDS
    for claim_id in ("vm-io-30pct", "felter-kvm-tcp-rr"):  # networking is I/O too; TCG is never a KVM verdict
        assert verdicts[claim_id].verdict == EMULATION and "vm:tap" in verdicts[claim_id].reason


LAYER = Claim("l", "layer slower than volume", "slides", "slower_than", ("w*",), env="docker:layer",
              than="docker:volume", margin_pct=2.0)


def test_slower_but_by_less_than_the_margin_is_inconclusive_never_holds():
    """The regions cannot overlap: a CI like [+0.3%, +1.7%] with a 2% margin is slower, but by less than matters."""
    slower_a_little = {("w1", "docker:volume"): noisy(100.0, seed=1, spread=0.001),
                       ("w1", "docker:layer"): noisy(99.0, seed=2, spread=0.001)}
    verdict = evaluate(frame(slower_a_little), [LAYER])[0]
    [case] = verdict.cases
    assert 0 < case["ci_low"] and case["ci_high"] < 2.0
    assert verdict.verdict == INCONCLUSIVE


def test_two_identical_trials_a_side_decide_nothing():
    data = {("cpu1", "native"): [100.0, 100.0], ("cpu1", "vm:virtio"): [100.0, 100.0]}
    verdict = evaluate(frame(data, "kvm"), [AT_MOST])[0]
    assert verdict.verdict == INCONCLUSIVE and "too few rounds (2)" in verdict.reason


def test_the_reason_states_the_rule():
    data = {("cpu1", "native"): noisy(100.0, seed=1), ("cpu1", "vm:virtio"): noisy(99.0, seed=2)}
    reason = evaluate(frame(data, "kvm"), [AT_MOST])[0].reason
    assert "holds needs every case" in reason and "Holm" in reason
