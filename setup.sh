#!/usr/bin/env bash
# Set up vbench on Debian/Ubuntu: system packages (as root), then a virtualenv in .venv with vbench and its
# test dependencies. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")"

# The system packages and the Docker engine (the same script `vbench setup` runs where vbench is installed).
bash vbench/system-setup.sh

if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

# The guest image (Debian rootfs for containers and VMs): built once, cached under ~/.cache/vbench.
if [[ $EUID -eq 0 ]]; then
    .venv/bin/vbench images build
else
    echo "setup.sh: not root: skipping the guest image build (containers and VMs need it)" >&2
fi
echo "setup.sh: ready; run .venv/bin/vbench doctor to see what can run here"
