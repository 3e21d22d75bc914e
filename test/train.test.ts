// The training loop end to end on a tiny model: it learns, it resumes exactly, it fails readably.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTraining, type TrainOptions } from '../src/node/train_run.ts';
import { learningRate, TimeSchedule } from '../src/train/schedule.ts';
import { parseDuration } from '../src/util/args.ts';
import { evaluate, trainStep } from '../src/train/step.ts';
import { makeDataset } from '../src/data/windows.ts';
import { etaSeconds } from '../src/train/loop.ts';
import { GPT2_124M } from '../src/model/config.ts';
import { gpu } from './util.ts';
import { GPT2 } from '../src/model/gpt2.ts';
import { AdamW } from '../src/optim.ts';
import { SMALL_CHAT, TINY, tinyArrays } from './fixtures.ts';
import { UserError } from '../src/util/errors.ts';
import { resolveRun, type SavedRun, type TrainFlags } from '../src/train/run.ts';
import { loadChatData } from '../src/node/dataset.ts';
import { DEFAULT_SPEAKERS as SP } from '../src/data/format.ts';
import { assertOk, assertOneLineError, run } from './child.ts';

const t = suite('train');
const dir = mkdtempSync(join(tmpdir(), 'gpt2-train-'));
const chat = join(dir, 'chat.txt');
writeFileSync(chat, SMALL_CHAT);

const base = (over: Partial<TrainOptions>): TrainOptions => ({
  init: 'scratch', data: chat, out: join(dir, 'out'), resume: false, steps: 60, batchSize: 2, blockSize: 32, gradAccum: 1,
  lr: 1e-2, minLr: 1e-3, warmup: 2, schedule: 'cosine', weightDecay: 0, beta1: 0.9, beta2: 0.95, eps: 1e-8, gradClip: 1,
  seed: 7, evalInterval: 0, evalSteps: 1, order: 'sequential', mask: 'bot', human: 'Human', bot: 'Bot', saveInterval: 0,
  nLayer: 2, nHead: 2, nEmbd: 64, quiet: true, ...over,
});

t('learning-rate schedule: warmup, cosine to min, constant', () => {
  const s = { lr: 1, minLr: 0.1, warmup: 10, schedule: 'cosine' as const, steps: 110 };
  assert.ok(Math.abs(learningRate(s, 0) - 0.1) < 1e-12);
  assert.ok(Math.abs(learningRate(s, 9) - 1) < 1e-12);
  assert.ok(Math.abs(learningRate(s, 60) - 0.55) < 1e-12);
  assert.ok(Math.abs(learningRate(s, 110) - 0.1) < 1e-12);
  assert.is(learningRate({ ...s, schedule: 'constant' }, 50), 1);
});

t('--time durations: 90s, 10m, 1h, 1h30m, plain seconds; malformed ones are refused', () => {
  assert.equal(['90s', '10m', '1h', '1h30m', '2m30s', '1.5h', '45'].map(parseDuration), [90, 600, 3600, 5400, 150, 5400, 45]);
  for (const bad of ['', 'm', '10 minutes', '-5s', '1h-2m', '1s2m']) assert.is(parseDuration(bad), null, bad);
});

t('time-budget schedule: steps re-estimated as the step time changes, lr continuous, ending at min lr when time is up', () => {
  const o = { lr: 1, minLr: 0.1, schedule: 'cosine' as const };
  const budget = 10_000;
  const s = new TimeSchedule(o, { deadline: budget, start: 0, startStep: 0, priorSteps: 250 });
  const cost = (step: number) => (step < 30 ? 100 : 200) + (step === 0 ? 900 : 0); // a slow first step, then a slowdown
  const lrs: number[] = [];
  let now = 0;
  for (let step = 0; ; step++) {
    lrs.push(s.lr(step));
    now += cost(step);
    if (s.finished(step, now)) break;
  }
  assert.ok(now <= budget && budget - now < 2 * 200, `stopped at ${now} ms of ${budget}`);
  const peak = lrs.indexOf(Math.max(...lrs));
  assert.ok(peak > 0 && peak < 0.15 * lrs.length, `warmup ends at step ${peak} of ${lrs.length}`);
  for (let i = peak + 1; i < lrs.length; i++) {
    assert.ok(lrs[i] <= lrs[i - 1] + 1e-12, `step ${i}: lr goes up (${lrs[i - 1]} -> ${lrs[i]})`);
    assert.ok(lrs[i - 1] - lrs[i] < 0.1, `step ${i}: lr jumps by ${lrs[i - 1] - lrs[i]}`);
  }
  assert.ok(lrs.at(-1)! - o.minLr < 0.01, `final lr ${lrs.at(-1)}`);
  // with the time per step known, it is learningRate's schedule over the steps that fit
  const exact = new TimeSchedule(o, { deadline: 5_000, start: 0, startStep: 0, priorSteps: 50, saved: { ratio: 0, warmup: 5, warmupSettled: 1, remaining: 50 } });
  for (let step = 0; step < 50; step++) {
    assert.ok(Math.abs(exact.lr(step) - learningRate({ ...o, warmup: 5, steps: 50 }, step)) < 1e-9, `step ${step}`);
    assert.is(exact.finished(step, (step + 1) * 100), step === 49);
  }
});

t('time-budget warmup: the first (compiling) step does not decide it, and its lr never goes down as the estimate grows', () => {
  const o = { lr: 1, minLr: 0.1, schedule: 'cosine' as const };
  for (const budget of [20_000, 5_400_000]) { // 20 s and 1h30m
    const s = new TimeSchedule(o, { deadline: budget, start: 0, startStep: 0, priorSteps: 250 });
    const lrs: number[] = [];
    let now = 0;
    for (let step = 0; step < 600; step++) {
      lrs.push(s.lr(step));
      now += step === 0 ? 1000 : 100; // the first step compiles the pipelines
      if (s.finished(step, now)) break;
    }
    assert.ok(lrs[1] < o.lr, `budget ${budget}: step 1 at lr ${lrs[1]}, the peak: the compiling step's estimate (20 steps) settled a 1-step warmup`);
    const peak = lrs.indexOf(Math.max(...lrs));
    for (let i = 1; i <= peak; i++) assert.ok(lrs[i] >= lrs[i - 1], `budget ${budget}, step ${i}: the warmup lr goes down (${lrs[i - 1]} -> ${lrs[i]})`);
  }
});

t('time-budget schedule: the evaluation before the first step is neither in a step\'s time nor spread over the steps as if it recurred', () => {
  const o = { lr: 1, minLr: 0.1, schedule: 'cosine' as const };
  const evals = { interval: 50, steps: 1 }; // until one is measured, an evaluation is guessed at one step's time: 100 ms here
  const plain = new TimeSchedule(o, { deadline: 20_000, start: 0, startStep: 0, priorSteps: 250, evals });
  const evaluated = new TimeSchedule(o, { deadline: 20_000, start: 0, startStep: 0, priorSteps: 250, evals });
  evaluated.noteStartEval(100); // the step-0 evaluation, measured at the guess
  for (let step = 0; step < 5; step++) {
    plain.lr(step);
    evaluated.lr(step);
    plain.finished(step, 100 * (step + 1));
    evaluated.finished(step, 100 + 100 * (step + 1));
    // the evaluation took one step's time out of the budget: one step fewer, not a slower step
    assert.is(evaluated.total, plain.total - 1, `after step ${step + 1}: ${evaluated.total} vs ${plain.total} steps`);
  }
});

t('--resume --steps on a --time run (what its used-up budget\'s error offers) says where the lr jumps, as for a run counted in steps', () => {
  const config = { ...GPT2_124M, n_layer: 1, n_head: 2, n_embd: 64, n_positions: 32 };
  const device = { isCpu: false, maxBufferSize: 2 ** 32, memoryBytes: 2 ** 34 };
  // a 1-minute run that ended at step 20 with its cosine at the floor (ratio 1)
  const saved: SavedRun = {
    step: 20, settings: { data: [chat], time: 60, lr: 3e-3, minLr: 3e-4, schedule: 'cosine' }, adamSteps: 20, elapsedMs: 60_000,
    history: { train: [], val: [] }, schedule: { ratio: 1, warmup: 1, warmupSettled: 1, remaining: 1 },
  };
  const notes = (flags: TrainFlags) => resolveRun(flags, { source: 'resume', config, saved }, device).notes.join('\n');
  assert.match(notes({ steps: 40 }), /^--steps 40 \(the run had --time 1m00s\): the learning-rate schedule is laid out again over 40 steps, so the lr goes from 3\.00e-4 at step 20 to 1\.70e-3 at step 21; to go on at the rate it reached, pass --schedule constant --lr 0\.0003$/m);
  // the way it offers is quiet
  assert.not.match(notes({ steps: 40, schedule: 'constant', lr: 3e-4 }), /laid out again/);
});

t('the progress line\'s ETA: steps left at the rate so far, never past the end of a --time budget', () => {
  assert.is(etaSeconds(500, 10), 5);
  // step 2 of ~70 in a 20 s budget, 2 s in: the first steps' compiling rate says 68 s, the budget 18 s
  assert.is(etaSeconds(1000, 68, 18_000), 18);
  assert.is(etaSeconds(1000, 3, -50), 0);
});

t('train --time: stops near the budget (evaluation and checkpoints counted) with the lr at its floor', async () => {
  const g = await gpu();
  const budget = 3;
  // a fake clock that every reading moves on by 20 ms: the steps take the same (fake) time on any
  // machine, so where the run stops and its lr ends are the same every time
  let fake = 0;
  const clock = () => (fake += 20);
  const r = await runTraining(base({ steps: undefined, warmup: undefined, time: budget, evalInterval: 4, saveInterval: 5, out: join(dir, 'timed') }), g, clock);
  const what = `${r.steps} steps in ${r.wallSec.toFixed(2)} s of a ${budget} s budget (${r.msPerStep.toFixed(0)} ms/step), final lr ${r.lastLr}`;
  assert.ok(r.steps >= 10, what);
  // the last step ends before the budget; the final evaluation and save fit in what it kept for them, give or take a few readings
  assert.ok(r.wallSec > 0.9 * budget && r.wallSec < 1.05 * budget, what);
  const st = JSON.parse(readFileSync(join(dir, 'timed', 'train_state.json'), 'utf8'));
  // the last step's lr: where a --steps run of the same length ends
  const end = learningRate({ lr: 1e-2, minLr: 1e-3, warmup: st.schedule.warmup, schedule: 'cosine', steps: r.steps }, r.steps - 1);
  assert.ok(Math.abs(r.lastLr - end) < 0.02 * (1e-2 - 1e-3), `${what}; a ${r.steps}-step run ends at ${end}`);
  assert.is(st.step, r.steps);
  assert.is(st.options.time, budget);
});

t('train --time: a budget used up by loading trains nothing and says so (it trained one step past the budget)', async () => {
  const g = await gpu();
  let fake = 0;
  const clock = () => (fake += 5000); // 5 s a reading: a 2 s budget is gone before the first step
  const out = join(dir, 'timed-out');
  const err = await runTraining(base({ steps: undefined, warmup: undefined, time: 2, out }), g, clock).then(() => null, (e: Error) => e);
  assert.ok(err instanceof UserError, String(err));
  assert.match(err!.message, /^--time 2s was used up before the first step \(\d+s by loading\): nothing trained; pass a longer --time/);
  assert.not.ok(existsSync(out), 'the --out it created is removed');
});

t('a training step is recorded whole and submitted once: one command buffer, one readback', async () => {
  const g = await gpu();
  const c = { ...GPT2_124M, n_layer: 2, n_head: 2, n_embd: 64, n_positions: 32 };
  const model = GPT2.fromArrays(g, c, GPT2.initArrays(c, 1));
  const opt = new AdamW(g, model.params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClip: 1 });
  const B = 2, T = 32;
  const x = Uint32Array.from({ length: B * T }, (_, i) => (i * 7) % 1000);
  const y = Int32Array.from({ length: B * T }, (_, i) => (i % 3 ? (i * 11) % 1000 : -1));
  const out = g.tensor([B * T + 1], 'out');
  opt.zeroGrad();
  for (let step = 0; step < 3; step++) {
    await g.sync();
    const before = g.submits;
    const { loss, gradNorm, targets } = await trainStep(model, opt, [{ x, y }], B, T, 1e-3, out);
    assert.is(g.submits - before, 1, `step ${step}: submits`);
    assert.is(targets, 42);
    assert.ok(loss > 0 && gradNorm > 0, `loss ${loss}, grad norm ${gradNorm}`);
  }
  out.release();
  for (const p of model.params.values()) p.release();
  opt.release();
});

t('--grad-accum: two micro-batches of one row make the same step as one batch of both rows', async () => {
  const g = await gpu();
  const c = { ...TINY, n_layer: 1 };
  const T = 8, x = Uint32Array.from({ length: 2 * T }, (_, i) => (i * 5) % c.vocab_size);
  // row 0 scores 7 tokens, row 1 only 1: a mean of the micro-batches' means would weigh that one 7 times
  const y = Int32Array.from({ length: 2 * T }, (_, i) => (i < 7 || i === 15 ? (i * 3) % c.vocab_size : -1));
  const step = async (batches: { x: Uint32Array; y: Int32Array }[], B: number) => {
    const model = GPT2.fromArrays(g, c, tinyArrays(c, 4));
    const opt = new AdamW(g, model.params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, gradClip: 0 });
    const out = g.tensor([2 * T + 1], 'out');
    opt.zeroGrad();
    const r = await trainStep(model, opt, batches, B, T, 1e-2, out);
    const w = await model.p('h.0.attn.c_attn.weight').read();
    out.release();
    for (const p of model.params.values()) p.release();
    opt.release();
    return { ...r, w };
  };
  const one = await step([{ x, y }], 2);
  const accum = await step([0, 1].map((r) => ({ x: x.slice(r * T, r * T + T), y: y.slice(r * T, r * T + T) })), 1);
  assert.ok(Math.abs(accum.loss - one.loss) < 1e-6, `loss ${accum.loss} vs ${one.loss}`);
  assert.ok(Math.abs(accum.gradNorm - one.gradNorm) < 1e-5 * one.gradNorm, `gradient norm ${accum.gradNorm} vs ${one.gradNorm}`);
  const diff = one.w.reduce((m, v, i) => Math.max(m, Math.abs(v - accum.w[i])), 0);
  assert.ok(diff < 1e-6, `weights differ by ${diff} after the update`);
});

t('the validation loss counts each window once, whatever the batch size', async () => {
  const g = await gpu();
  const c = { ...TINY, n_layer: 1 };
  const model = GPT2.fromArrays(g, c, tinyArrays(c, 3));
  const T = 8, windows = 3; // a batch of 2 or 4 would wrap back to window 0
  const tokens = Uint32Array.from({ length: windows * T + 1 }, (_, i) => (i * 5) % c.vocab_size);
  const ds = makeDataset(tokens, new Uint8Array(tokens.length).fill(1), T, 1, 0, 0);
  try {
    const each = await evaluate(model, ds, windows, 1, T);
    for (const B of [2, 3, 4, 64]) {
      const v = await evaluate(model, ds, 8, B, T);
      assert.ok(Math.abs(v! - each!) < 1e-6, `batch ${B}: ${v} vs ${each} with each window once`);
    }
  } finally {
    for (const p of model.params.values()) p.release();
  }
});

t('a tiny model overfits a short conversation set (masked loss < 0.5)', async () => {
  const g = await gpu();
  const r = await runTraining(base({ out: join(dir, 'overfit'), log: join(dir, 'overfit.jsonl') }), g);
  const last = r.losses.slice(-5).reduce((a, b) => a + b, 0) / 5;
  assert.ok(r.losses[0] > 3, `first loss ${r.losses[0]}`);
  assert.ok(last < 0.5, `final loss ${last} (losses ${r.losses.map((l) => l.toFixed(2)).join(' ')})`);
  for (const f of ['model.safetensors', 'config.json', 'optimizer.safetensors', 'train_state.json', 'loss.svg']) {
    assert.ok(existsSync(join(dir, 'overfit', f)), f);
  }
  const log = readFileSync(join(dir, 'overfit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.is(log.length, 60);
  for (const k of ['step', 'loss', 'lr', 'tokens_per_s']) assert.ok(k in log[0], k);
});

/** runs fn with console.log captured: the lines train.js prints */
async function printed(fn: () => Promise<unknown>): Promise<string[]> {
  const lines: string[] = [], log = console.log;
  console.log = (s: string) => lines.push(s);
  try {
    await fn();
  } finally {
    console.log = log;
  }
  return lines;
}

t('a new run prints the validation loss before its first step (step 0, as nanoGPT), not in --log; not on --resume, not with --eval-interval 0', async () => {
  const g = await gpu();
  const out = join(dir, 'baseline'), log = join(dir, 'baseline.jsonl');
  let r: Awaited<ReturnType<typeof runTraining>> | undefined;
  const first = await printed(async () => (r = await runTraining(base({ steps: 4, evalInterval: 2, out, log, stopAfter: 2, quiet: false }), g)));
  const zero = first.filter((l) => /^step +0\//.test(l));
  assert.equal(zero, [`step     0/4 | val ${r!.valLosses[0][1].toFixed(4)}`], `a step-0 line in:\n${first.join('\n')}`);
  assert.equal(r!.valLosses.map(([s]) => s), [0, 2]);
  assert.ok(first.indexOf(zero[0]) < first.findIndex((l) => /^step +1\//.test(l)), 'before step 1');
  const state = JSON.parse(readFileSync(join(out, 'train_state.json'), 'utf8'));
  assert.equal(state.history.val, r!.valLosses, 'the checkpoint history (and so loss.svg) starts at step 0');
  const logged = () => readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  assert.equal(logged(), [1, 2], '--log: one object per optimizer step');
  const resumed = await printed(() => runTraining(base({ steps: 4, evalInterval: 2, out, resume: true, quiet: false }), g));
  assert.not.ok(resumed.some((l) => /^step +0\//.test(l)), `no step-0 line on --resume:\n${resumed.join('\n')}`);
  assert.equal(logged(), [1, 2, 3, 4]);
  assert.equal(JSON.parse(readFileSync(join(out, 'train_state.json'), 'utf8')).history.val.map(([s]: number[]) => s), [0, 2, 4]);
  const off = await printed(() => runTraining(base({ steps: 1, evalInterval: 0, out: join(dir, 'baseline-off'), quiet: false }), g));
  assert.not.ok(off.some((l) => /^step +0\//.test(l)), `none with --eval-interval 0:\n${off.join('\n')}`);
});

t('save -> resume gives the same next losses as an uninterrupted run', async () => {
  const g = await gpu();
  const full = await runTraining(base({ steps: 6, out: join(dir, 'full'), warmup: 2 }), g);
  await runTraining(base({ steps: 6, out: join(dir, 'part'), warmup: 2, stopAfter: 3 }), g);
  const rest = await runTraining(base({ steps: 6, out: join(dir, 'part'), warmup: 2, resume: true }), g);
  assert.is(rest.losses.length, 3);
  for (let i = 0; i < 3; i++) assert.is(rest.losses[i], full.losses[3 + i], `step ${4 + i}`);
});

t('--resume with another batch shape goes on at the row the run reached; another --data starts at its beginning', async () => {
  const g = await gpu();
  const out = join(dir, 'reshape'), position = () => JSON.parse(readFileSync(join(out, 'train_state.json'), 'utf8')).dataPosition;
  await runTraining(base({ steps: 4, out, stopAfter: 1 }), g); // rows 0, 1
  assert.is(position(), 2);
  await runTraining(base({ steps: 4, out, resume: true, batchSize: 1, gradAccum: 3, stopAfter: 2 }), g); // rows 2, 3, 4 (not 3 to 5)
  assert.is(position(), 5);
  const next = join(dir, 'next-part.txt');
  writeFileSync(next, SMALL_CHAT);
  await runTraining(base({ steps: 4, out, resume: true, data: next, batchSize: 2, gradAccum: 1, stopAfter: 3 }), g); // its rows 0, 1
  assert.is(position(), 2);
});

t('train.js --data repeated: the files train as one (their conversations, in order, a tenth held out); --resume keeps them all; a single path saved by an older train.js resumes; a missing file is named; a .bin does not mix', async () => {
  const a = join(dir, 'first.txt'), b = join(dir, 'second.txt'), joined = join(dir, 'joined.txt');
  writeFileSync(a, SMALL_CHAT);
  writeFileSync(b, Array.from({ length: 20 }, (_, i) => `Human: question ${i}\nBot: answer ${i}`).join('\n\n'));
  writeFileSync(joined, `${SMALL_CHAT}\n${readFileSync(b, 'utf8')}`); // what the README's cat made
  const opts = { blockSize: 32, speakers: SP, mask: 'bot' as const };
  const two = await loadChatData([a, b], opts), one = await loadChatData(joined, opts);
  assert.equal([two.train.stats, two.val.stats], [one.train.stats, one.val.stats]);
  assert.equal([...two.train.tokens], [...one.train.tokens], 'the same conversations held out');
  assert.equal([two.train.stats.conversations, two.val.stats.conversations], [21, 2], '23 in all');

  const out = join(dir, 'two-files'), state = () => JSON.parse(readFileSync(join(out, 'train_state.json'), 'utf8'));
  const MODEL = ['--init', 'scratch', '--n-layer', '1', '--n-head', '2', '--n-embd', '64', '--block-size', '32', '--batch-size', '2', '--eval-interval', '0'];
  const first = await run('train', [...MODEL, '--data', a, '--data', b, '--steps', '1', '--out', out]);
  assertOk(first, 'two --data files');
  assert.match(first.stdout, /^data: training: \S+first\.txt \+ \S+second\.txt: 21 conversations -> /m);
  assert.equal([state().options.data, state().dataPosition], [[a, b], 2]);
  const resumed = await run('train', ['--resume', '--out', out, '--steps', '2']);
  assertOk(resumed, '--resume');
  assert.match(resumed.stdout, /^data: training: \S+first\.txt \+ \S+second\.txt: 21 conversations -> /m);
  assert.equal([state().options.data, state().dataPosition], [[a, b], 4], 'both kept, and the data order goes on');
  // train_state.json as train.js wrote it before several files: one path (edited, so its hash is not the optimizer file's: --reset-optimizer)
  writeFileSync(join(out, 'train_state.json'), JSON.stringify({ ...state(), options: { ...state().options, data: a }, dataFingerprint: undefined }));
  const old = await run('train', ['--resume', '--reset-optimizer', '--out', out, '--steps', '3']);
  assertOk(old, '--resume of a single path');
  assert.match(old.stdout, /^data: training: \S+first\.txt: 2 conversations -> /m);
  assert.equal([state().options.data, state().dataPosition], [[a], 6]);

  const missing = join(dir, 'missing.txt');
  assertOneLineError(await run('train', [...MODEL, '--data', a, '--data', missing, '--steps', '1', '--out', join(dir, 'no-run')]),
    [/^error: dataset file not found: \S+missing\.txt /], 'a missing second file');
  writeFileSync(join(out, 'train_state.json'), JSON.stringify({ ...state(), options: { ...state().options, data: [a, missing] } }));
  assertOneLineError(await run('train', ['--resume', '--reset-optimizer', '--out', out, '--steps', '4']),
    [/^error: --resume: the run's data \S+missing\.txt \(from train_state\.json\) is not there any more: put it back, or pass --data FILE to go on with another file \(with the run's other file given again: --data \S+first\.txt --data FILE\)$/], 'a second file gone on --resume');
  assertOneLineError(await run('train', [...MODEL, '--data', a, '--data', 'tokens.bin', '--out', join(dir, 'no-run')]),
    [/^error: --data \S+first\.txt --data tokens\.bin: a \.bin token file trains alone; pass one \.bin, or only chat text files$/], 'chat text and a .bin');
  // one file twice, however spelt: its held-out conversations would train in the other copy
  const twice = /^error: --data \S+first\.txt is given twice: pass each file once \(a second copy would train on the conversations held out of the first\)$/;
  assertOneLineError(await run('train', [...MODEL, '--data', a, '--data', `${dir}/./first.txt`, '--steps', '1', '--out', join(dir, 'no-run')]), [twice], 'a file twice');
  assertOneLineError(await run('train', ['--resume', '--out', out, '--data', b, '--data', a, '--data', b, '--steps', '4']), [/^error: --data \S+second\.txt is given twice/], 'twice on --resume');
  // --val-data that is also a training file: validation on conversations it trains on
  const alsoTrained = /^error: --val-data \S+first\.txt is also a --data file: its validation loss would be on conversations the run trains on; pass another file, or leave --val-data out to hold out a tenth of --data$/;
  assertOneLineError(await run('train', [...MODEL, '--data', b, '--data', a, '--val-data', `${dir}/./first.txt`, '--steps', '1', '--out', join(dir, 'no-run')]), [alsoTrained], '--val-data among the --data files');
  assertOneLineError(await run('train', ['--resume', '--out', out, '--data', a, '--val-data', a, '--steps', '4']), [alsoTrained], 'the same on --resume');
});

t('bad inputs fail with readable messages', async () => {
  const g = await gpu();
  const msg = async (o: Partial<TrainOptions>) => {
    try {
      await runTraining(base({ steps: 1, ...o }), g);
    } catch (e) {
      return (e as Error).message;
    }
    assert.unreachable('expected an error');
  };
  assert.match((await msg({ data: join(dir, 'nope.txt') }))!, 'nope.txt');
  const empty = join(dir, 'empty.txt');
  writeFileSync(empty, '');
  assert.match((await msg({ data: empty }))!, /empty/i);
  assert.match((await msg({ init: join(dir, 'no-such-dir') }))!, /no such directory/);
  assert.match((await msg({ resume: true, out: join(dir, 'fresh') }))!, /no checkpoint/);
});

t.run();
