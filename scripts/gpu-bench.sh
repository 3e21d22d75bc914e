#!/usr/bin/env bash
# Every GPU measurement issue 13 asks for, in one run, for the few minutes a GPU machine is lent
# (../shared/gpu/README.md: `bash ../shared/gpu/prepare.sh` here, then a device call with
# carry [".gpu", "dist"] running `bash .gpu/run.sh bash scripts/gpu-bench.sh`).
#   - the adapters Dawn sees and what the engine gets from them;
#   - every kernel at GPT-2 124M shapes (batch 8 on a GPU), a GPT-2 124M train step at B=8 T=1024
#     (8192 tokens), prefill, decode at context 128 and 1000, the serve group (1/4/8 streams),
#     with unquantized GPU timestamps; then the same with Dawn's speed toggles (--fast);
#   - matmul GFLOP/s as a share of the GPU's fp32 peak (GPU_FP32_TFLOPS, default 67: an H200 SXM).
# Results go to $OUT (the device tool brings them back) or ./out/gpu-bench, one JSON per run.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out/gpu-bench}
mkdir -p "$out"
peak=${GPU_FP32_TFLOPS:-67}
run() { # name, then the command; keeps going when one fails so the rest is still measured
  local name=$1; shift
  echo "== $name: $*"
  local t0=$SECONDS
  "$@" >"$out/$name.json" 2>"$out/$name.err"; local rc=$?
  echo "== $name: rc $rc in $((SECONDS - t0)) s"
  tail -3 "$out/$name.err"
}
node dist/bench.js --list-adapters | tee "$out/adapters.txt"
run bench node dist/bench.js --json
run bench-fast node dist/bench.js --json --fast
run bench-serve node dist/bench.js --json --filter serve
for f in bench bench-fast; do
  [ -s "$out/$f.json" ] || continue
  node -e '
    const [file, peak] = process.argv.slice(1);
    const r = JSON.parse(require("fs").readFileSync(file, "utf8"));
    console.log(`${file}: ${r.adapter ?? ""}`);
    for (const x of r.results) {
      const pct = x.gflops !== undefined && x.group === "matmul" ? `  ${(x.gflops / (peak * 10)).toFixed(1)}% of fp32 peak` : "";
      const rate = [x.gflops !== undefined ? `${x.gflops} GFLOP/s` : "", x.gbps !== undefined ? `${x.gbps} GB/s` : "", x.tokens_per_s !== undefined ? `${x.tokens_per_s} tok/s` : ""].filter(Boolean).join("  ");
      console.log(`${x.group.padEnd(12)} ${x.name.padEnd(30)} ${x.shape.padEnd(30)} ${String(x.ms).padStart(10)} ms  ${rate}${pct}`);
    }' "$out/$f.json" "$peak" | tee "$out/$f.txt"
done
