// The page's Fine-tune (src/page/finetune.ts) in Node, on the tests' GPU device: the GPU
// memory a run takes comes back when it ends, also when it fails for want of memory; text it
// cannot train on is refused in words the page can show.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Gpu } from '../src/gpu/index.ts';
import type { GPT2Config } from '../src/model/config.ts';
import { GPT2 } from '../src/model/gpt2.ts';
import { finetune, FinetuneFailed, type FinetuneEngine } from '../src/page/finetune.ts';
import { DivergedError } from '../src/train/loop.ts';
import { UserError } from '../src/util/errors.ts';
import { SMALL_CHAT, tinyArrays } from './fixtures.ts';
import { gpu } from './util.ts';

const t = suite('finetune');
// GPT-2's vocabulary (the text is tokenized as the page's is), everything else tiny
const CONFIG: GPT2Config = { n_layer: 1, n_head: 2, n_embd: 16, n_positions: 32, vocab_size: 50257, layer_norm_epsilon: 1e-5 };
const REQUEST = { text: SMALL_CHAT, steps: 1, batchSize: 1, blockSize: 32 };
const HOOKS = { onStart: () => undefined, onStartVal: () => undefined, onStep: () => undefined, stopRequested: () => false };

/** the page's in-browser engine as a run sees it, on `g` */
function engineOn(g: Gpu): FinetuneEngine {
  const model = GPT2.fromArrays(g, CONFIG, tinyArrays(CONFIG, 5));
  return { gpu: g, model, config: CONFIG, session: { opts: { speakers: { human: 'Human', bot: 'Bot' } } }, weightsChanged: () => undefined };
}

t('a run gives back all the GPU memory it took: when it ends, and when any allocation before its first step fails (the copies of the weights, AdamW\'s moments)', async () => {
  const g = await gpu();
  const engine = engineOn(g);
  const live = g.pool.liveBytes;
  const taken = () => `${g.pool.liveBytes - live} bytes not given back`;
  try {
    await finetune(engine, REQUEST, HOOKS);
    assert.is(g.pool.liveBytes, live, `a finished run: ${taken()}`);
    // before its first step a run makes a copy of each weight, AdamW's two moments of each and its two clip buffers
    const before = 3 * engine.model.params.size + 2;
    for (let n = 1; n <= before; n++) {
      let made = 0;
      g.tensor = (...args) => {
        if (++made === n) throw new Error(`out of memory at allocation ${n}`);
        return Gpu.prototype.tensor.apply(g, args);
      };
      try {
        const err = await finetune(engine, REQUEST, HOOKS).then(() => null, (e: Error) => e);
        assert.is(err?.message, `out of memory at allocation ${n}`);
      } finally {
        delete (g as Partial<Gpu>).tensor; // Gpu.prototype's again
      }
      assert.is(g.pool.liveBytes, live, `allocation ${n} of ${before} failed: ${taken()}`);
    }
  } finally {
    for (const p of engine.model.params.values()) p.release();
  }
});

t('text with no Bot: lines is refused before the first step, and the advice names nothing the page lacks (train.js\'s --bot, --mask)', async () => {
  const g = await gpu();
  const engine = engineOn(g);
  try {
    let stepped = false;
    const err = await finetune(engine, { ...REQUEST, text: 'Human: hello\nHuman: how are you?\n\nHuman: and you?\n' }, { ...HOOKS, onStep: () => (stepped = true) }).then(() => null, (e: Error) => e);
    assert.ok(err instanceof UserError, `refused as the user's to fix: ${err}`);
    assert.not.ok(stepped);
    assert.match(err.message, /no Bot replies to learn from \(the loss covers only "Bot:" turns\); add "Bot:" lines, each with a reply to learn$/);
    assert.not.match(err.message, /--(?!data)/, 'a flag the page has no field for');
  } finally {
    for (const p of engine.model.params.values()) p.release();
  }
});

t('a run whose loss blows up but stays finite (learning rate 10) stops 10 steps after, not "Done": the weights are put back as after a NaN', async () => {
  const g = await gpu();
  const engine = engineOn(g);
  try {
    const before = await engine.model.readParams();
    const losses: number[] = [];
    const err = await finetune(engine, { ...REQUEST, steps: 30, lr: 10 }, { ...HOOKS, onStep: (r) => losses.push(r.loss) }).then(() => null, (e: Error) => e);
    assert.ok(err instanceof FinetuneFailed && err.restored, `failed and put back: ${err}`);
    assert.ok(err.error instanceof DivergedError, String(err.error));
    assert.is(err.error.step, 11);
    assert.is(losses.length, 11);
    assert.match(err.error.what, /^the loss blew up: at least \d+\.\d\d over the last 10 steps \(the run's first step: \d+\.\d\d; a uniform guess over the vocabulary: 10\.82\)$/);
    assert.ok(losses.every(Number.isFinite), `finite losses: ${losses}`);
    const after = await engine.model.readParams();
    for (const [name, a] of before) assert.equal(after.get(name), a, `${name} as before the run`);
  } finally {
    for (const p of engine.model.params.values()) p.release();
  }
});

t('a run shows the held-out loss before its first step; a Stop during that evaluation ends the run at once: no step trained, the weights as they were', async () => {
  const g = await gpu();
  const engine = engineOn(g);
  // thirty conversations: a tenth held out, several windows to evaluate
  const text = Array(10).fill(SMALL_CHAT).join('\n');
  try {
    const starts: number[] = [], steps: number[] = [];
    const done = await finetune(engine, { ...REQUEST, text }, { ...HOOKS, onStartVal: (r) => starts.push(r.val), onStep: (r) => steps.push(r.step) });
    assert.is(starts.length, 1, 'one step-0 held-out loss');
    assert.ok(Number.isFinite(starts[0]), String(starts[0]));
    assert.equal(done.result.valLosses[0], [0, starts[0]]);
    assert.equal(steps, [1]);

    const before = await engine.model.readParams();
    // Stop is pressed while the first held-out batch is scored (a loss without gradients)
    let stop = false, scored = 0, firstStep = false;
    const lossPerToken = engine.model.lossPerToken;
    engine.model.lossPerToken = function (...args) {
      if (args[4] === 0) {
        scored++;
        stop = true;
      }
      return lossPerToken.apply(this, args);
    };
    const stopped = await finetune(engine, { ...REQUEST, text }, { ...HOOKS, onStartVal: (r) => starts.push(r.val), onFirstStep: () => (firstStep = true), onStep: (r) => steps.push(r.step), stopRequested: () => stop });
    assert.is(scored, 1, 'the evaluation went on after Stop');
    assert.equal(steps, [1], 'a step was trained after Stop');
    assert.not.ok(firstStep);
    assert.is(starts.length, 1, 'a part-done evaluation was shown as the held-out loss');
    assert.ok(stopped.result.interrupted);
    assert.is(stopped.result.stepsRun, 0);
    assert.is(stopped.params, null);
    const after = await engine.model.readParams();
    for (const [name, a] of before) assert.equal(after.get(name), a, `${name} as before the run`);
  } finally {
    for (const p of engine.model.params.values()) p.release();
  }
});

t.run();
