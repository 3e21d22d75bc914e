// What a careful user runs into (issue 7): batches without targets, runs that diverge, an --out
// that cannot take a checkpoint, signals, resumes, interrupted saves, full disks and bad inputs.
// Each case runs the real commands as child processes on a tiny model (read-only and full disks
// in a private mount namespace), plus a few checks of the parts in-process.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { UserError } from '../src/util/errors.ts';
import { readSafetensors, writeSafetensors } from '../src/node/safetensors.ts';
import { lockCheckpoint } from '../src/node/checkpoint_files.ts';
import { GPT2_124M, parameterCount } from '../src/model/config.ts';
import { GPT2 } from '../src/model/gpt2.ts';
import { saveGPT2Weights } from '../src/node/weights.ts';
import { AdamW } from '../src/optim.ts';
import { loadChatData } from '../src/node/dataset.ts';
import { DEFAULT_SAMPLED_SOFTMAX, resolveRun, type RunSettings, type SavedRun, type TrainFlags } from '../src/train/run.ts';
import { StepSchedule } from '../src/train/schedule.ts';
import { blownUp, trainLoop } from '../src/train/loop.ts';
import { Checkpointer } from '../src/node/checkpointer.ts';
import { gpu, skip } from './util.ts';
import { SMALL_CHAT } from './fixtures.ts';
import { assertOk, assertOneLineError, cannotMount, progress, run, start, stderrLines, waitForStdout, type Done } from './child.ts';

const t = suite('faults');

/** whether a disk can be mounted read-only or full here; if not, `test` (which checks nothing then) is listed as skipped at the end of the run */
function canMount(test: string): boolean {
  const why = cannotMount();
  if (why) skip(`need a private mount namespace (a read-only or full disk); ${why}`, test);
  return !why;
}
const dir = mkdtempSync(join(tmpdir(), 'gpt2-faults-'));
const file = (name: string, text: string | Uint8Array) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const chat = file('chat.txt', SMALL_CHAT);
const MODEL = ['--init', 'scratch', '--n-layer', '1', '--n-head', '2', '--n-embd', '64', '--block-size', '32', '--batch-size', '2'];
const TINY = [...MODEL, '--data', chat];
const out = (name: string) => join(dir, name);
const state = (d: string) => JSON.parse(readFileSync(join(d, 'train_state.json'), 'utf8'));
const noNaN = (r: Done, what: string) => assert.not.match(r.stdout + r.stderr, /NaN/, `${what}: NaN in the output\n${r.stdout}\n${r.stderr}`);
const ckpt = out('ckpt'); // a finished 2-step run, for the tests that need a checkpoint

t.before(async () => {
  assertOk(await run('train', [...TINY, '--steps', '2', '--out', ckpt]), 'a checkpoint for the later tests');
});

// ---- 1. batches without targets ----

const ADA = 'Human: Hi, my name is Ada.\nBot: Hello Ada! Nice to meet you.';
const MONOLOGUE = 'Human: I will just talk for a while here without waiting for any reply from you at all, thanks.';

t('a batch with no target tokens is skipped (loss 0, no update), not NaN: the run finishes and saves', async () => {
  // one conversation per 32-token window, every other one without a Bot reply
  const data = file('gaps.txt', [ADA, MONOLOGUE, ADA, MONOLOGUE, ADA, MONOLOGUE, ADA, MONOLOGUE, ADA].join('\n\n') + '\n');
  const log = out('gaps.jsonl');
  const r = await run('train', [...MODEL, '--data', data, '--batch-size', '1', '--order', 'sequential', '--steps', '4', '--out', out('gaps'), '--log', log]);
  assertOk(r, 'training through empty batches');
  noNaN(r, 'empty batches');
  const lines = progress(r.stdout);
  assert.equal(lines.map((l) => l.loss === undefined), [false, true, false, true], `steps 2 and 4 have no targets:\n${r.stdout}`);
  assert.match(r.stdout, /2 of 4 steps had no target tokens .* and were skipped/);
  assert.is(state(out('gaps')).step, 4);
  assert.is(state(out('gaps')).adamSteps, 2, 'AdamW updated only on the steps that learned');
  const entries = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(entries.map((e) => 'skipped' in e), [false, true, false, true]);
});

t('a dataset without any Bot reply is refused before training', async () => {
  const data = file('no-bot.txt', [MONOLOGUE, 'Human: hello?', 'Human: anyone there?'].join('\n\n') + '\n');
  const r = await run('train', [...MODEL, '--data', data, '--steps', '3', '--out', out('no-bot')]);
  assertOneLineError(r, [/no Bot replies to learn from/, /--mask none/], 'no Bot replies');
  assert.not.match(r.stdout, /^step /m, 'refused before the first step');
  assert.not.ok(existsSync(out('no-bot')), 'no empty --out left behind');
});

t('no held-out Bot tokens: "no validation data" instead of val NaN, and no NaN in loss.svg', async () => {
  // conversation 10 of 10 is the held-out one: it has no Bot reply
  const data = file('no-val.txt', [...Array(9).fill(ADA), MONOLOGUE].join('\n\n') + '\n');
  const r = await run('train', [...MODEL, '--data', data, '--steps', '2', '--eval-interval', '1', '--out', out('no-val')]);
  assertOk(r, 'training without validation data');
  assert.match(r.stdout, /no validation data/);
  noNaN(r, 'no validation data');
  assert.not.match(readFileSync(join(out('no-val'), 'loss.svg'), 'utf8'), /NaN/, 'loss.svg');
});

t('a file of one conversation: nothing is held out, and the run says so rather than that the held-out part has no replies', async () => {
  const data = file('one-conv.txt', `${ADA}\n`);
  const r = await run('train', [...MODEL, '--data', data, '--steps', '1', '--out', out('one-conv')]);
  assertOk(r, 'one conversation');
  assert.match(r.stdout, /^data: validation: held out of .*one-conv\.txt: nothing \(1 conversation, too few to hold one out\)$/m);
  assert.match(r.stdout, /^no validation data: the validation loss is skipped; pass --val-data FILE for one$/m);
});

// ---- 2. divergence and impossible optimizer values ----

t('a step that goes to NaN stops the run without saving it; the last good checkpoint stays', async () => {
  const d = out('diverged');
  const r = await run('train', [...TINY, '--lr', '1e30', '--steps', '4', '--save-interval', '1', '--out', d]);
  assertOneLineError(r, [/^error: step 2: the loss is NaN/, /without saving it/, /checkpoint of step 1 is kept/, /--lr/], 'diverged');
  assert.is(state(d).step, 1, 'the checkpoint is the last finite step');
  const weights = readSafetensors(join(d, 'model.safetensors'));
  for (const name of weights.names) assert.ok(weights.get(name).every(Number.isFinite), `${name} is finite`);
});

t('a loss that blows up but stays finite (--lr 10) stops the run without saving it, as NaN does: 10 steps after, not at the end; an interval save in between is skipped', async () => {
  const d = out('blown-up'), e = out('blown-up-saves');
  const [r, saves] = await Promise.all([
    run('train', [...TINY, '--lr', '10', '--steps', '40', '--save-interval', '0', '--eval-interval', '0', '--out', d]),
    run('train', [...TINY, '--lr', '10', '--steps', '8', '--save-interval', '4', '--eval-interval', '0', '--out', e]),
  ]);
  assertOneLineError(r, [/^error: step 11: the loss blew up: at least \d+\.\d\d over the last 10 steps \(the run's first step: 10\.8\d; a uniform guess over the vocabulary: 10\.82\)/, /without saving it \(no checkpoint was written\)/, /lower --lr \(now 10\)/], 'blown up');
  noNaN(r, 'blown up');
  assert.is(progress(r.stdout).length, 11, 'stopped at step 11 of 40');
  assert.not.ok(existsSync(join(d, 'model.safetensors')), 'no checkpoint');
  // the save at step 4 is skipped, the end of the run refuses
  assertOneLineError(saves, [/^error: step 8: the loss blew up: a median of \d+\.\d\d over the last 7 steps/, /no checkpoint was written/], 'blown up before its saves');
  assert.not.ok(existsSync(join(e, 'model.safetensors')), 'no checkpoint at the interval either');
});

t('blownUp: after a step, every one of the last 10 losses bad; at a save, their lower median; against a uniform guess and the run\'s first loss', () => {
  const V = 50257; // ln V = 10.82
  const save = (l: number[]) => blownUp(l, V, 'at a save');
  assert.is(blownUp([], V), null);
  assert.is(save([10.84]), null, 'the first step is the reference');
  const up = [10.84, 4879, 1631, 4993, 3790, 2492, 2918, 2022, 2525, 1866, 1802, 1703];
  assert.is(blownUp(up.slice(0, 10), V), null, 'after a step: not before 10 steps past the first');
  assert.match(blownUp(up.slice(0, 11), V)!, /^the loss blew up: at least 1631\.00 over the last 10 steps \(the run's first step: 10\.84; a uniform guess over the vocabulary: 10\.82\)$/);
  assert.match(save(up.slice(0, 3))!, /^the loss blew up: a median of 1631\.00 over the last 2 steps/, 'at a save, early: every step since the first');
  assert.match(save(up.slice(0, 2))!, /a median of 4879\.00 at the last step/);
  // 95 good steps, then a bad tail: a save refuses once 6 of the last 10 are bad, the check after a step waits for 10
  const good = Array(95).fill(3);
  assert.is(save([10.84, ...good, ...Array(5).fill(1500)]), null, '5 of 10');
  assert.ok(save([10.84, ...good, ...Array(6).fill(1500)]), '6 of 10');
  assert.is(blownUp([10.84, ...good, ...Array(9).fill(1500)], V), null);
  assert.ok(blownUp([10.84, ...good, ...Array(10).fill(1500)], V));
  // --lr 0.3 on a tiny model: up to 28.6, then back under the first loss
  const rough = [10.84, 11.63, 28.59, 19.60, 19.65, 16.59, 11.76, 10.54, 12.57, 13.41, 10.78, 10.70, 8.84, 8.72, 8.46, 9.96, 10.58, 11.96, 8.10, 11.03];
  for (let n = 1; n <= rough.length; n++) assert.is(blownUp(rough.slice(0, n), V), null, `rough patch, step ${n}`);
  assert.is(save(rough), null, 'recovered by its end');
  assert.is(blownUp([2, 50, 50, 2, ...Array(8).fill(50)], V), null, 'one good step in the last 10');
  assert.is(blownUp([3.1, ...Array(10).fill(11.5)], V), null, 'a fine-tune within a nat of a uniform guess');
  assert.ok(blownUp([3.1, ...Array(10).fill(11.9)], V));
  assert.is(blownUp([40, ...Array(10).fill(40.5)], V), null, 'a run that started there (a broken checkpoint) and got no worse');
  assert.ok(blownUp([3, ...Array(10).fill(40.5)], V), 'resumed high: the run\'s first step is the reference, not the session\'s');
});

t('weights that are not finite are never handed to a save', async () => {
  const g = await gpu();
  const config = { ...GPT2_124M, n_layer: 1, n_head: 2, n_embd: 64, n_positions: 32 };
  const model = GPT2.fromArrays(g, config, GPT2.initArrays(config, 3));
  const opt = new AdamW(g, model.params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, gradClip: 1 });
  const data = await loadChatData(chat, { blockSize: 32, speakers: { human: 'Human', bot: 'Bot' }, mask: 'bot' });
  const settings = resolveRun({ data: chat, steps: 3, batchSize: 2, saveInterval: 1 }, { source: 'pretrained', config }, { isCpu: true, maxBufferSize: 2 ** 32, memoryBytes: 2 ** 34 }).settings;
  let saves = 0;
  const err = await trainLoop({ model, opt, train: data.train, val: null, settings, schedule: new StepSchedule({ ...settings, steps: 3, warmup: 0 }), startStep: 0, history: { train: [], val: [] }, now: () => performance.now() }, {
    onStep: () => model.p('h.0.ln_1.bias').write(Float32Array.of(NaN)), // what a bad update would leave
    save: () => (saves++, true),
    stopRequested: () => false,
  }).then(() => null, (e: Error) => e);
  assert.ok(err instanceof UserError, String(err));
  assert.match(err!.message, /step 1: weights 'h\.0\.ln_1\.bias' are not finite; training stopped without saving it \(no checkpoint was written\)/);
  assert.is(saves, 0);
  for (const p of model.params.values()) p.release();
  opt.release();
});

t('the memory check counts the copies of the weights a host keeps beside the run (the page keeps one to put back)', () => {
  const config = { ...GPT2_124M, n_layer: 1, n_head: 2, n_embd: 64, n_positions: 32 };
  const four = 4 * 4 * parameterCount(config); // weights, gradients, AdamW's two moments
  const device = { isCpu: false, maxBufferSize: 2 ** 32, memoryBytes: four + 1024 };
  const flags = { data: chat, steps: 3, batchSize: 2 };
  resolveRun(flags, { source: 'pretrained', config }, device);
  assert.throws(() => resolveRun(flags, { source: 'pretrained', config }, { ...device, keptCopies: 1 }), (e: Error) => e instanceof UserError && /\(5 float32 copies\)/.test(e.message));
});

t('a batch over the buffer limit: the size goes after the noun (\'a 8.4 GB activation buffer\' read wrong)', () => {
  const config = { ...GPT2_124M, n_layer: 1, n_head: 2, n_embd: 64, n_positions: 32 };
  const device = { isCpu: false, maxBufferSize: 2 ** 32, memoryBytes: 2 ** 40 };
  // [B*T, 4C] float32: 256000 * 32 * 256 * 4 bytes = 8.4 GB
  assert.throws(() => resolveRun({ data: chat, steps: 3, batchSize: 256000, blockSize: 32 }, { source: 'pretrained', config }, device),
    (e: Error) => e instanceof UserError && /needs an activation buffer of 8\.4 GB \[8192000, 256\], over this adapter's 4\.3 GB buffer limit/.test(e.message));
});

t('--init of a train.js checkpoint says the run fine-tunes it at another learning rate than it was trained at, and how to keep its own', async () => {
  const [told, chosen, lora] = await Promise.all([[], ['--lr', '1e-3'], ['--lora', '2']].map((lr, i) =>
    run('train', ['--init', ckpt, '--data', chat, '--block-size', '32', '--steps', '1', '--eval-interval', '0', '--out', out(`lr-note-${i}`), ...lr])));
  assertOk(told, 'fine-tuning a from-scratch checkpoint');
  assert.match(told.stdout, /^note: .*ckpt was trained at --lr 0\.003; this run fine-tunes it at --lr 0\.00006 \(the fine-tuning default\): pass --lr .*, or --resume --out .*ckpt to go on with that run's settings$/m);
  assertOk(chosen, 'with --lr');
  assert.not.match(chosen.stdout, /was trained at --lr/);
  // an adapter on it learns at LoRA's own default; --resume --out ckpt would retrain the base under the adapter
  assertOk(lora, 'a LoRA run on it');
  assert.not.match(lora.stdout, /was trained at --lr/);
});

t('a --batch-size over the training windows is said (each batch repeats windows, for nothing)', async () => {
  const r = await run('train', [...MODEL, '--data', file('two.txt', `${ADA}\n\n${ADA}\n`), '--batch-size', '5', '--steps', '1', '--eval-interval', '0', '--out', out('big-batch')]);
  assertOk(r, 'a batch over the windows');
  // two conversations: one trains, one is held out
  assert.match(r.stdout, /^note: --batch-size 5 is more than the 1 training window: every batch repeats windows \(about the step of --batch-size 1, at 5\.0x the cost\)$/m);
  // micro-batches that each fit but together do not (--grad-accum): the step repeats windows just as well
  const accum = await run('train', [...MODEL, '--data', file('two.txt', `${ADA}\n\n${ADA}\n`), '--batch-size', '1', '--grad-accum', '3', '--steps', '1', '--eval-interval', '0', '--out', out('big-accum')]);
  assertOk(accum, 'micro-batches over the windows');
  assert.match(accum.stdout, /^note: --batch-size 1 x --grad-accum 3 = 3 rows a step, more than the 1 training window: every step repeats windows \(about the step of 1 row, at 3\.0x the cost\)$/m);
  // both over: the cost counts every micro-batch, not the first alone
  const both = await run('train', [...MODEL, '--data', file('two.txt', `${ADA}\n\n${ADA}\n`), '--batch-size', '2', '--grad-accum', '2', '--steps', '1', '--eval-interval', '0', '--out', out('big-both')]);
  assertOk(both, 'a batch and its micro-batches over the windows');
  assert.match(both.stdout, /^note: --batch-size 2 x --grad-accum 2 = 4 rows a step, more than the 1 training window: every step repeats windows \(about the step of 1 row, at 4\.0x the cost\)$/m);
});

t('--sampled-softmax N over all the tokens not in the data is the whole vocabulary: said, and the same steps as --sampled-softmax 0', async () => {
  const [all, none] = await Promise.all(['60000', '0'].map((n, i) => run('train', [...TINY, '--steps', '2', '--eval-interval', '0', '--sampled-softmax', n, '--out', out(`softmax-all-${i}`)])));
  assertOk(all, '--sampled-softmax 60000');
  assertOk(none, '--sampled-softmax 0');
  assert.match(all.stdout, /^sampled softmax: --sampled-softmax 60000 covers all \d+ tokens not in the data, so each step is over the whole vocabulary \(as --sampled-softmax 0\)$/m);
  const losses = progress(all.stdout).map((l) => l.loss);
  // two steps' losses each: two empty lists (no progress line read) would compare equal
  assert.ok(losses.length === 2 && losses.every((l) => l !== undefined), `two steps with a loss:\n${all.stdout}`);
  assert.equal(losses, progress(none.stdout).map((l) => l.loss));
});

t('a --warmup not shorter than --steps is said (the learning rate would never decay)', () => {
  const config = { ...GPT2_124M, n_layer: 1, n_head: 2, n_embd: 64, n_positions: 32 };
  const device = { isCpu: false, maxBufferSize: 2 ** 32, memoryBytes: 2 ** 34 };
  const notes = (warmup: number) => resolveRun({ data: chat, steps: 10, warmup, lr: 1e-3 }, { source: 'pretrained', config }, device).notes.join('\n');
  assert.match(notes(10), /^--warmup 10 is not shorter than --steps 10: the whole run is warmup, the learning rate only rises \(to 0\.001 at the last step, of --lr 0\.001\) and never decays$/m);
  assert.match(notes(20), /\(to 0\.0005 at the last step, of --lr 0\.001\)/);
  assert.not.match(notes(9), /--warmup/);
  // the default warmup (5% of the steps) of a one-step run is that step: nothing to say
  assert.not.match(resolveRun({ data: chat, steps: 1 }, { source: 'pretrained', config }, device).notes.join('\n'), /--warmup/);
});

t('--n-layer/--n-head/--n-embd on weights that exist (--resume, --init DIR) are said to be unused, not dropped silently', () => {
  const config = { ...GPT2_124M, n_layer: 1, n_head: 2, n_embd: 64, n_positions: 32 };
  const device = { isCpu: false, maxBufferSize: 2 ** 32, memoryBytes: 2 ** 34 };
  const saved: SavedRun = { step: 3, settings: { data: [chat] }, adamSteps: 3, elapsedMs: 0, history: { train: [], val: [] } };
  const notes = (flags: TrainFlags, source: 'resume' | 'pretrained') =>
    resolveRun({ data: chat, steps: 9, ...flags }, source === 'resume' ? { source, config, saved } : { source, config }, device).notes.join('\n');
  assert.match(notes({ nLayer: 4, nEmbd: 128 }, 'resume'), /^--n-layer 4 --n-embd 128: not used; the run's model in --out keeps its shape \(n_layer 1, n_head 2, n_embd 64\); the shape flags are for a new model \(--init scratch\)$/m);
  assert.match(notes({ nHead: 4, init: 'some/dir' }, 'pretrained'), /^--n-head 4: not used; --init's model keeps its shape \(n_layer 1, n_head 2, n_embd 64\)/m);
  // no --init: auto found GPT-2's weights, which the user never named
  for (const init of [undefined, 'auto']) assert.match(notes({ nHead: 4, init }, 'pretrained'), /^--n-head 4: not used; the GPT-2 that --init auto found keeps its shape \(n_layer 1/m);
  // the first command with --resume added (the same shape) has nothing to say
  assert.not.match(notes({ nLayer: 1, nHead: 2, nEmbd: 64 }, 'resume'), /not used/);
});

t('--resume with another --steps says the schedule is laid out again and where the lr jumps (nanoGPT\'s lr_decay_iters would keep it)', () => {
  const config = { ...GPT2_124M, n_layer: 1, n_head: 2, n_embd: 64, n_positions: 32 };
  const device = { isCpu: false, maxBufferSize: 2 ** 32, memoryBytes: 2 ** 34 };
  const run = (steps: number | undefined, settings: Partial<RunSettings> = {}) => {
    const saved: SavedRun = { step: 20, settings: { data: [chat], steps: 20, lr: 3e-3, minLr: 3e-4, warmup: 1, schedule: 'cosine', ...settings }, adamSteps: 20, elapsedMs: 0, history: { train: [], val: [] } };
    return resolveRun({ steps }, { source: 'resume', config, saved }, device).notes.join('\n');
  };
  // a finished run extended: its lr goes back up from the floor
  assert.match(run(40), /^--steps 40 \(the run had 20\): the learning-rate schedule is laid out again over 40 steps, so the lr goes from 3\.18e-4 at step 20 to 1\.70e-3 at step 21; to go on at the rate it reached, pass --schedule constant --lr 0\.000318$/m);
  // an interrupted run shortened: the lr drops, and that is what was asked for
  assert.match(run(22, { steps: 100 }), /^--steps 22 \(the run had 100\): .* so the lr goes from 2\.79e-3 at step 20 to 3\.60e-4 at step 21$/m);
  assert.not.match(run(40, { schedule: 'constant' }), /--steps/, 'a constant lr does not move');
  assert.not.match(run(undefined, { steps: 30 }), /--steps/, 'the run\'s own --steps');
});

t('impossible optimizer values are refused up front, naming the flag', async () => {
  const device = { isCpu: true, maxBufferSize: 2 ** 32, memoryBytes: 2 ** 34 };
  const cases: [TrainFlags, RegExp][] = [
    [{ lr: 0 }, /--lr must be a positive number .*, got 0/],
    [{ lr: 1e39 }, /--lr must be a positive number \(below 3\.4e38, float32\)/],
    [{ lr: -1e-3 }, /--lr must be a positive number/],
    [{ lr: 1e-3, minLr: 2e-3 }, /--min-lr must be between 0 and --lr \(0\.001\), got 0\.002/],
    [{ minLr: -1 }, /--min-lr/],
    [{ eps: 0 }, /--eps must be a positive number/],
    [{ eps: 1e-45 }, /--eps .*float32/],
    [{ beta1: 1 }, /--beta1 must be in \[0, 1\), got 1/],
    [{ beta2: -0.1 }, /--beta2 must be in \[0, 1\)/],
    [{ weightDecay: -0.1 }, /--weight-decay must be 0 or more/],
    [{ gradClip: -1 }, /--grad-clip must be 0 \(off\) or more/],
    [{ warmup: -5 }, /--warmup must be a whole number of steps/],
    [{ evalInterval: -1 }, /--eval-interval must be/],
    [{ saveInterval: -2 }, /--save-interval must be/],
    [{ evalSteps: 0 }, /--eval-steps must be a whole number of at least 1/],
    [{ steps: 10, time: 60 }, /either --steps or --time/],
    [{ sampledSoftmax: -1 }, /--sampled-softmax must be a whole number of tokens/],
    [{ sampledSoftmax: 2.5 }, /--sampled-softmax must be a whole number of tokens/],
  ];
  for (const [flags, re] of cases) {
    assert.throws(() => resolveRun({ data: chat, ...flags }, { source: 'scratch' }, device), (e: Error) => e instanceof UserError && re.test(e.message), JSON.stringify(flags));
  }
  assertOneLineError(await run('train', [...TINY, '--eps', '0', '--out', out('eps0')]), [/--eps must be a positive number/], '--eps 0');
});

t('--sampled-softmax: on by default from scratch, off for fine-tuning, kept by --resume, refused with LoRA', () => {
  const device = { isCpu: true, maxBufferSize: 2 ** 32, memoryBytes: 2 ** 34 };
  const config = { ...GPT2_124M, n_layer: 2, n_head: 2, n_embd: 64, n_positions: 64 };
  const saved = (settings: Partial<RunSettings>): SavedRun => ({ step: 3, settings, adamSteps: 3, elapsedMs: 0, history: { train: [], val: [] } });
  assert.is(resolveRun({ data: chat }, { source: 'scratch' }, device).settings.sampledSoftmax, DEFAULT_SAMPLED_SOFTMAX);
  assert.is(resolveRun({ data: chat, sampledSoftmax: 0 }, { source: 'scratch' }, device).settings.sampledSoftmax, 0);
  assert.is(resolveRun({ data: chat }, { source: 'pretrained', config }, device).settings.sampledSoftmax, 0);
  assert.is(resolveRun({ data: chat, sampledSoftmax: 512 }, { source: 'pretrained', config }, device).settings.sampledSoftmax, 512);
  assert.is(resolveRun({ data: chat, steps: 9 }, { source: 'resume', config, saved: saved({ sampledSoftmax: 1000 }) }, device).settings.sampledSoftmax, 1000);
  // a run saved before the flag existed trained over the whole vocabulary, and goes on so
  assert.is(resolveRun({ data: chat, steps: 9 }, { source: 'resume', config, saved: saved({}) }, device).settings.sampledSoftmax, 0);
  assert.throws(() => resolveRun({ data: chat, loraR: 4, sampledSoftmax: 64 }, { source: 'pretrained', config }, device), /LoRA run keeps it frozen/);
});

// ---- 3. --out, checked before the first step ----

t('--out that cannot hold a checkpoint is refused before the first step: a file, /proc, a second trainer', async () => {
  const notDir = file('not-a-dir', 'x');
  const cases: [string, RegExp[]][] = [
    [notDir, [/not-a-dir is a file, not a directory/]],
    [join(notDir, 'run'), [/not-a-dir is a file, not a directory/]],
    ['/proc/gpt2-webgpu-test/run', [/\/proc is on the kernel's proc file system/]],
  ];
  const results = await Promise.all(cases.map(([o]) => run('train', [...TINY, '--steps', '1', '--out', o], '', { timeoutMs: 30_000 })));
  cases.forEach(([o, patterns], i) => {
    assertOneLineError(results[i], patterns, `--out ${o}`);
    assert.not.match(results[i].stdout, /^step /m, `--out ${o}: refused before training`);
  });

  // a second trainer on the same --out
  const d = out('locked');
  const first = start('train', [...TINY, '--steps', '1000', '--out', d]);
  first.child.stdin!.end();
  await waitForStdout(first, /^step +1\//m);
  const second = await run('train', [...TINY, '--steps', '2', '--out', d]);
  assertOneLineError(second, [new RegExp(`is in use by another trainer \\(pid ${first.child.pid}\\)`)], 'second trainer');
  first.child.kill('SIGINT');
  assertOk(await first.done, 'the first trainer');
  assert.not.ok(existsSync(join(d, '.lock')), 'the lock is released');
  // a lock left by a process that is gone (kill -9) is taken over
  writeFileSync(join(d, '.lock'), '999999999\n');
  assertOk(await run('train', ['--resume', '--out', d, '--steps', String(state(d).step + 1)]), 'a stale lock');
});

t('a lock holding this process\'s own pid is stale (pid 1 again after a container restart); one held by a live pid names the .lock to remove', async () => {
  const d = out('own-pid-lock');
  mkdirSync(d);
  writeFileSync(join(d, '.lock'), `${process.pid}\n`);
  const release = lockCheckpoint(d);
  assert.is(readFileSync(join(d, '.lock'), 'utf8'), `${process.pid}\n`);
  release();
  assert.not.ok(existsSync(join(d, '.lock')), 'released');
  // a live process that is not a trainer (this test): not provably stale, so the user is told what to remove
  const held = out('live-pid-lock');
  mkdirSync(held);
  for (const f of readdirSync(ckpt)) if (!f.startsWith('.')) copyFileSync(join(ckpt, f), join(held, f));
  writeFileSync(join(held, '.lock'), `${process.pid}\n`);
  const r = await run('train', ['--resume', '--out', held, '--steps', '3']);
  assertOneLineError(r, [new RegExp(`in use by another trainer \\(pid ${process.pid}\\)`), new RegExp(`if no trainer runs there, remove ${held}/\\.lock$`)], 'a live pid in .lock');
});

t('--out on a read-only disk or under a read-only parent names the reason before the first step', async () => {
  if (!canMount('--out on a read-only disk or under a read-only parent names the reason before the first step')) return;
  const ro = out('ro');
  mkdirSync(ro);
  const mounts = `mount --bind '${ro}' '${ro}' && mount -o remount,bind,ro '${ro}'`;
  const cases = [[join(ro, 'run'), /cannot create .*ro\/run: read-only file system \(EROFS\)/], [ro, /cannot write there: read-only file system \(EROFS\)/]] as const;
  const results = await Promise.all(cases.map(([o]) => run('train', [...TINY, '--steps', '1', '--out', o], '', { mounts })));
  cases.forEach(([o, re], i) => {
    assertOneLineError(results[i], [re], `--out ${o} read-only`);
    assert.not.match(results[i].stdout, /^step /m);
  });
});

t('--merge-adapter saves once into a new directory: room for one model is enough', async () => {
  if (!canMount('--merge-adapter saves once into a new directory: room for one model is enough')) return;
  const adapter = out('merge-adapter');
  assertOk(await run('train', ['--init', ckpt, '--lora', '2', '--data', chat, '--block-size', '32', '--batch-size', '2', '--steps', '1', '--out', adapter]), 'a LoRA run');
  const disk = out('merge-disk');
  mkdirSync(disk);
  // the merged model is about 14 MB: 20 MB hold it once, not twice
  const r = await run('train', ['--merge-adapter', adapter, '--out', join(disk, 'merged')], '', {
    mounts: `mount -t tmpfs -o size=20m tmpfs '${disk}'`, after: `ls '${disk}/merged'`,
  });
  assertOk(r, 'merge on a 20 MB disk');
  assert.match(r.stdout, /model\.safetensors/);
});

t('--merge-adapter on a disk that fills up mid-save leaves nothing half-made and says so', async () => {
  if (!canMount('--merge-adapter on a disk that fills up mid-save leaves nothing half-made and says so')) return;
  const adapter = out('merge-adapter'); // the previous test's
  const disk = out('merge-full');
  mkdirSync(disk, { recursive: true });
  // a tmpfs with few inodes runs out of them at a set point of the save: writing model.safetensors
  // (4: the disk, --out, .lock, .saving), marking the save complete (6); 'mkdir' keeps a --out the user made
  for (const [inodes, mkdir, failsAt, left] of [
    [4, '', /writing .*merged\/\.saving\/model\.safetensors/, /merged, which this merge created, is removed again$/],
    [6, '', /writing .*merged;/, /merged, which this merge created, is removed again$/],
    [5, `&& mkdir '${disk}/merged'`, /writing .*merged\/\.saving\/model\.safetensors/, /nothing of the merge is left in .*merged$/],
  ] as const) {
    const r = await run('train', ['--merge-adapter', adapter, '--out', join(disk, 'merged')], '', {
      mounts: `mount -t tmpfs -o size=40m,nr_inodes=${inodes} tmpfs '${disk}' ${mkdir}`, after: `echo; echo left:; find '${disk}' -mindepth 1`,
    });
    assertOneLineError(r, [/could not save the model: no space left on device \(ENOSPC\)/, failsAt, left], `${inodes} inodes`);
    assert.equal(r.stdout.split('left:\n')[1].trim(), mkdir ? join(disk, 'merged') : '', `${inodes} inodes: what is left on the disk`);
  }
});

t('--merge-adapter: Ctrl-C during the save lets it finish: a complete model, no .saving/ or .lock left (the default exit left both)', async () => {
  const adapter = out('merge-adapter'); // the tests above make it where they can mount a disk
  if (!existsSync(join(adapter, 'adapter_config.json'))) {
    assertOk(await run('train', ['--init', ckpt, '--lora', '2', '--data', chat, '--block-size', '32', '--batch-size', '2', '--steps', '1', '--out', adapter]), 'a LoRA run');
  }
  const merged = out('merge-signal');
  const p = start('train', ['--merge-adapter', adapter, '--out', merged]);
  await waitForStdout(p, /^merged: /m); // printed just before the save, which is synchronous
  p.child.kill('SIGINT');
  const r = await p.done;
  assertOk(r, 'a merge interrupted during its save');
  assert.equal(readdirSync(merged).sort(), ['config.json', 'model.safetensors']);
});

t('a failed save that is not a file-system error (here a missing tensor) leaves no partial save, and its new --out is removed', () => {
  const d = join(dir, 'bad-save', 'out');
  const ckpt = new Checkpointer(d);
  ckpt.open();
  assert.throws(() => ckpt.saveModel(GPT2_124M, new Map()), /parameter 'wte\.weight' is missing/);
  assert.ok(ckpt.close(), 'the directory it made is removed');
  assert.not.ok(existsSync(join(dir, 'bad-save')));
});

t('a save whose partial .saving cannot be removed (a disk turned read-only mid-save) fails with the save\'s one-line error, not a raw EPERM/EROFS', () => {
  const name = 'a save whose partial .saving cannot be removed';
  const d = join(dir, 'stuck-save');
  const ckpt = new Checkpointer(d);
  ckpt.open();
  // the save before was cut short and its directory cannot be changed any more: chattr +i stands for a read-only disk (root ignores modes)
  mkdirSync(join(d, '.saving'));
  writeFileSync(join(d, '.saving', 'model.safetensors'), 'cut short');
  const immutable = (on: boolean) => spawnSync('chattr', [on ? '+i' : '-i', join(d, '.saving'), d], { encoding: 'utf8' });
  if (immutable(true).status !== 0) {
    ckpt.close();
    return skip('chattr +i is not available on the temporary directory', name);
  }
  try {
    assert.throws(() => ckpt.saveModel(GPT2_124M, new Map()), (e: unknown) => e instanceof UserError && /^could not save the model: .*\(EPERM\) writing .*stuck-save/.test(e.message));
  } finally {
    immutable(false);
    ckpt.close();
  }
});

t('a full disk: no room for two checkpoints is refused up front; a save that fails names the path, training goes on, the last checkpoint stays, the final error says what to do', async () => {
  if (!canMount('a full disk: no room for two checkpoints is refused up front; a save that fails names the path, training goes on, the last checkpoint stays, the final error says what to do')) return;
  const disk = out('disk');
  mkdirSync(disk);
  const d = join(disk, 'run');
  // no room, and room for one checkpoint (about 40 MB) but not for the second that a later save writes beside it
  const sizes = ['1m', '60m'];
  const refused = await Promise.all(sizes.map((size) => run('train', [...TINY, '--steps', '1', '--out', d], '', { mounts: `mount -t tmpfs -o size=${size} tmpfs '${disk}'` })));
  refused.forEach((r, i) => assertOneLineError(r, [/MB free, the saves need about 8\d MB \(a checkpoint is 4\d MB, and each save writes the new one beside the last/], `a ${sizes[i]} disk`));
  const p = start('train', [...TINY, '--steps', '6', '--save-interval', '1', '--out', d], {
    mounts: `mount -t tmpfs -o size=100m tmpfs '${disk}'`, after: `cp -r '${d}' '${out('disk-copy')}'`,
  });
  p.child.stdin!.end();
  await waitForStdout(p, /^step +2\//m); // the checkpoint of step 1 is saved; now the disk fills up
  spawnSync('nsenter', ['--mount', `--target=${p.child.pid}`, 'sh', '-c', `cat /dev/zero > '${disk}/fill'`]);
  const r = await p.done;
  const err = stderrLines(r.stderr);
  const kept = state(out('disk-copy')).step;
  assert.ok(kept >= 1 && err.length >= 2, r.stderr);
  for (const l of err.slice(0, -1)) {
    assert.match(l, new RegExp(`^warning: could not save the checkpoint of step \\d+: no space left on device \\(ENOSPC\\) writing .*/\\.saving/\\w+\\.safetensors; the checkpoint of step ${kept} .* is intact; training goes on`));
  }
  assertOneLineError({ ...r, stderr: err.at(-1)! }, [
    /could not save the checkpoint of step 6: no space left on device \(ENOSPC\) writing \//,
    new RegExp(`the checkpoint of step ${kept} in .* is intact; free some space, then continue from it: node dist/train\\.js --resume --out ${d}$`),
  ], 'final save on a full disk');
  assert.equal(progress(r.stdout).map((l) => l.step), [1, 2, 3, 4, 5, 6], 'training went on after the failed save');
  assert.not.ok(existsSync(join(out('disk-copy'), '.saving')), 'the partial save was removed');
});

t('--log on a full disk warns once and training goes on to its checkpoint; a --log that cannot be a file is refused up front', async () => {
  const bad = [[join(dir, 'no-such-dir', 'log.jsonl'), /^error: --log .*no-such-dir\/log\.jsonl: no such directory/], [dir, /^error: --log .*: is a directory/]] as const;
  const refused = await Promise.all(bad.map(([log]) => run('train', [...TINY, '--steps', '1', '--log', log, '--out', out('bad-log')])));
  bad.forEach(([log, re], i) => {
    assertOneLineError(refused[i], [re], `--log ${log}`);
    assert.not.match(refused[i].stdout, /^data: /m, `--log ${log}: refused before the data loads`);
  });
  if (!canMount('--log on a full disk warns once and training goes on (its full-disk part)')) return;
  const full = out('full-log');
  mkdirSync(full);
  const d = out('full-log-run');
  const r = await run('train', [...TINY, '--steps', '3', '--save-interval', '2', '--log', join(full, 'log.jsonl'), '--out', d], '', {
    mounts: `mount -t tmpfs -o size=4k tmpfs '${full}' && head -c 4096 /dev/zero > '${full}/fill'`,
  });
  assertOk(r, 'a run whose --log fills the disk');
  const warnings = stderrLines(r.stderr);
  assert.is(warnings.length, 1, r.stderr);
  assert.match(warnings[0], /^warning: --log .*log\.jsonl: no space left on device \(ENOSPC\); step 1 and later steps are not logged; training and checkpoints go on$/);
  assert.equal(progress(r.stdout).map((l) => l.step), [1, 2, 3]);
  assert.is(state(d).step, 3, 'the final checkpoint was saved');
});

t('a disk that turns read-only mid-run: the saves say read-only (not ENOENT), and the final error is the failed save, not the lock\'s unlink', async () => {
  if (!canMount('a disk that turns read-only mid-run: the saves say read-only (not ENOENT), and the final error is the failed save, not the lock\'s unlink')) return;
  const disk = out('ro-later');
  mkdirSync(disk);
  const d = join(disk, 'run');
  const p = start('train', [...TINY, '--steps', '1000', '--save-interval', '1', '--out', d], { mounts: `mount -t tmpfs -o size=200m tmpfs '${disk}'` });
  p.child.stdin!.end();
  await waitForStdout(p, /^step +2\//m); // the checkpoint of step 1 is saved
  // the trainer is the namespace's process itself (unshare and sh exec it)
  const ro = spawnSync('nsenter', ['--mount', `--target=${p.child.pid}`, 'mount', '-o', 'remount,ro', disk], { encoding: 'utf8' });
  assert.is(ro.status, 0, ro.stderr);
  const at = progress(p.stdout()).at(-1)!.step;
  await waitForStdout(p, new RegExp(`^step +${at + 2}/`, 'm')); // an interval save came between
  p.child.kill('SIGTERM');
  const r = await p.done;
  const lines = stderrLines(r.stderr);
  assert.ok(lines.length >= 2, r.stderr);
  for (const l of lines.slice(0, -1)) assert.match(l, /^warning: could not save the checkpoint of step \d+: read-only file system \(EROFS\) writing .*; the checkpoint of step \d+ .* is intact; training goes on/);
  assertOneLineError({ ...r, stderr: lines.at(-1)! }, [/^error: could not save the checkpoint of step \d+: read-only file system \(EROFS\)/, /the checkpoint of step \d+ in .* is intact; make .*ro-later\/run writable, then continue from it: node dist\/train\.js --resume --out /], 'the final save');
});

// ---- 4. signals ----

for (const sig of ['SIGTERM', 'SIGHUP'] as const) {
  t(`${sig} finishes the step and saves a checkpoint, as Ctrl-C does`, async () => {
    const d = out(sig);
    const p = start('train', [...TINY, '--steps', '1000', '--out', d]);
    p.child.stdin!.end();
    await waitForStdout(p, /^step +1\//m);
    p.child.kill(sig);
    const r = await p.done;
    assertOk(r, sig);
    assert.match(r.stdout, new RegExp(`${sig}: finishing this step and saving a checkpoint`));
    const last = progress(r.stdout).at(-1)!.step;
    assert.match(r.stdout, new RegExp(`^saved checkpoint at step ${last} to `, 'm'));
    assert.is(state(d).step, last);
  });
}

// ---- 5. --resume ----

t('--resume keeps every setting (save and eval intervals, eval steps, log) and finds relative data from another directory', async () => {
  const d = out('keep');
  const log = 'keep.jsonl'; // relative, like the data: both resolved where the run started
  const flags = [...MODEL, '--data', 'chat.txt', '--steps', '2', '--save-interval', '1', '--eval-interval', '2', '--eval-steps', '1', '--log', log, '--out', d];
  assertOk(await run('train', flags, '', { cwd: dir }), 'first part');
  const p = start('train', ['--resume', '--out', d, '--steps', '1000']); // from the repository root
  p.child.stdin!.end();
  await waitForStdout(p, /^step +5\//m);
  p.child.kill('SIGKILL'); // no save on the way out: what is on disk is what the intervals wrote
  const r = await p.done;
  const valSteps = progress(r.stdout).filter((l) => l.val !== undefined).map((l) => l.step);
  assert.ok(valSteps.includes(4) && valSteps.every((s) => s % 2 === 0), `validation every 2 steps:\n${r.stdout}`);
  assert.ok(state(d).step >= 4, `a checkpoint every step (at step ${state(d).step} after step 5 was printed)`);
  assert.equal(state(d).options.evalSteps, 1);
  const logged = readFileSync(join(dir, log), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  assert.equal(logged.slice(0, 4), [1, 2, 3, 4], 'the same --log, appended');
});

t('--resume says when the data file has changed since the last save, and only then', async () => {
  const d = out('data-changed'), data = join(dir, 'changing.txt');
  writeFileSync(data, readFileSync(chat, 'utf8'));
  assertOk(await run('train', [...MODEL, '--data', data, '--steps', '1', '--out', d]), 'first part');
  assert.match(state(d).dataFingerprint, /^[0-9a-f]{16}$/);
  const same = await run('train', ['--resume', '--out', d, '--steps', '2']);
  assertOk(same, 'same data');
  assert.not.match(same.stderr, /has changed/);
  writeFileSync(data, readFileSync(chat, 'utf8').replace(/Bot: /, 'Bot: Well, '));
  const changed = await run('train', ['--resume', '--out', d, '--steps', '3']);
  assertOk(changed, 'changed data');
  assert.match(changed.stderr, /^warning: .*changing\.txt has changed since this run's last save \(its size or content differ\): training goes on with the new data/m);
  // gone: the message says where the path came from and how to go on
  rmSync(data);
  assertOneLineError(await run('train', ['--resume', '--out', d, '--steps', '4']), [/^error: --resume: the run's data .*changing\.txt \(from train_state\.json\) is not there any more: put it back, or pass --data FILE/], 'data gone');
  const other = await run('train', ['--resume', '--out', d, '--steps', '4', '--data', chat]);
  assertOk(other, 'resumed on another file');
  assert.not.match(other.stderr, /has changed/, 'another file given on purpose is not the run\'s file changed');
});

t('--resume after kill -9 drops the log entries past the checkpoint (and a line cut short), so each step is logged once', async () => {
  const d = out('log-resume');
  mkdirSync(d);
  for (const f of readdirSync(ckpt)) if (!f.startsWith('.')) copyFileSync(join(ckpt, f), join(d, f));
  // what a run killed after step 5 leaves beside its checkpoint of step 2
  const log = file('log-resume.jsonl', [1, 2, 3, 4, 5].map((step) => JSON.stringify({ step, loss: 10 }) + '\n').join('') + '{"step": 6, "lo');
  assertOk(await run('train', ['--resume', '--out', d, '--steps', '4', '--log', log]), 'resume');
  const steps = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).step);
  assert.equal(steps, [1, 2, 3, 4]);
});

t('a new run whose --log holds another run\'s steps is refused (it was emptied without a word); --overwrite starts it afresh', async () => {
  const earlier = [1, 2, 3].map((step) => JSON.stringify({ step, loss: 10 }) + '\n').join('');
  const log = file('other-run.jsonl', earlier);
  const refused = await run('train', [...TINY, '--steps', '1', '--out', out('other-log'), '--log', log]);
  assertOneLineError(refused, [/--log .*other-run\.jsonl already holds 3 steps of an earlier run/, /--overwrite/], 'a second run into the log');
  assert.is(readFileSync(log, 'utf8'), earlier, 'the earlier run\'s log is kept');
  // --out holds no checkpoint (a run killed before its first save): --resume would be refused too
  assert.not.match(refused.stderr, /--resume/, 'no --resume advice: --out has nothing to resume');
  assertOk(await run('train', [...TINY, '--steps', '1', '--out', out('other-log'), '--log', log, '--overwrite']), '--overwrite');
  assert.equal(readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l).step), [1]);
  // an empty file (touch) is no run's log
  const empty = file('empty-log.jsonl', '');
  assertOk(await run('train', [...TINY, '--steps', '1', '--out', out('empty-log'), '--log', empty]), 'an empty --log');
});

t('--resume whose log cannot be rewritten (a full disk) warns and leaves the log as it was', async () => {
  if (!canMount('--resume whose log cannot be rewritten (a full disk) warns and leaves the log as it was')) return;
  const d = out('log-resume-full');
  mkdirSync(d);
  for (const f of readdirSync(ckpt)) if (!f.startsWith('.')) copyFileSync(join(ckpt, f), join(d, f));
  const disk = out('log-disk');
  mkdirSync(disk);
  const text = [1, 2, 3, 4, 5].map((step) => JSON.stringify({ step }) + '\n').join('');
  const r = await run('train', ['--resume', '--out', d, '--steps', '3', '--log', join(disk, 'log.jsonl')], '', {
    mounts: `mount -t tmpfs -o size=8k tmpfs '${disk}' && printf '${text.replace(/\n/g, '\\n')}' > '${disk}/log.jsonl' && (cat /dev/zero > '${disk}/fill' 2>/dev/null; true)`,
    after: `cp '${disk}/log.jsonl' '${out('log-resume-full.jsonl')}'`,
  });
  assertOk(r, 'resume');
  assert.match(stderrLines(r.stderr).join('\n'), /^warning: --log .*log\.jsonl: no space left on device \(ENOSPC\); no step of this session is logged/m);
  assert.is(readFileSync(out('log-resume-full.jsonl'), 'utf8'), text, 'the log is left as it was');
});

t('--resume whose saved --log directory is gone says the path is the run\'s, from train_state.json', async () => {
  const d = out('log-gone'), logs = join(dir, 'logs-gone');
  mkdirSync(logs);
  assertOk(await run('train', [...TINY, '--steps', '1', '--out', d, '--log', join(logs, 'l.jsonl')]), 'first part');
  rmSync(logs, { recursive: true });
  assertOneLineError(await run('train', ['--resume', '--out', d, '--steps', '2']), [/^error: --log .*l\.jsonl \(the run's, from train_state\.json\): .*; or --log '' to go on without a log$/], 'log directory gone');
  // --log '' stops the run's log (resolve('') was the current directory: "is a directory")
  const stopped = await run('train', ['--resume', '--out', d, '--steps', '2', '--log', '']);
  assertOk(stopped, "--resume --log ''");
  assert.match(stopped.stdout, /^--log '': the run's step log .*l\.jsonl is no longer written/m);
  assert.is(state(d).options.log, undefined);
  assertOk(await run('train', ['--resume', '--out', d, '--steps', '3']), 'then without a log');
  // a new run's empty --log is a mistake, said as one
  assertOneLineError(await run('train', [...TINY, '--steps', '1', '--out', out('empty-log-flag'), '--log', '']), [/^error: --log is empty: pass a file/], "a new run's --log ''");
});

t('--resume refuses a missing optimizer.safetensors or train_state.json; --reset-optimizer resumes without the moments', async () => {
  const copy = (name: string, drop: string) => {
    const d = out(name);
    mkdirSync(d);
    for (const f of readdirSync(ckpt)) if (f !== drop && !f.startsWith('.')) copyFileSync(join(ckpt, f), join(d, f));
    return d;
  };
  const noOpt = copy('no-opt', 'optimizer.safetensors');
  assertOneLineError(await run('train', ['--resume', '--out', noOpt, '--steps', '4']), [/optimizer\.safetensors is missing/, /--reset-optimizer/], 'no optimizer file');
  assert.is(state(noOpt).step, 2, 'the checkpoint is left alone');
  const reset = await run('train', ['--resume', '--reset-optimizer', '--out', noOpt, '--steps', '3']);
  assertOk(reset, '--reset-optimizer');
  assert.match(reset.stdout, /warning: --reset-optimizer/);
  assert.is(state(noOpt).step, 3);
  const noState = copy('no-state', 'train_state.json');
  assertOneLineError(await run('train', ['--resume', '--out', noState, '--steps', '4']), [/train_state\.json is missing/, new RegExp(`--init ${noState}`)], 'no train_state.json');
});

t('--resume refuses an optimizer.safetensors of another model (other names, other sizes) in one line suggesting --reset-optimizer', async () => {
  const f = readSafetensors(join(ckpt, 'optimizer.safetensors'));
  const cases = [
    ['other-names', (n: string) => n.replace('h.0.', 'h.7.'), 1, /optimizer\.safetensors does not belong to this model \(it has no moments for 'h\.0\.ln_1\.weight'/],
    ['other-sizes', (n: string) => n, 2, /optimizer\.safetensors does not belong to this model \(its moments of 'wte\.weight' have \d+ values, the parameter \d+/],
  ] as const;
  const results = await Promise.all(cases.map(([name, rename, times]) => {
    const d = out(`opt-${name}`);
    mkdirSync(d);
    for (const file of ['config.json', 'model.safetensors', 'train_state.json']) copyFileSync(join(ckpt, file), join(d, file));
    writeSafetensors(join(d, 'optimizer.safetensors'), f.names.map((n) => {
      const a = f.get(n), big = n.endsWith('wte.weight') ? times : 1;
      const data = new Float32Array(a.length * big);
      for (let i = 0; i < big; i++) data.set(a, i * a.length);
      return { name: rename(n), shape: [data.length], data };
    }), f.metadata);
    return run('train', ['--resume', '--out', d, '--steps', '3']);
  }));
  cases.forEach(([name, , , re], i) => assertOneLineError(results[i], [re, /--reset-optimizer/], name));
});

t('train_state.json that is null, has a non-numeric step or no options: a named error', async () => {
  const cases = [
    ['null', /train_state\.json: not a JSON object/], ['{"step": "abc"}', /train_state\.json: field 'step' must be a whole number/],
    ['{"step": 1}', /train_state\.json: no 'options' .* the run's settings .* are unknown and --resume cannot continue it; start a new run from its weights with --init DIR --out NEW$/],
  ] as const;
  const results = await Promise.all(cases.map(([text]) => {
    const d = out(`state-${text.length}`);
    mkdirSync(d);
    for (const f of ['config.json', 'model.safetensors', 'optimizer.safetensors']) copyFileSync(join(ckpt, f), join(d, f));
    writeFileSync(join(d, 'train_state.json'), text);
    return run('train', ['--resume', '--out', d, '--steps', '4']);
  }));
  cases.forEach(([text, re], i) => assertOneLineError(results[i], [re], `train_state ${text}`));
});

t("train_state.json of a train.js before 2026-11-25 (its few settings at the top level, no 'options'): resumed with them, and told so", async () => {
  const d = out('state-early');
  mkdirSync(d);
  for (const f of ['config.json', 'model.safetensors', 'optimizer.safetensors']) copyFileSync(join(ckpt, f), join(d, f));
  writeFileSync(join(d, 'train_state.json'), JSON.stringify({ step: 1, steps: 2, lr: 0.002, batchSize: 2 }));
  // its optimizer.safetensors cannot be matched to it (that check came later): --reset-optimizer
  const r = await run('train', ['--resume', '--reset-optimizer', '--out', d, '--data', chat, '--eval-interval', '0']);
  assertOk(r, 'an early train_state.json');
  assert.match(r.stdout, /^note: .*train_state\.json is from a train\.js before 2026-11-25, which kept only --steps, --lr, --batch-size: every other setting .* is this version's default unless given again$/m);
  assert.match(r.stdout, /^step +2\/2 .*lr 2\.00e-3/m); // its --steps and --lr
});

// ---- 6. readers finish an interrupted save ----

t('chat.js rolls forward a save that was complete but not yet moved into place', async () => {
  const d = out('half-moved');
  mkdirSync(join(d, '.saving'), { recursive: true });
  for (const f of ['config.json', 'train_state.json']) copyFileSync(join(ckpt, f), join(d, f));
  for (const f of ['model.safetensors', 'optimizer.safetensors']) copyFileSync(join(ckpt, f), join(d, '.saving', f));
  writeFileSync(join(d, '.saving', 'COMPLETE'), '');
  const r = await run('chat', ['--init', d, '--prompt', 'Hi', '--max-new-tokens', '2']);
  assertOk(r, 'chat on an interrupted save');
  assert.ok(existsSync(join(d, 'model.safetensors')) && !existsSync(join(d, '.saving')), 'the save was finished');
});

t('a new run never replaces a checkpoint unasked: a save still in .saving/ counts, weights without train_state.json are not offered to --resume, --init = --out is named', async () => {
  const d = out('staged-only');
  mkdirSync(join(d, '.saving'), { recursive: true });
  for (const f of ['config.json', 'train_state.json', 'model.safetensors', 'optimizer.safetensors']) copyFileSync(join(ckpt, f), join(d, '.saving', f));
  writeFileSync(join(d, '.saving', 'COMPLETE'), '');
  assertOneLineError(await run('train', [...TINY, '--steps', '1', '--out', d]), [/already holds a checkpoint \(step 2 of a run\): continue it with --resume/], 'a save not yet moved into place');
  assert.is(state(d).step, 2, 'rolled forward, not replaced');

  const bare = out('bare-model');
  mkdirSync(bare);
  for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(ckpt, f), join(bare, f));
  const r = await run('train', [...TINY, '--steps', '1', '--out', bare]);
  assertOneLineError(r, [/already holds a checkpoint \(a model\): train into another --out, or pass --overwrite/], 'weights alone');
  assert.not.match(r.stderr, /--resume/, 'nothing to resume there');
  assertOneLineError(await run('train', ['--data', chat, '--block-size', '32', '--batch-size', '2', '--init', bare, '--steps', '1', '--out', bare]),
    [/--init and --out are the same directory/, /--overwrite/], '--init = --out');
  assertOk(await run('train', ['--data', chat, '--block-size', '32', '--batch-size', '2', '--init', bare, '--steps', '1', '--out', bare, '--overwrite']), '--overwrite');
  assert.is(state(bare).step, 1);
});

// ---- 7. named errors ----

t('model.safetensors that is a directory: the path and the reason', async () => {
  const d = out('dir-weights');
  mkdirSync(join(d, 'model.safetensors'), { recursive: true });
  copyFileSync(join(ckpt, 'config.json'), join(d, 'config.json'));
  assertOneLineError(await run('chat', ['--init', d, '--prompt', 'hi']), [/dir-weights\/model\.safetensors: is a directory/], 'EISDIR');
});

t('safetensors with overlapping data offsets are refused', () => {
  const p = join(dir, 'overlap.safetensors');
  writeSafetensors(p, [{ name: 'a', shape: [4], data: new Float32Array(4) }, { name: 'b', shape: [4], data: new Float32Array(4) }]);
  const buf = readFileSync(p);
  const n = Number(buf.readBigUInt64LE(0));
  const header = buf.subarray(8, 8 + n).toString().replace('"data_offsets":[16,32]', '"data_offsets":[8,24] ');
  assert.is(header.length, n);
  writeFileSync(p, Buffer.concat([buf.subarray(0, 8), Buffer.from(header), buf.subarray(8 + n)]));
  assert.throws(() => readSafetensors(p), (e: Error) => e instanceof UserError && /tensors 'a' \[0, 16\] and 'b' \[8, 24\] have overlapping data_offsets/.test(e.message));
});

t('a safetensors reader keeps reading the file it opened when a new save is renamed over its path mid-load', () => {
  const p = join(dir, 'moving.safetensors'), next = join(dir, 'moving.next');
  const tensors = (v: number) => ['a', 'b'].map((name) => ({ name, shape: [4], data: new Float32Array(4).fill(v) }));
  writeSafetensors(p, tensors(1));
  const f = readSafetensors(p);
  try {
    assert.equal([...f.get('a')], [1, 1, 1, 1]);
    writeSafetensors(next, tensors(2));
    renameSync(next, p); // as commitCheckpoint moves a new save into place
    assert.equal([...f.get('b')], [1, 1, 1, 1], 'a tensor of the file whose header was read, not of the new one');
  } finally {
    f.close();
  }
});

t('weights with NaN load with a warning naming the tensor', async () => {
  const d = out('nan-weights');
  mkdirSync(d);
  copyFileSync(join(ckpt, 'config.json'), join(d, 'config.json'));
  const f = readSafetensors(join(ckpt, 'model.safetensors'));
  writeSafetensors(join(d, 'model.safetensors'), f.names.map((name) => {
    const data = f.get(name);
    if (name === 'h.0.ln_2.bias') data[3] = NaN;
    return { name, shape: f.info(name).shape, data };
  }));
  const r = await run('chat', ['--init', d, '--prompt', 'hi', '--max-new-tokens', '1', '--quiet']);
  assert.match(stderrLines(r.stderr).join('\n'), /^warning: .*model\.safetensors: non-finite values \(NaN or Infinity\) in 'h\.0\.ln_2\.bias' \(1 of 64\)/m);
});

t('a model whose vocab_size is below the GPT-2 tokenizer\'s is refused at load by chat.js, eval.js and serve.js, not at the first message', async () => {
  const d = out('vocab100');
  const config = { ...GPT2_124M, n_layer: 1, n_head: 2, n_embd: 32, n_positions: 64, vocab_size: 100 };
  saveGPT2Weights(d, config, GPT2.initArrays(config, 1));
  const serve = start('serve', ['--init', d, '--port', '0'], { timeoutMs: 60_000 });
  serve.child.stdin!.end();
  const results = await Promise.all([
    run('chat', ['--init', d, '--prompt', 'Hi there', '--max-new-tokens', '1']),
    run('eval', ['--init', d, '--data', chat, '--limit', '1']),
    serve.done,
  ]);
  ['chat.js', 'eval.js', 'serve.js'].forEach((what, i) =>
    assertOneLineError(results[i], [/vocab100\/config\.json: vocab_size 100 is smaller than the GPT-2 tokenizer's 50257 tokens/], what));
});

t('a config.json with n_layer 1e9 is refused before anything is allocated', async () => {
  const d = out('huge');
  mkdirSync(d);
  copyFileSync(join(ckpt, 'model.safetensors'), join(d, 'model.safetensors'));
  writeFileSync(join(d, 'config.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(ckpt, 'config.json'), 'utf8')), n_layer: 1e9 }));
  const r = await run('chat', ['--init', d, '--prompt', 'hi'], '', { timeoutMs: 20_000 });
  assertOneLineError(r, [/config\.json: a GPT-2 with n_layer 1000000000/, /more than this machine's [\d.]+ GB of memory/], 'n_layer 1e9');
});

t('--n-embd and --n-head: at least 1, and a head size that is a multiple of 4 (config.json too)', async () => {
  const d = out('head15');
  mkdirSync(d);
  copyFileSync(join(ckpt, 'model.safetensors'), join(d, 'model.safetensors'));
  writeFileSync(join(d, 'config.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(ckpt, 'config.json'), 'utf8')), n_embd: 60, n_head: 4 }));
  const [zero, thirty, config] = await Promise.all([
    run('train', [...TINY, '--n-embd', '0', '--out', out('n0')]),
    run('train', [...TINY, '--n-embd', '30', '--n-head', '2', '--out', out('n30')]),
    run('chat', ['--init', d, '--prompt', 'hi']),
  ]);
  assertOneLineError(zero, [/--n-embd must be a whole number of at least 1, got 0/], '--n-embd 0');
  assertOneLineError(thirty, [/--n-embd 30 --n-head 2: head size n_embd\/n_head = 30\/2 = 15 is not a multiple of 4/], '--n-embd 30');
  assertOneLineError(config, [/head15\/config\.json: head size n_embd\/n_head = 60\/4 = 15 is not a multiple of 4/], 'config.json head size 15');
});

t('--batch-size 1e9 is checked against the adapter and names the flag to lower', async () => {
  const r = await run('train', [...TINY, '--batch-size', '1e9', '--out', out('huge-batch')]);
  assertOneLineError(r, [/--batch-size 1000000000 x --block-size 32 needs an activation buffer of .* GB/, /lower --batch-size to \d+ or less/], '--batch-size 1e9');
});

t('chat and eval output to a full device is one line, not a stack trace', async () => {
  const fd = openSync('/dev/full', 'w');
  try {
    const [chatRun, evalRun] = await Promise.all([
      run('chat', ['--init', ckpt, '--prompt', 'hi', '--max-new-tokens', '2', '--quiet'], '', { stdoutFd: fd }),
      run('eval', ['--init', ckpt, '--data', chat, '--limit', '1', '--max-new-tokens', '2'], '', { stdoutFd: fd }),
    ]);
    assertOneLineError(chatRun, [/cannot write to stdout: no space left on device \(ENOSPC\)/], 'chat > /dev/full');
    // eval.js's progress lines come first on stderr
    assertOneLineError({ ...evalRun, stderr: evalRun.stderr.replace(/^eval: .*\n/gm, '') }, [/cannot write to stdout: no space left on device \(ENOSPC\)/], 'eval > /dev/full');
  } finally {
    closeSync(fd);
  }
});

t('an odd-length .bin token file is refused, not truncated', async () => {
  const bin = file('odd.bin', new Uint8Array(201));
  assertOneLineError(await run('train', [...MODEL, '--data', bin, '--out', out('odd')]), [/odd\.bin: 201 bytes of token data, an odd number/], 'odd .bin');
});

t("--human '' is refused by train.js as by chat.js", async () => {
  const [train, chatRun] = await Promise.all([run('train', ['--human', '', ...TINY, '--out', out('human')]), run('chat', ['--human', '', '--init', ckpt, '--prompt', 'hi'])]);
  assertOneLineError(train, [/--human must be a non-empty name/], "train --human ''");
  assertOneLineError(chatRun, [/--human must be a non-empty name/], "chat --human ''");
  // a flag's mistake before the weights (--init gpt2 would be a download first)
  const early = await run('train', ['--bot', 'Bot:', '--init', join(dir, 'no-such-model'), '--out', out('bot-colon')]);
  assertOneLineError(early, [/^error: --bot must be a non-empty name without ':' or newlines, got 'Bot:'$/], 'train --bot Bot: --init missing');
  // on --resume too (the pair waits for the run's tags, a tag alone does not), and a newline in it stays on the error's one line
  const [resumed, newline] = await Promise.all([
    run('train', ['--resume', '--bot', 'Bot:', '--out', out('no-such-run')]),
    run('train', ['--human', 'A\nB', ...TINY, '--out', out('human-newline')]),
  ]);
  assertOneLineError(resumed, [/^error: --bot must be a non-empty name without ':' or newlines, got 'Bot:'$/], 'train --resume --bot Bot: with no run');
  assertOneLineError(newline, [/^error: --human must be a non-empty name without ':' or newlines, got 'A\\nB'$/], 'train --human with a newline');
});

t("chat.js on a train_state.json whose tags are no pair (the same one twice) prompts with Human/Bot, as for a bad tag: no error about flags not given", async () => {
  const d = out('same-tags');
  mkdirSync(d);
  for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(ckpt, f), join(d, f));
  const state = JSON.parse(readFileSync(join(ckpt, 'train_state.json'), 'utf8'));
  writeFileSync(join(d, 'train_state.json'), JSON.stringify({ ...state, options: { ...state.options, human: 'Bot', bot: ' Bot' } }));
  assertOk(await run('chat', ['--init', d, '--prompt', 'hi', '--max-new-tokens', '1']), 'chat with the same tag twice in train_state.json');
  // flags given still win, and are checked as given
  assertOneLineError(await run('chat', ['--init', d, '--human', 'Bot', '--prompt', 'hi']), [/^error: --human\/--bot: the human and bot tags are both 'Bot'/], 'chat --human Bot');
});

t('chat.js --init scratch suggests what chat.js can load', async () => {
  const r = await run('chat', ['--init', 'scratch', '--prompt', 'hi']);
  assertOneLineError(r, [/--init scratch: no such directory/, /'gpt2'/], 'chat --init scratch');
  assert.not.match(r.stderr, /'scratch'/);
});

t.after(() => {
  rmSync(dir, { recursive: true, force: true });
});

t.run();
