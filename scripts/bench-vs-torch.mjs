#!/usr/bin/env node
// Side-by-side GPT-2 124M speed against PyTorch on the same CPU, in one sitting: runs a PyTorch
// reference script (GPT-2 124M fp32, random weights; prints one JSON line) and this engine's
// `node dist/bench.js --filter gpt2 --json --wall`, alternately, and prints tokens/s and the
// ratios. PyTorch is a measuring stick here, not a dependency: nothing else needs it.
//   node scripts/bench-vs-torch.mjs [--torch-script PATH] [--python PATH] [--threads N] [--rounds N] [--reps N]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const HELP = `node scripts/bench-vs-torch.mjs [--torch-script PATH] [--python PATH] [--threads N] [--rounds N] [--reps N]
  --torch-script  the PyTorch reference (default: $TORCH_GPT2_BENCH, else ../shared/bench/torch_cpu_gpt2.py)
  --python        the Python with torch installed (default: /usr/bin/python3, Debian's python3-torch)
  --threads       threads for both: PyTorch's and lavapipe's (LP_NUM_THREADS) (default: the CPUs this
                  machine has, lavapipe's default); --threads 1 compares one core each, which a busy
                  shared machine disturbs least
  --rounds        PyTorch and this engine run alternately this many times; each ratio pairs one round (default 1)
  --reps          this engine's timed runs per case, median (default 3)
Measures the GPT-2 124M train step (B=1, T=128, fwd+bwd+AdamW), prefill of a 512-token prompt and
KV-cached decode at context 128 and 1000. Timings swing on a shared machine: compare ratios from one sitting.`;

const argv = process.argv.slice(2);
if (argv.includes('--help')) {
  console.log(HELP);
  process.exit(0);
}
function arg(name, fallback) {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : fallback;
}
function fail(msg) {
  console.error(`error: ${msg}`);
  process.exit(1);
}
// the team's checkout keeps it in ../shared (a worktree one level deeper: ../../shared)
const candidates = [join(root, '..', 'shared', 'bench', 'torch_cpu_gpt2.py'), join(root, '..', '..', 'shared', 'bench', 'torch_cpu_gpt2.py')];
const script = resolve(arg('--torch-script', process.env.TORCH_GPT2_BENCH ?? candidates.find((c) => existsSync(c)) ?? candidates[0]));
const python = arg('--python', '/usr/bin/python3');
const rounds = Number(arg('--rounds', '1'));
const reps = arg('--reps', '3');
const threadsArg = arg('--threads');
const threads = threadsArg ?? String((await import('node:os')).availableParallelism());
if (!(Number(threads) >= 1 && Number.isInteger(Number(threads)))) fail(`--threads expects a positive integer, got '${threads}'`);
if (!(Number.isInteger(rounds) && rounds >= 1)) fail(`--rounds expects a positive integer, got '${arg('--rounds')}'`);

if (!existsSync(script)) fail(`PyTorch reference script not found at ${script}; pass --torch-script PATH (or set TORCH_GPT2_BENCH).`);
const probe = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
if (probe.error || probe.status !== 0) {
  fail(`${python} cannot import torch (${(probe.error?.message ?? probe.stderr.trim().split('\n').pop()) || 'unknown error'}); ` +
    `install Debian's python3-torch (apt-get install python3-torch) or pass --python PATH.`);
}
if (!existsSync(join(root, 'dist', 'bench.js'))) fail('dist/bench.js is missing; run `npm ci` (or `node scripts/build.mjs`) first.');

/** [label, this engine's bench case, the PyTorch JSON key] */
const CASES = [
  ['train step B=1 T=128', 'train step (fwd+bwd+AdamW)', 'train_tokens_per_s'],
  ['prefill, 512-token prompt', 'prefill', 'prefill_tok_s_512'],
  ['decode @ context 128', 'decode @ context 128', 'decode_tok_s_ctx128'],
  ['decode @ context 1000', 'decode @ context 1000', 'decode_tok_s_ctx1000'],
];

function runTorch() {
  const r = spawnSync(python, [script, threads], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) fail(`the PyTorch script failed:\n${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop();
  try {
    return JSON.parse(line);
  } catch {
    return fail(`the PyTorch script printed no JSON line (last line: ${line})`);
  }
}

function runEngine() {
  const env = threadsArg ? { ...process.env, LP_NUM_THREADS: threads } : process.env;
  const r = spawnSync(process.execPath, [join(root, 'dist', 'bench.js'), '--filter', 'gpt2', '--json', '--wall', '--reps', reps],
    { encoding: 'utf8', maxBuffer: 1 << 24, cwd: root, env });
  if (r.status !== 0) fail(`dist/bench.js failed:\n${r.stderr}`);
  const out = JSON.parse(r.stdout.slice(r.stdout.indexOf('{')));
  const rate = (name) => out.results.find((x) => x.name === name)?.tokens_per_s;
  return { adapter: out.adapter, rates: Object.fromEntries(CASES.map(([, name]) => [name, rate(name)])) };
}

const results = [];
for (let i = 0; i < rounds; i++) {
  const torch = runTorch();
  const engine = runEngine();
  results.push({ torch, engine });
  console.error(`round ${i + 1}/${rounds} done`);
}

const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b), h = Math.floor(v.length / 2);
  return v.length % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
};
const fmt = (v) => (v === undefined ? '-' : v.toFixed(1));
console.log(`this engine: ${results[0].engine.adapter}${threadsArg ? ` (LP_NUM_THREADS=${threads})` : ''}; PyTorch: ${script} (${threads} threads); ` +
  `${rounds} round(s), engine median of ${reps}; tok/s and ratios are medians over the rounds`);
console.log(`${'case'.padEnd(28)}${'engine tok/s'.padStart(14)}${'PyTorch tok/s'.padStart(15)}${'ratio'.padStart(8)}${rounds > 1 ? '  per round' : ''}`);
for (const [label, name, key] of CASES) {
  const ratios = results.map((r) => r.engine.rates[name] / r.torch[key]);
  const e = median(results.map((r) => r.engine.rates[name])), t = median(results.map((r) => r.torch[key]));
  const each = rounds > 1 ? `  ${ratios.map((x) => x.toFixed(2)).join(' ')}` : '';
  console.log(`${label.padEnd(28)}${fmt(e).padStart(14)}${fmt(t).padStart(15)}${(median(ratios).toFixed(2) + 'x').padStart(8)}${each}`);
}
