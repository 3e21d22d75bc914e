#!/usr/bin/env bash
# Measures each Dawn speed toggle on its own, then all together (--fast), against the default,
# on one benchmark group:  bash scripts/bench-toggles.sh [GROUP] [extra bench flags]
# (Timestamp quantization is off in every run: the benchmark turns it off whenever it reads timestamps.)
set -euo pipefail
cd "$(dirname "$0")/.."
group=${1:-matmul}; shift || true
extra=("$@")
run() { echo "== $1"; WEBGPU_TOGGLES="$2" node dist/bench.js --filter "$group" "${extra[@]}" 2>/dev/null | grep -v '^adapter'; }
run default ''
for t in disable_robustness skip_validation disable_workgroup_init; do run "$t" "$t"; done
run 'all (--fast)' 'disable_robustness,skip_validation,disable_workgroup_init'
