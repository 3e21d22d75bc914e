# Sourced by gpu-bench.sh and gpu-recall.sh (after their cd to the project root) with the results'
# name: sets $out (out/NAME, emptied: one run's results) and defines keep, which packs $out
# (checkpoints left out) into $OUT/NAME.tar.gz and copies its .txt summaries beside it. Call keep
# after every step: the device tool brings back at most 8 files of 16 MiB from $OUT, even from a
# command cut off at its limit, so a run's many logs travel as one archive and stay out of $OUT.
results=$1 # not "name": the scripts' functions have locals of that name
out=out/$results
rm -rf "$out"
mkdir -p "$out"
keep() {
  [ -n "${OUT:-}" ] || return 0
  mkdir -p "$OUT"
  tar -czf "$OUT/$results.tar.gz" --exclude="$results/run" -C out "$results"
  cp "$out"/*.txt "$OUT"/ 2>/dev/null || true
}
