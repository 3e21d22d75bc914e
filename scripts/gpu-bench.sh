#!/usr/bin/env bash
# Every GPU measurement issue 13 asks for, in one run, for the few minutes a GPU machine is lent
# (../shared/gpu/README.md: `bash ../shared/gpu/prepare.sh` here, then a device call with
# carry [".gpu", "dist"] running `bash .gpu/run.sh bash scripts/gpu-bench.sh`).
#   - the adapters Dawn sees and what the engine gets from them;
#   - every kernel at GPT-2 124M shapes (batch 8 on a GPU), a GPT-2 124M train step at B=8 T=1024
#     (8192 tokens), prefill, decode at context 128 and 1000, the serve group (1/4/8 streams),
#     with unquantized GPU timestamps; then the same with Dawn's speed toggles (--fast);
#   - matmul GFLOP/s as a share of the GPU's fp32 peak (GPU_FP32_TFLOPS, default 67: an H200 SXM).
# Env: BENCH_TIMEOUT (seconds each of the 3 benchmark runs may take, default 170: with 10 s to
# quit, all of them end inside the device tool's 10-minute command limit), BENCH_FLAGS (added to every run; a dry run
# here: BENCH_FLAGS="--filter gelu --reps 1").
# Results in ./out/gpu-bench, one JSON (stdout) and .err (the progress table) per run, plus a .txt
# table; with $OUT set (the device tool brings it back), packed as $OUT/gpu-bench.tar.gz beside
# the .txt tables after every run.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu-results.sh gpu-bench
peak=${GPU_FP32_TFLOPS:-67}
# shellcheck disable=SC2206 # BENCH_FLAGS is a list of flags
extra=(${BENCH_FLAGS:-})
run() { # name, then the command; keeps going when one fails so the rest is still measured
  local name=$1; shift
  echo "== $name: $*"
  local t0=$SECONDS
  timeout -k 10 "${BENCH_TIMEOUT:-170}" "$@" >"$out/$name.json" 2>"$out/$name.err"; local rc=$?
  echo "== $name: rc $rc in $((SECONDS - t0)) s$([ $rc = 124 ] && echo ": cut at BENCH_TIMEOUT")"
  tail -3 "$out/$name.err"
  keep
}
timeout -k 10 "${BENCH_TIMEOUT:-170}" node dist/bench.js --list-adapters | tee "$out/adapters.txt" # Dawn hanging here must not eat the command
keep
run bench node dist/bench.js --json "${extra[@]}"
run bench-fast node dist/bench.js --json --fast "${extra[@]}"
run bench-serve node dist/bench.js --json --filter serve "${extra[@]}"
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
keep
