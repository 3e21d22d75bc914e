// scripts/gpu-bench.sh and gpu-recall.sh run once on a GPU machine lent for minutes, whose $OUT
// comes back only within the device tool's limits (at most 8 files, 16 MiB each, 64 MiB in all,
// 2 folders down, plain names). Here they run in a copy of scripts/ with a stub `node` on PATH that
// answers for dist/bench.js, train.js and eval.js at once (and passes the scripts' `node -e` to
// Node), so what they leave in $OUT is checked in a second.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const t = suite('gpu_scripts');

const BENCH_JSON = JSON.stringify({ adapter: 'stub', results: [{ group: 'matmul', name: 'matmul', shape: '8x1024x768', ms: 1, gflops: 12000 }] });
const scores = { recall: { count: 1, of: 65 }, honesty: { count: 2, of: 23 }, stopped: { count: 3, of: 202 },
  repeated3gram: { count: 0, of: 202 }, copying: { count: 0, of: 202 }, distinct2: 0.9 };
const EVAL_JSON = JSON.stringify({ interrupted: null, valLoss: 5, recallLoss: 9, recallLossSeen: 8, scores });

// dist/train.js writes a checkpoint over the device tool's 16 MiB a file (sparse: no disk time;
// MODEL_SIZE the model's size, default 40M)
const STUB = `#!/usr/bin/env bash
case "$1" in
  dist/bench.js) [ "$2" = --list-adapters ] && echo 'stub adapter' || echo '${BENCH_JSON}' ;;
  dist/eval.js) echo '${EVAL_JSON}' ;;
  dist/train.js)
    while [ $# -gt 0 ]; do [ "$1" = --out ] && dir=$2; shift; done
    mkdir -p "$dir" && truncate -s "\${MODEL_SIZE:-40M}" "$dir/model.safetensors" && truncate -s 80M "$dir/optimizer.safetensors"
    echo '{"n_layer": 2}' > "$dir/config.json"
    printf '4096 tokens/step\\nstep  10/99 | loss 5 | val 5.5\\ndone: 10 steps\\n' ;;
  *) exec "${process.execPath}" "$@" ;;
esac
`;

/** runs scripts/NAME in a fresh copy of scripts/ with the stub node; returns $OUT and the copy's root */
function runScript(name: string, env: Record<string, string> = {}): { out: string; root: string; stdout: string } {
  const root = mkdtempSync(join(tmpdir(), 'gpt2-gpu-'));
  mkdirSync(join(root, 'scripts'));
  mkdirSync(join(root, 'bin'));
  for (const f of readdirSync('scripts')) if (f.startsWith('gpu-')) copyFileSync(join('scripts', f), join(root, 'scripts', f));
  writeFileSync(join(root, 'bin', 'node'), STUB);
  chmodSync(join(root, 'bin', 'node'), 0o755);
  const out = join(root, 'device-out');
  const stdout = execFileSync('bash', [join(root, 'scripts', name)], {
    encoding: 'utf8', env: { ...process.env, PATH: `${join(root, 'bin')}:${process.env.PATH}`, OUT: out, ...env },
  });
  return { out, root, stdout };
}

/** every file under dir, as paths relative to it */
const files = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => statSync(join(dir, f)).isFile());

/** what the device tool would not bring back from $OUT (README of the device tool: Limits) */
function outOfLimits(out: string): string[] {
  const all = files(out), bad: string[] = [];
  if (all.length > 8) bad.push(`${all.length} files (at most 8)`);
  let total = 0;
  for (const f of all) {
    const size = statSync(join(out, f)).size;
    total += size;
    if (size > 16 * 2 ** 20) bad.push(`${f}: ${size} bytes (at most 16 MiB)`);
    if (f.split('/').length > 3) bad.push(`${f}: over 2 folders down`);
    if (!/^[A-Za-z0-9._/-]+$/.test(f)) bad.push(`${f}: a name beyond letters, digits, '.', '_', '-'`);
  }
  if (total > 64 * 2 ** 20) bad.push(`${total} bytes in all (at most 64 MiB)`);
  return bad;
}

const archived = (tgz: string) => execFileSync('tar', ['-tzf', tgz], { encoding: 'utf8' }).split('\n').filter(Boolean);

t('gpu-bench.sh: $OUT holds what the device tool brings back: the tables and one archive of every run', () => {
  const { out, stdout } = runScript('gpu-bench.sh');
  assert.equal(outOfLimits(out), []);
  assert.equal(files(out).sort(), ['adapters.txt', 'bench-fast.txt', 'bench.txt', 'gpu-bench.tar.gz']);
  const tgz = archived(join(out, 'gpu-bench.tar.gz'));
  for (const f of ['bench.json', 'bench.err', 'bench-fast.json', 'bench-serve.json', 'bench-serve.err']) assert.ok(tgz.includes(`gpu-bench/${f}`), f);
  assert.match(stdout, /matmul +matmul +8x1024x768 .* 12000 GFLOP\/s +17\.9% of fp32 peak/);
});

t('gpu-bench.sh: BENCH_FLAGS reach every run; BENCH_TIMEOUT cuts a run and the next ones still go', () => {
  const { root, stdout } = runScript('gpu-bench.sh', { BENCH_FLAGS: '--reps 1', BENCH_TIMEOUT: '1' });
  for (const run of ['bench', 'bench-fast', 'bench-serve']) assert.match(stdout, new RegExp(`== ${run}: node dist/bench.js .*--reps 1\\n`));
  // a stub bench.js that hangs, listing the adapters too: each run is cut, and the script goes on to the end
  writeFileSync(join(root, 'bin', 'node'), `#!/usr/bin/env bash\n[ "$1" = dist/bench.js ] && exec sleep 30\nexec "${process.execPath}" "$@"\n`);
  const hung = execFileSync('bash', [join(root, 'scripts', 'gpu-bench.sh')], {
    encoding: 'utf8', env: { ...process.env, PATH: `${join(root, 'bin')}:${process.env.PATH}`, BENCH_TIMEOUT: '1' }, timeout: 20_000,
  });
  assert.is(hung.match(/rc 124 in \d s: cut at BENCH_TIMEOUT/g)?.length, 3);
});

t('gpu-recall.sh: $OUT holds the curve, one archive of the logs and the last model in parts, not the checkpoint', () => {
  const { out, root, stdout } = runScript('gpu-recall.sh', { MARKS: '1m 2m' });
  assert.equal(outOfLimits(out), []);
  const parts = ['gpu-recall-model.tar.part-aa', 'gpu-recall-model.tar.part-ab', 'gpu-recall-model.tar.part-ac'];
  assert.equal(files(out).sort(), ['adapters.txt', 'curve.txt', ...parts, 'gpu-recall.tar.gz']);
  const tgz = archived(join(out, 'gpu-recall.tar.gz'));
  for (const f of ['train-1m.log', 'eval-1m.json', 'eval-copy-1m.json', 'train-2m.log', 'eval-2m.json', 'eval-copy-2m.json', 'curve.txt']) assert.ok(tgz.includes(`gpu-recall/${f}`), f);
  assert.not.ok(tgz.some((f) => f.includes('/run')), 'the checkpoint is left out');
  // the parts rejoin to the model and its config, without the optimizer state
  const model = execFileSync('bash', ['-c', 'cat gpu-recall-model.tar.part-* | tar -tv'], { cwd: out, encoding: 'utf8' });
  assert.match(model, /41943040 .*model\.safetensors/);
  assert.match(model, /config\.json/);
  assert.not.match(model, /optimizer/);
  // the run itself, resumed at the second mark, is kept beside the results
  assert.equal(files(join(root, 'out/gpu-recall/run')).sort(), ['config.json', 'model.safetensors', 'optimizer.safetensors']);
  assert.match(stdout, /\| 2m \| 10 \| 0\.04M \| 5\.5 \| 5\.000 \| 1\/65 \| 9\.000 \(8\.000\) \| 2\/23 \| 3\/202 \| 0\/202 \| 0\/202 \| 0\.900 \| 1\/65 \(9\.000\) \|/);
  rmSync(root, { recursive: true }); // the parts are 40 MB on disk
});

t('gpu-recall.sh: a model of more than 4 parts of 15 MiB is left out of $OUT, and the rest still comes back', () => {
  const { out, root, stdout } = runScript('gpu-recall.sh', { MARKS: '1m', MODEL_SIZE: '70M' });
  assert.equal(outOfLimits(out), []);
  assert.equal(files(out).sort(), ['adapters.txt', 'curve.txt', 'gpu-recall.tar.gz']);
  assert.match(stdout, /the model takes 5 parts of 15 MiB: left out/);
  rmSync(root, { recursive: true });
});

t('the gpu scripts parse (bash -n)', () => {
  for (const f of readdirSync('scripts')) if (f.endsWith('.sh')) execFileSync('bash', ['-n', join('scripts', f)]);
});

t.run();
