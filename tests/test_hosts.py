"""Other hosts over real SSH: an sshd of the test's own on a loopback port stands in for a remote host. Host names
are checked before ssh sees them, every remote argument arrives as written (no shell expands it), ssh never
prompts, and two names of one machine are known to be one."""
from __future__ import annotations

import os
import shutil

import pytest

from sshd import SSHD, keygen, start_sshd
from vbench.errors import VBenchError
from vbench.hosts import SSH, Host, machines, parse_host, parse_hosts
from vbench.ledger import boot_id

HAVE_OPENSSH = shutil.which("ssh") is not None and os.access(SSHD, os.X_OK)
if not HAVE_OPENSSH and os.environ.get("CI"):  # CI installs both (setup.sh): missing there is a broken setup
    raise RuntimeError(f"CI must run the ssh tests, but ssh or {SSHD} is missing")
needs_sshd = pytest.mark.skipif(not HAVE_OPENSSH, reason="OpenSSH's client and server are needed (setup.sh)")


@pytest.mark.parametrize("text, host", [
    ("local", Host("local", "local")),
    ("bench-1", Host("bench-1", "bench-1")),
    ("root@10.0.0.7", Host("root@10.0.0.7", "10.0.0.7", "root")),
    ("ci.user@kvm.example.org:2222", Host("ci.user@kvm.example.org:2222", "kvm.example.org", "ci.user", 2222)),
    ("[::1]:2200", Host("[::1]:2200", "[::1]", None, 2200)),
])
def test_a_host_is_local_or_user_name_and_port(text, host):
    assert parse_host(text) == host


@pytest.mark.parametrize("text, said", [
    ("a;touch /tmp/vbench-pwned", "expected local or [user@]name[:port]"),
    ("$(reboot)", "expected local or [user@]name[:port]"),
    ("-oProxyCommand=sh", "expected local or [user@]name[:port]"),
    ("host name", "expected local or [user@]name[:port]"),
    ("`id`@host", "the user may hold only"),
    ("root@local", "expected local or [user@]name[:port]"),
    ("host:0", "the port must be a number from 1 to 65535"),
    ("host:22x", "the port must be a number from 1 to 65535"),
    ("", "expected local or [user@]name[:port]"),
])
def test_a_host_a_shell_or_ssh_could_misread_is_refused(text, said):
    with pytest.raises(VBenchError, match=said.replace("[", r"\[").replace("]", r"\]")):
        parse_host(text)


def test_a_host_named_twice_is_an_error():
    with pytest.raises(VBenchError, match="named twice"):
        parse_hosts(["local", "b", "local"])


def test_the_ssh_command_line_never_prompts_and_ends_options_before_the_host():
    argv = SSH(config="/x/config").argv(Host("u@h:2", "h", "u", 2), ["echo", "a b", "$HOME"])
    assert argv[0] == "ssh" and "BatchMode=yes" in argv and argv[argv.index("-F") + 1] == "/x/config"
    assert argv[-3:] == ["--", "h", "echo 'a b' '$HOME'"]
    assert argv[argv.index("-p") + 1] == "2" and argv[argv.index("-l") + 1] == "u"


@pytest.fixture
def server(tmp_path):
    """One sshd of the test's own, reached as vbench-test-a through its ssh config."""
    started = start_sshd(tmp_path / "a", "vbench-test-a")
    yield started
    started.stop()


@needs_sshd
def test_every_remote_argument_arrives_as_written(tmp_path, server):
    ssh = SSH(config=str(server.config))
    canary = tmp_path / "pwned"
    tricky = ["a b", "$(touch " + str(canary) + ")", "`touch " + str(canary) + "`", "; touch " + str(canary),
              "it's", '"quoted"', "*", "~", "\\n"]
    out = ssh.run(parse_host(server.alias), ["printf", "%s\\n", *tricky], timeout=60)
    assert out.splitlines() == tricky
    assert not canary.exists()
    port = ssh.run(parse_host(f"127.0.0.1:{server.port}"), ["echo", "by address"], timeout=60)
    assert port.strip() == "by address"


@needs_sshd
def test_ssh_never_prompts_a_host_that_would_ask_fails_with_sshs_words(tmp_path, server):
    config = server.config.read_text()
    keygen(tmp_path / "stranger")  # a key the server does not accept: ssh would ask for a password
    (tmp_path / "stranger_config").write_text(config.replace(str(tmp_path / "a" / "id_ed25519"),
                                                             str(tmp_path / "stranger")))
    with pytest.raises(VBenchError, match=r"vbench-test-a: cannot reach it: .*Permission denied"):
        SSH(config=str(tmp_path / "stranger_config")).run(parse_host(server.alias), ["true"], timeout=60)
    (tmp_path / "unknown_config").write_text(config.replace(str(tmp_path / "a" / "known_hosts"), "/dev/null"))
    with pytest.raises(VBenchError, match=r"vbench-test-a: cannot reach it: .*[Hh]ost key verification failed"):
        SSH(config=str(tmp_path / "unknown_config")).run(parse_host(server.alias), ["true"], timeout=60)


@needs_sshd
def test_a_remote_command_that_fails_says_so_with_its_own_words(server):
    with pytest.raises(VBenchError, match=r"vbench-test-a: ls: .*No such file or directory"):
        SSH(config=str(server.config)).run(parse_host(server.alias), ["ls", "/no/such/dir"], timeout=60)


@needs_sshd
def test_two_names_of_this_machine_are_one_machine(tmp_path):
    """local, an alias and an address of the test's sshd: one boot id, one group (they would share two cores)."""
    a, b = start_sshd(tmp_path / "a", "vbench-test-a"), None
    try:
        b = start_sshd(tmp_path / "b", "vbench-test-b", client_key=tmp_path / "a" / "id_ed25519")
        config = tmp_path / "both"
        config.write_text((tmp_path / "a" / "ssh_config").read_text().split("Host *")[0]
                          + (tmp_path / "b" / "ssh_config").read_text())
        (tmp_path / "b" / "known_hosts").write_text((tmp_path / "b" / "known_hosts").read_text()
                                                   + (tmp_path / "a" / "known_hosts").read_text())
        hosts = parse_hosts(["local", "vbench-test-a", "vbench-test-b"])
        groups = machines(hosts, SSH(config=str(config)))
        assert groups == [hosts]
        assert SSH(config=str(config)).run(hosts[1], ["cat", "/proc/sys/kernel/random/boot_id"], 60).strip() \
            == boot_id()
    finally:
        a.stop()
        if b:
            b.stop()
