"""The C tools the network workloads wrap: iperf3 for TCP stream throughput, sockperf for request/response.

A Python client spends CPU per byte and per call that iperf3 and sockperf do not, which compresses every network
ratio (a bridge's cost measured with the stdlib client came out 24 pp below iperf3's on the same host), so the
workloads run the tools wherever both ends have them and keep the stdlib client only as the labelled fallback.
The environment under test runs the tools' servers beside the vbench server and passes their ports
(``iperf3_port``, ``sockperf_port``; 0 = not served there); the client is wherever the variant puts it.

``tool`` chooses: ``auto`` (the C tool when the server side serves it and this side has the binary, else the
stdlib client, flagged ``stdlib-fallback`` with why), the tool's name (an error when it cannot run), or
``python`` (the stdlib client, on purpose). Every result records ``info.tool`` and the tool's exact command.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess

from workloads.rules import Choice, Number

FALLBACK_FLAG = "stdlib-fallback"
PORT_PARAMS = {"iperf3": "iperf3_port", "sockperf": "sockperf_port"}
# Every network workload takes both ports: the environment passes the servers it runs, whichever tool is used.
TOOL_PARAMS = {"iperf3_port": 0, "sockperf_port": 0}
TOOL_RULES = {"iperf3_port": Number(0, 65535, integer=True), "sockperf_port": Number(0, 65535, integer=True)}
SOCKPERF_MIN_MESSAGE = 14  # sockperf's header: its smallest message
GRACE_S = 30.0  # on top of the measured seconds, before a tool's client is killed


def tool_rule(tool: str) -> Choice:
    return Choice(("auto", tool, "python"))


def choose(params: dict, tool: str, unusable: str | None = None) -> tuple[str, str | None]:
    """(tool to run, why the stdlib client runs instead or None): ``tool`` or ``"python"``.

    ``unusable`` is a reason the workload's own parameters rule the tool out (e.g. sizes sockperf cannot send).
    """
    asked = params.get("tool", "auto")
    if asked == "python":
        return "python", None
    why = unusable
    if why is None and not int(params.get(PORT_PARAMS[tool], 0) or 0):
        why = f"the environment under test serves no {tool}"
    if why is None and shutil.which(tool) is None:
        why = f"{tool} is not installed where the client runs"
    if why is None:
        return tool, None
    if asked == tool:
        raise RuntimeError(f"tool={tool} cannot run: {why}")
    return "python", why


def fallback(result: dict, why: str | None) -> dict:
    """The stdlib client's result, labelled as the fallback when the C tool could not run."""
    result["info"]["tool"] = "python"
    if why:
        result["info"]["tool_fallback"] = why
        result["flags"] = [*result.get("flags", []), FALLBACK_FLAG]
    return result


def run_tool(argv: list[str], seconds: float) -> str:
    """The tool's stdout; a one-line error with its own words when it fails or outlives the trial."""
    limit = whole_seconds(seconds) + GRACE_S
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=limit, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"{argv[0]} did not finish within {limit:g} s") from None
    if done.returncode != 0:
        words = _last_words(done.stdout, done.stderr)
        raise RuntimeError(f"{argv[0]} exited with status {done.returncode}: {words}")
    return done.stdout


def _last_words(stdout: str, stderr: str) -> str:
    try:  # iperf3 -J reports its errors in the JSON
        error = json.loads(stdout).get("error")
        if error:
            return str(error)
    except ValueError:
        pass
    lines = [line.strip() for line in (stderr + "\n" + stdout).splitlines() if line.strip()]
    return _plain(lines[-1]) if lines else "no output"


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def whole_seconds(seconds: float) -> int:
    """The tools' durations are whole seconds: ``seconds`` rounded, at least 1."""
    return max(1, round(seconds))


def iperf3_stream(host: str, port: int, seconds: float, size: int) -> dict:
    """iperf3's TCP stream from here to ``host:port``: Mbit/s the receiver counted, and what ran.

    iperf3 reads ``-t`` as whole seconds, and ``-t 0`` (what "0.3" becomes) as "forever": the duration is
    rounded to at least one second, and the record says how long it ran."""
    argv = ["iperf3", "-c", host, "-p", str(port), "-t", str(whole_seconds(seconds)), "-l", str(size), "-J"]
    out = run_tool(argv, seconds)
    try:
        report = json.loads(out)
    except ValueError:
        raise RuntimeError(f"iperf3 printed no JSON report: {_last_words('', out)}") from None
    if report.get("error"):  # iperf3 3.12 exits 0 after many errors and says them only here
        raise RuntimeError(f"iperf3: {report['error']}")
    received = report["end"]["sum_received"]
    sent = report["end"]["sum_sent"]
    info = {"tool": "iperf3", "command": " ".join(argv), "bytes": int(sent["bytes"]),
            "server_bytes": int(received["bytes"]), "elapsed_s": float(received["seconds"]),
            "retransmits": sent.get("retransmits"), "send_bytes": size,
            "tool_version": report.get("start", {}).get("version")}
    return {"metrics": {"throughput": float(received["bits_per_second"]) / 1e6}, "info": info, "flags": []}


_SOCKPERF_VALID = re.compile(r"\[Valid Duration\] RunTime=([0-9.]+) sec; SentMessages=(\d+); "
                             r"ReceivedMessages=(\d+)")
_SOCKPERF_AVG = re.compile(r"avg-rtt=([0-9.]+)")
_SOCKPERF_PCT = re.compile(r"percentile (\d+\.\d+) = +([0-9.]+)")


def sockperf_ping_pong(host: str, port: int, seconds: float, size: int, tcp: bool) -> dict:
    """sockperf's ping-pong (one message in flight, echoed) for ``seconds``: round trips per second and the
    round-trip times (``--full-rtt``; sockperf halves them by default). sockperf counts whole seconds and leaves
    out its own warm-up: the figures are over its "valid duration". (Its ``--no-rdtsc`` clock finds no valid
    observations in a one-second run, so the default TSC clock is kept; the client always runs on the host's
    CPUs.)"""
    argv = ["sockperf", "ping-pong", "-i", host, "-p", str(port), "-t", str(whole_seconds(seconds)),
            "-m", str(size), "--full-rtt", *(["--tcp"] if tcp else [])]
    return parse_sockperf(run_tool(argv, seconds), " ".join(argv), size)


def parse_sockperf(out: str, command: str, size: int) -> dict:
    """Figures from sockperf ping-pong's summary (its valid duration, after its warm-up)."""
    text = _plain(out)
    valid, avg = _SOCKPERF_VALID.search(text), _SOCKPERF_AVG.search(text)
    if not valid or not avg:  # sockperf 3.7 exits 0 after a refused connection too: its words are the error
        errors = [line for line in text.splitlines() if "ERROR" in line]
        raise RuntimeError(f"sockperf printed no summary: {(errors or [_last_words('', text)])[0].strip()}")
    runtime, sent, received = float(valid[1]), int(valid[2]), int(valid[3])
    if not received or runtime <= 0:
        raise RuntimeError(f"sockperf had no reply in {runtime:g} s ({sent} messages sent)")
    percentiles = {float(p): float(v) for p, v in _SOCKPERF_PCT.findall(text)}
    metrics = {"tps": received / runtime, "lat_mean": float(avg[1]), "lat_p50": percentiles.get(50.0),
               "lat_p99": percentiles.get(99.0)}
    info = {"tool": "sockperf", "command": command, "transactions": received, "attempted": sent,
            "lost": sent - received, "request_bytes": size, "response_bytes": size, "elapsed_s": runtime}
    return {"metrics": {k: v for k, v in metrics.items() if v is not None}, "info": info, "flags": []}
