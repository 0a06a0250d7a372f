#!/usr/bin/env bash
# Install everything the test suite needs, then run it: lint, types, tests.
# Usage: bash tests/run.sh [pytest args...]
# Debian packages: restic, prometheus (promtool), prometheus-pushgateway,
# prometheus-node-exporter, prometheus-alertmanager (amtool), openssl (test
# certificates). Installed with apt-get (as root, or through sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(restic prometheus prometheus-pushgateway prometheus-node-exporter prometheus-alertmanager openssl systemd systemd-journal-remote)
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

python3 -m pip install -q --disable-pip-version-check -e ".[test]"

python3 -m ruff check pushrestic tests bench grafana
python3 -m ruff format --check pushrestic tests bench grafana
python3 -m mypy
python3 grafana/generate.py --check
python3 -m pytest "$@"
