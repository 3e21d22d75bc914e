// The GPU model against the CPU reference model: logits, loss and every parameter gradient.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GPT2 } from '../src/model/gpt2.ts';
import { gpt2Cpu } from '../src/model/gpt2_cpu.ts';
import type { GPT2Config } from '../src/model/config.ts';
import { assertRel, gpu } from './util.ts';
import { Rng } from '../src/util/rng.ts';
import { TINY, tinyArrays } from './fixtures.ts';

const t = suite('model');

function batch(c: GPT2Config, B: number, T: number, seed: number) {
  const rng = new Rng(seed);
  const x = Uint32Array.from({ length: B * T }, () => rng.int(c.vocab_size));
  const y = Int32Array.from({ length: B * T }, (_, i) => (i % 5 === 3 ? -1 : rng.int(c.vocab_size)));
  return { x, y };
}

t('logits match the CPU reference model (B=2, T=7 and T=1)', async () => {
  const g = await gpu();
  const arrays = tinyArrays(TINY, 1);
  const model = GPT2.fromArrays(g, TINY, arrays);
  for (const [B, T] of [[2, 7], [1, 1], [1, 16]]) {
    const { x } = batch(TINY, B, T, 2);
    const lt = model.logits(x, B, T);
    const got = await lt.read();
    lt.release();
    assertRel(got, gpt2Cpu(TINY, arrays, x, B, T).logits, 1e-4, `logits B=${B} T=${T}`);
  }
  for (const p of model.params.values()) p.release();
});

t('one training step: loss and every gradient match the CPU reference', async () => {
  const g = await gpu();
  const arrays = tinyArrays(TINY, 3);
  const model = GPT2.fromArrays(g, TINY, arrays);
  const B = 2, T = 9;
  const { x, y } = batch(TINY, B, T, 4);
  const count = y.filter((v) => v >= 0).length;
  for (const p of model.params.values()) p.grad = g.zeros(p.shape, `d(${p.label})`);
  const losses = model.lossPerToken(x, y, B, T, 1 / count);
  model.tape.backward();
  const l = await losses.read();
  model.tape.clear();
  const ref = gpt2Cpu(TINY, arrays, x, B, T, y);
  const loss = l.reduce((s, v) => s + v, 0) / count;
  assert.ok(Math.abs(loss - ref.loss!) < 1e-4 * Math.abs(ref.loss!), `loss ${loss} vs ${ref.loss}`);
  for (const [name, p] of model.params) {
    assertRel(await p.grad!.read(), ref.grads!.get(name)!, 1e-4, `grad ${name}`);
  }
  for (const p of model.params.values()) p.release();
});

t.run();
