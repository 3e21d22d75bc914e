#!/usr/bin/env bash
# Issue 9's curve where there is compute for it: eval.js's scores (recall, honesty, stop rate,
# repetition, recall loss) against training minutes of one from-scratch run, on data/eval.txt
# (new values, new phrasings) and data/eval-copy.txt (new values in training phrasings: copying
# alone). On this project's 2-core CPU a 39-minute run never recalled (README "Evaluate"); an
# H200 trains 10-20x the tokens a minute. The run is paused at each mark for eval.js on its
# checkpoint and resumed (--resume --time TOTAL), so every point is the same run; the learning
# rate is constant after warmup (a cosine schedule would be laid out over the first mark only).
# On the GPU machine (../shared/gpu/README.md): `bash ../shared/gpu/prepare.sh` here, then a
# device call with carry [".gpu", "dist"] running `bash .gpu/run.sh bash scripts/gpu-recall.sh`.
# Env: MARKS (the run's --time totals, loading included; default "1m 2m30s 5m": with 3 loads and
# 6 evaluations under the device tool's 10-minute command limit), TRAIN_FLAGS (e.g. "--n-layer 2
# --n-head 8", "--data FILE"), EVAL_FLAGS (e.g. "--limit 10"), EVAL_TIMEOUT (seconds each eval.js
# may take, default 45: it then scores the conversations it finished), RESULTS (the results'
# name, default gpu-recall: runs side by side need names of their own). A dry run here:
# MARKS="20s 40s" TRAIN_FLAGS="--n-layer 1 --n-head 2 --n-embd 64 --block-size 64 --batch-size 2"
# EVAL_FLAGS="--limit 1". Results in ./out/RESULTS: train-MARK.log, eval-MARK.json and
# eval-copy-MARK.json (eval.js --json), curve.txt (a markdown table, rewritten after every mark
# so a run cut short keeps what it measured), the run's checkpoint in run/; with $OUT set (the
# device tool brings it back), all but the checkpoint packed as $OUT/RESULTS.tar.gz beside
# curve.txt after every mark, and after the last the model (weights and config.json, no
# optimizer state) as $OUT/RESULTS-model.tar.part-aa, -ab, ... (15 MiB each, the device tool's
# limit is 16 MiB a file and 8 files; at most 4 parts): `cat RESULTS-model.tar.part-* | tar -x`.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/gpu-results.sh "${RESULTS:-gpu-recall}" # a new $out: the first mark starts the run, the others resume it
run=$out/run
read -r -a marks <<<"${MARKS:-1m 2m30s 5m}"
timeout -k 5 60 node dist/bench.js --list-adapters | tee "$out/adapters.txt" # Dawn hanging here must not eat the command
keep
curve() { # the table over the marks done so far ($@)
  node -e '
  const fs = require("fs"), [out, ...marks] = process.argv.slice(1);
  const f = (x) => `${x.count}/${x.of}`;
  let tokensPerStep = 0;
  // the run so far at a mark: its last step line (steps in all, train.js val) and tokens per step
  const trained = (m) => {
    const log = fs.readFileSync(`${out}/train-${m}.log`, "utf8");
    tokensPerStep = Number(/(\d+) tokens\/step/.exec(log)?.[1] ?? tokensPerStep);
    const steps = [...log.matchAll(/^step +(\d+)\//gm)];
    const last = steps[steps.length - 1], val = [...log.matchAll(/\| val ([\d.]+)/g)].pop();
    const n = Number(last?.[1] ?? 0);
    return `${n} | ${((n * tokensPerStep) / 1e6).toFixed(2)}M | ${val?.[1] ?? "-"}`;
  };
  const rows = ["| mark | steps | tokens | train.js val | eval val | recall | recall loss (seen) | honesty | stop | rep-3gram | copying | distinct-2 | eval-copy recall (loss) |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"];
  // data/eval-copy.txt: the same questions in training phrasings, so copying shows apart from understanding
  const copied = (m) => {
    try { const c = JSON.parse(fs.readFileSync(`${out}/eval-copy-${m}.json`, "utf8")); return `${f(c.scores.recall)} (${c.recallLoss === null ? "-" : c.recallLoss.toFixed(3)})`; } catch { return "-"; }
  };
  marks.forEach((m) => {
    let e;
    try { e = JSON.parse(fs.readFileSync(`${out}/eval-${m}.json`, "utf8")); } catch { rows.push(`| ${m} | ${trained(m)} | (no eval) |`); return; }
    const s = e.scores, r = (x) => (x === null ? "-" : x.toFixed(3));
    rows.push(`| ${m} | ${trained(m)} | ${r(e.valLoss)} | ${f(s.recall)} | ${r(e.recallLoss)} (${r(e.recallLossSeen)}) | ${f(s.honesty)} | ${f(s.stopped)} | ${f(s.repeated3gram)} | ${f(s.copying)} | ${r(s.distinct2)} | ${copied(m)} |`);
  });
  console.log(rows.join("\n"));
' "$out" "$@" >"$out/curve.txt"
}
score() { # NAME, then eval.js's flags: eval.js --json on the run at $mark, into NAME-$mark.json
  local name=$1; shift
  # shellcheck disable=SC2086 # EVAL_FLAGS is a list of flags
  timeout -k 10 "${EVAL_TIMEOUT:-45}" node dist/eval.js --init "$run" --json "$@" ${EVAL_FLAGS:-} >"$out/$name-$mark.json" 2>"$out/$name-$mark.err" ||
    { echo "eval.js ($name) rc $?:"; tail -5 "$out/$name-$mark.err"; }
}
done_marks=()
for mark in "${marks[@]}"; do
  echo "== training to $mark"
  if [ -f "$run/model.safetensors" ]; then
    train=(node dist/train.js --resume --out "$run" --time "$mark")
  else
    # shellcheck disable=SC2206 # TRAIN_FLAGS is a list of flags
    train=(node dist/train.js --init scratch --out "$run" --time "$mark" --schedule constant --save-interval 0 ${TRAIN_FLAGS:-})
  fi
  "${train[@]}" >"$out/train-$mark.log" 2>&1 || { echo "train.js failed (rc $?):"; tail -5 "$out/train-$mark.log"; keep; exit 1; }
  grep '^done:' "$out/train-$mark.log"
  echo "== eval.js at $mark"
  score eval
  score eval-copy --data data/eval-copy.txt
  done_marks+=("$mark")
  curve "${done_marks[@]}"
  keep
done
if [ -n "${OUT:-}" ] && [ -f "$run/model.safetensors" ]; then # the model, to probe it at home
  rm -f "$OUT/$results-model.tar.part-"*
  if tar -cf - -C "$run" model.safetensors config.json | split -b 15M -a 2 - "$OUT/$results-model.tar.part-"; then
    parts=("$OUT/$results-model.tar.part-"*)
    if [ "${#parts[@]}" -gt 4 ]; then echo "the model takes ${#parts[@]} parts of 15 MiB: left out"; rm -f "${parts[@]}"; fi
  else
    echo "could not pack the model: left out"; rm -f "$OUT/$results-model.tar.part-"*
  fi
fi
cat "$out/curve.txt"
