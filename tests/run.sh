#!/usr/bin/env bash
# Install everything the test suite needs, then run it: lint, types, tests.
# Usage: bash tests/run.sh [pytest args...]
# Debian packages: restic, prometheus (promtool), prometheus-pushgateway,
# prometheus-node-exporter, prometheus-alertmanager (amtool), victoria-metrics
# (remote-write tests), openssl (test certificates), systemd (systemd-analyze),
# systemd-journal-remote, git and pipx (the install tests), python3-venv (the
# virtual environment below).
# Installed with apt-get (as root, or through sudo).
# Python packages: this checkout with its test extra, installed editable into
# the virtual environment python3 runs in, or else into .venv/ of the checkout
# (made with python3 -m venv), never into the system's Python (PEP 668).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(restic prometheus prometheus-pushgateway prometheus-node-exporter prometheus-alertmanager victoria-metrics openssl systemd systemd-journal-remote git pipx python3-venv)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # Keep the packages' services from starting: the tests start their own, on free ports.
  policy=/usr/sbin/policy-rc.d
  made_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    made_policy=1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -z "$made_policy" ] || $sudo rm -f "$policy"
fi

if python3 -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)'; then
  python=python3  # a virtual environment already: use it
else
  [ -x .venv/bin/python ] || python3 -m venv .venv
  export VIRTUAL_ENV="$PWD/.venv"
  export PATH="$VIRTUAL_ENV/bin:$PATH"  # the tests run the installed pushrestic command
  python="$VIRTUAL_ENV/bin/python"
fi
"$python" -m pip install -q --disable-pip-version-check -e ".[test]"

"$python" -m ruff check pushrestic tests bench grafana alerting
"$python" -m ruff format --check pushrestic tests bench grafana alerting
"$python" -m mypy
"$python" grafana/generate.py --check
"$python" alerting/generate.py --check
# Two workers (pytest-xdist): the suite waits on servers and processes more than it
# computes, so two halve the time on a 2-core machine. A test file runs whole on one
# worker, so a module's fixture (a server, the system-wide install) is made once and
# never by both workers at the same time. `-n 0` runs the suite in one process.
"$python" -m pytest --hypothesis-profile=thorough -n 2 --dist loadfile "$@"
