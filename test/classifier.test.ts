// The fused classifier (tied lm_head + cross-entropy in row chunks, src/model/classifier.ts)
// through a whole training step of the tiny model: with more than 256 target rows it runs in
// chunks, as on every step of the default CPU run, and under a low binding limit in 64-row ones.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Gpu } from '../src/gpu/index.ts';
import { GPT2 } from '../src/model/gpt2.ts';
import { classifierChunkRows, targetRuns } from '../src/model/classifier.ts';
import { Rng } from '../src/util/rng.ts';
import { gpt2Cpu } from './gpt2_cpu.ts';
import { TINY, tinyArrays } from './fixtures.ts';
import { assertRel, gpu, kernelsRun, withBindingLimit } from './util.ts';

const t = suite('classifier');

t('chunk rows: all rows up to 256 when they fit, else a multiple of 64 that fits the binding', () => {
  assert.is(classifierChunkRows(7, 37, 1 << 30), 7);
  assert.is(classifierChunkRows(256, 50257, 1 << 30), 256);
  assert.is(classifierChunkRows(384, 37, 1 << 30), 256);
  assert.is(classifierChunkRows(300, 50257, 128 * 1024 * 1024), 256);
  assert.is(classifierChunkRows(300, 37, 100 * 37 * 4), 64);
  assert.throws(() => classifierChunkRows(100, 37, 63 * 37 * 4), /classifierLoss/);
  assert.equal(targetRuns(Int32Array.from([-1, 3, 4, -1, -1, 0, 1])), [[1, 3], [5, 7]]);
});

/** One step of the tiny model on B x 16 tokens (every 5th target ignored): loss and every gradient vs the CPU reference; returns the cross-entropy dispatches. */
async function stepMatchesReference(g: Gpu, B: number, seed: number): Promise<number> {
  const T = TINY.n_positions;
  const arrays = tinyArrays(TINY, seed);
  const model = GPT2.fromArrays(g, TINY, arrays);
  const rng = new Rng(seed + 1);
  const x = Uint32Array.from({ length: B * T }, () => rng.int(TINY.vocab_size));
  const y = Int32Array.from({ length: B * T }, (_, i) => (i % 5 === 3 ? -1 : rng.int(TINY.vocab_size)));
  const count = y.filter((v) => v >= 0).length;
  for (const p of model.params.values()) p.grad = g.zeros(p.shape, `d(${p.label})`);
  let losses = null as unknown as Awaited<ReturnType<typeof model.lossPerToken>>;
  const used = await kernelsRun(g, () => {
    losses = model.lossPerToken(x, y, B, T, 1 / count);
    model.tape.backward();
  });
  const l = await losses.read();
  model.tape.clear();
  const ref = gpt2Cpu(TINY, arrays, x, B, T, y);
  const loss = l.reduce((s, v) => s + v, 0) / count;
  assert.ok(Math.abs(loss - ref.loss!) < 1e-5 * Math.abs(ref.loss!), `loss ${loss} vs ${ref.loss}`);
  for (const [name, p] of model.params) assertRel(await p.grad!.read(), ref.grads!.get(name)!, 1e-4, `grad ${name}`);
  for (const p of model.params.values()) p.release();
  return used.get('crossentropy_forward_backward.main') ?? 0;
}

t('more than 256 target rows: the loss and every gradient match the reference, in 256-row chunks', async () => {
  const g = await gpu();
  // 24 x 16 rows, 308 with a target: chunks of 256 and 52
  assert.is(await stepMatchesReference(g, 24, 11), 2, 'cross-entropy chunks');
});

t('a low binding limit: 64-row chunks of logits (and every other op split too)', async () => {
  const g = await gpu();
  // room for 100 rows of 37 logits: 64-row chunks, 5 of them for 308 rows
  assert.is(await withBindingLimit(g, 100 * TINY.vocab_size * 4, () => stepMatchesReference(g, 24, 12)), 5, 'cross-entropy chunks');
});

t.run();
