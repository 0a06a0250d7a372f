#!/usr/bin/env bash
# Run every benchmark of pushrestic. Each prints its figures as ratios to a
# baseline measured in the same run (the machine may be shared and noisy).
# The large logs are generated once into bench/out/ (about 1 GB, gitignored).
# Usage: bash bench/run_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== startup (bench/startup.py)"
python3 -m bench.startup
echo
echo "== large logs (bench/parse_large_logs.py)"
python3 -m bench.parse_large_logs
echo
echo "== delivery (bench/push_gateway.py)"
python3 -m bench.push_gateway
echo
echo "== wrapper (bench/wrapper.py)"
python3 -m bench.wrapper
