"""Other hosts, reached through the system's OpenSSH client (``vbench run --host``).

A host is ``local`` (this machine, no ssh), or ``[user@]name[:port]`` where ``name`` is a host name, an address or
an alias of the user's ssh config: ssh itself resolves it, so ``~/.ssh/config``, the agent, jump hosts and the
known-hosts check apply as they do for ssh. vbench never answers a prompt (``BatchMode=yes``: a host that would ask
for a password or a new host key fails with ssh's own words), and no host name, user or argument reaches a shell
unquoted: names are checked before anything runs, and every remote command is an argument list that
:func:`remote_command` quotes for the remote user's shell.
"""
from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from typing import Iterable

from vbench.errors import VBenchError
from vbench.ledger import boot_id

LOCAL = "local"
# What a host name, an address or an ssh alias is made of; anything else (spaces, quotes, ;|&$`<>(){}*?!~#, a
# leading dash that ssh would read as an option) is refused before ssh sees it.
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*|\[[0-9A-Fa-f:.]+\]")
USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
CONNECT_TIMEOUT_S = 15
# ssh's exit status when the connection itself failed (not the remote command)
SSH_FAILED = 255


@dataclass(frozen=True)
class Host:
    """One host of a fleet: as the user wrote it, and its parts."""

    text: str
    name: str
    user: str | None = None
    port: int | None = None

    @property
    def is_local(self) -> bool:
        return self.name == LOCAL

    @property
    def label(self) -> str:
        """The host's directory name in a fleet result: what the user wrote, with ':' (a port) as '_'."""
        return self.text.replace(":", "_").replace("[", "").replace("]", "")


def parse_host(text: str) -> Host:
    """``local`` or ``[user@]name[:port]``; a one-line error for anything a shell or ssh could misread."""
    if text == LOCAL:
        return Host(text, LOCAL)
    user, _, rest = text.rpartition("@") if "@" in text else (None, "", text)
    name, port = rest, None
    if ":" in rest and not rest.startswith("["):
        name, _, digits = rest.rpartition(":")
        port = _port(digits, text)
    elif rest.startswith("[") and "]:" in rest:
        name, _, digits = rest.rpartition(":")
        port = _port(digits, text)
    if user is not None and not USER.fullmatch(user):
        raise VBenchError(f"--host {text!r}: the user may hold only letters, digits, '.', '_' and '-'")
    if not NAME.fullmatch(name) or name == LOCAL and (user or port):
        raise VBenchError(f"--host {text!r}: expected local or [user@]name[:port], where the name (a host, an "
                          "address or an ssh alias) holds only letters, digits, '.', '_' and '-'")
    return Host(text, name, user, port)


def _port(digits: str, text: str) -> int:
    if not digits.isdigit() or not 1 <= int(digits) <= 65535:
        raise VBenchError(f"--host {text!r}: the port must be a number from 1 to 65535")
    return int(digits)


def parse_hosts(texts: Iterable[str]) -> list[Host]:
    """The hosts of ``--host`` options, each once (a host named twice is an error, not two runs)."""
    hosts = [parse_host(t) for t in texts]
    seen: set[str] = set()
    for host in hosts:
        if host.label in seen:
            raise VBenchError(f"--host {host.text!r} is named twice")
        seen.add(host.label)
    return hosts


@dataclass(frozen=True)
class SSH:
    """How vbench runs ssh: the ssh program and an optional config file (``-F``, as ``ssh -F``)."""

    program: str = "ssh"
    config: str | None = None

    def argv(self, host: Host, remote: list[str]) -> list[str]:
        """The ssh command line that runs ``remote`` (an argument list) on ``host``, never prompting."""
        options = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}", "-o", "ServerAliveInterval=5",
                   "-o", "ServerAliveCountMax=3", "-T"]
        options += ["-F", self.config] if self.config else []
        options += ["-p", str(host.port)] if host.port else []
        options += ["-l", host.user] if host.user else []
        return [self.program, *options, "--", host.name.strip("[]"), remote_command(remote)]

    def run(self, host: Host, remote: list[str], timeout: float, stdin: bytes | None = None) -> str:
        """``remote`` run on ``host``; its standard output, or a one-line error with ssh's or the command's words."""
        argv = remote if host.is_local else self.argv(host, remote)
        feed = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
        try:
            done = subprocess.run(argv, capture_output=True, timeout=timeout, **feed)
        except subprocess.TimeoutExpired:
            raise VBenchError(f"{host.text}: {remote[0]} did not finish within {timeout:g}s") from None
        except OSError as exc:
            raise VBenchError(f"{host.text}: cannot run {argv[0]}: {exc.strerror}") from None
        if done.returncode != 0:
            said = last_line(done.stderr) or f"exit status {done.returncode}"
            what = "cannot reach it" if done.returncode == SSH_FAILED and not host.is_local else remote[0]
            raise VBenchError(f"{host.text}: {what}: {said}")
        return done.stdout.decode(errors="replace")


def remote_command(argv: list[str]) -> str:
    """An argument list as one command line for the remote user's shell: every argument quoted, so the shell
    splits it back into exactly these arguments and expands nothing."""
    return shlex.join(argv)


def last_line(data: bytes) -> str:
    lines = [line.strip() for line in data.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


BOOT_ID = ["cat", "/proc/sys/kernel/random/boot_id"]


def machine_of(host: Host, ssh: SSH, timeout: float = 60) -> str:
    """The boot id of the machine ``host`` reaches: two names with the same one are the same machine, booted once."""
    if host.is_local:
        return boot_id()
    return ssh.run(host, BOOT_ID, timeout).strip() or "unknown"


def machines(hosts: list[Host], ssh: SSH) -> list[list[Host]]:
    """The hosts grouped by the machine they reach (boot id), in the order given: a group's hosts must run one
    after the other, never at once (two suites sharing the cores would measure each other)."""
    groups: dict[str, list[Host]] = {}
    for host in hosts:
        groups.setdefault(machine_of(host, ssh), []).append(host)
    return list(groups.values())
