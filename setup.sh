#!/usr/bin/env bash
# Set up vbench on Debian/Ubuntu: system packages (as root), then a virtualenv in .venv with vbench and its
# test dependencies. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")"

# fio: the disk workloads; python3-numpy: the same interpreter and numpy natively as in the guest image;
# python3-venv: the virtualenv below.
PACKAGES=(fio python3 python3-venv python3-numpy)

missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    if [[ $EUID -ne 0 ]]; then
        echo "setup.sh: missing system packages: ${missing[*]}; run as root (or install them) first" >&2
        exit 1
    fi
    echo "setup.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
echo "setup.sh: ready; run .venv/bin/vbench doctor to see what can run here"
