#!/usr/bin/env bash
# Measures each Dawn speed toggle on its own, then all together (--fast), against the default,
# on one benchmark group:  bash scripts/bench-toggles.sh [GROUP] [extra bench flags]
# ('timestamp_quantization' here means turning quantization OFF: finer GPU timestamps.)
set -euo pipefail
cd "$(dirname "$0")/.."
group=${1:-matmul}; shift || true
extra=("$@")
run() { echo "== $1"; WEBGPU_TOGGLES="$2" node dist/bench.js --filter "$group" "${extra[@]}" 2>/dev/null | grep -v '^adapter'; }
run default ''
for t in disable_robustness skip_validation disable_workgroup_init timestamp_quantization; do run "$t" "$t"; done
run 'all (--fast)' 'disable_robustness,skip_validation,disable_workgroup_init,timestamp_quantization'
