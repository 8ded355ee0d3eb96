"""An sshd of the tests' own on a loopback port: a generated host key and client key, its own authorized_keys,
an ssh config that reaches it under an alias; nothing of the machine's ssh setup is read or changed (but
/run/sshd, sshd's privilege-separation directory, which is created when it is missing, empty, and kept)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LoopbackSSHD:
    """One running sshd: ``alias`` reaches it through ``config`` (give it to ssh -F or vbench --ssh-config)."""

    dir: Path
    port: int
    alias: str
    config: Path
    proc: subprocess.Popen

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vbench-test", "-f", str(path)],
                   check=True, capture_output=True, timeout=60)
    return (path.parent / (path.name + ".pub")).read_text().strip()


def start_sshd(base: Path, alias: str, client_key: Path | None = None,
               env: dict[str, str] | None = None) -> LoopbackSSHD:
    """An sshd on 127.0.0.1 in ``base`` accepting the key ``client_key`` (generated when None) for this user."""
    base.mkdir(parents=True, exist_ok=True)
    host_pub = keygen(base / "host_ed25519")
    if client_key is None:
        client_key = base / "id_ed25519"
        keygen(client_key)
    (base / "authorized_keys").write_text((client_key.parent / (client_key.name + ".pub")).read_text())
    port = free_port()
    sets = "".join(f"SetEnv {k}={v}\n" for k, v in (env or {}).items())
    (base / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {base}/host_ed25519\nPidFile {base}/sshd.pid\n"
        f"AuthorizedKeysFile {base}/authorized_keys\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nLogLevel ERROR\n" + sets)
    (base / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub}\n")
    user = os.environ.get("USER") or "root"
    (base / "ssh_config").write_text(
        f"Host {alias}\n    HostName 127.0.0.1\n    Port {port}\n    User {user}\n"
        f"Host *\n    IdentityFile {client_key}\n    IdentitiesOnly yes\n    IdentityAgent none\n"
        f"    UserKnownHostsFile {base}/known_hosts\n    GlobalKnownHostsFile /dev/null\n"
        "    StrictHostKeyChecking yes\n    LogLevel ERROR\n")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    log = open(base / "sshd.log", "wb")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(base / "sshd_config")], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"the test sshd did not start: {(base / 'sshd.log').read_text()[-500:]}") from None
            time.sleep(0.05)
    return LoopbackSSHD(base, port, alias, base / "ssh_config", proc)
