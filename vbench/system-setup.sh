#!/usr/bin/env bash
# The system part of vbench's setup, on Debian/Ubuntu: the packages vbench runs (as root), and the Docker engine
# when none answers. Run by setup.sh (from a clone) and by `vbench setup` (an installed vbench, e.g. on the hosts
# of a fleet with --provision). Safe to run again: it installs only what is missing.
set -euo pipefail

# fio: the disk workloads; python3-numpy, -pytest, -pytest-benchmark: natively the same interpreter and packages
# as in the guest image;
# python3-venv: the virtualenv below; docker.io and crun: the container environment; debootstrap and e2fsprogs:
# the guest image and its VM disk; qemu-system-x86 and qemu-utils: the VM environment (virtiofsd comes with them);
# iproute2: the VM's tap network (a bridge and a tap in a private network namespace);
# chromium: the tests open the HTML report in it headless; iperf3 and sockperf: the network workloads' tools
# (TCP stream, request/response latency) on the host, as in the guest image; openssh-client: runs on other hosts
# (vbench run --host); openssh-server: the tests' own sshd on a loopback port (the system's sshd is not started).
PACKAGES=(fio python3 python3-venv python3-numpy python3-pytest python3-pytest-benchmark docker.io crun debootstrap
          e2fsprogs qemu-system-x86 qemu-utils iproute2 chromium iperf3 sockperf openssh-client openssh-server)

missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    if [[ $EUID -ne 0 ]]; then
        echo "vbench setup: missing system packages: ${missing[*]}; run as root (or install them) first" >&2
        exit 1
    fi
    echo "vbench setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Installing openssh-server enables the system's sshd where systemd runs: the tests start their own, so a
    # machine that had no sshd before keeps none listening.
    if [[ " ${missing[*]} " == *" openssh-server "* ]] && command -v systemctl >/dev/null; then
        systemctl disable --now ssh >/dev/null 2>&1 || true
    fi
fi

docker_answers() { docker info >/dev/null 2>&1; }

# The Docker engine: started here when it is not running (no systemd on a CI machine), with crun registered.
if ! docker_answers; then
    if [[ $EUID -ne 0 ]]; then
        echo "vbench setup: the Docker engine is not running and only root can start it; containers are skipped" >&2
    else
        command -v systemctl >/dev/null && systemctl start docker >/dev/null 2>&1 || true
        if ! docker_answers; then
            echo "vbench setup: starting dockerd (log: /var/log/vbench-dockerd.log)"
            runtime_flag=()
            command -v crun >/dev/null && runtime_flag=(--add-runtime "crun=$(command -v crun)")
            setsid nohup dockerd "${runtime_flag[@]}" </dev/null >/var/log/vbench-dockerd.log 2>&1 &
            for _ in $(seq 1 120); do docker_answers && break; sleep 0.5; done
            docker_answers || { echo "vbench setup: dockerd did not come up; see /var/log/vbench-dockerd.log" >&2; exit 1; }
        fi
    fi
fi
