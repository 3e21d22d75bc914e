// LoRA (issue 12): the dropout op, the LoRA-wrapped linear against a plain-loop reference (and
// that against float64 finite differences), the adapted model against the CPU reference model,
// frozen weights, and merging an adapter into the weights.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { dropout, dropoutCpu, dropoutKeep, mixSeed } from '../src/ops/dropout.ts';
import { linear } from '../src/nn.ts';
import { Tape } from '../src/tape.ts';
import { GPT2 } from '../src/model/gpt2.ts';
import { AdamW } from '../src/optim.ts';
import { trainStep } from '../src/train/step.ts';
import { checkLora, initLoraArrays, loraScale, loraShapes, loraSites, mergeLora, type LoraSettings } from '../src/model/lora.ts';
import { parameterShapes } from '../src/model/config.ts';
import { Rng } from '../src/util/rng.ts';
import { UserError } from '../src/util/errors.ts';
import { assertClose, assertRel, gpu, gradcheck, randn, randn64 } from './util.ts';
import { loraLinearBackwardCpu, loraLinearCpu, type LoraLinearCase } from './lora_cpu.ts';
import { gpt2Cpu } from './gpt2_cpu.ts';
import { TINY, tinyArrays } from './fixtures.ts';

const t = suite('lora');

// ---- dropout ----

t('dropout: the GPU mask and values equal the reference, across binding chunks, accumulating; p = 0 scales', async () => {
  const g = await gpu();
  const n = 5000;
  const xs = randn(n, 1), base = randn(n, 2);
  const x = g.fromArray(xs, [n], 'x'), out = g.tensor([n], 'out'), acc = g.fromArray(base, [n], 'acc');
  const saved = g.bindingLimit;
  try {
    for (const [p, seed, limit] of [[0.3, 12345, saved], [0.3, 12345, 4096], [0.9, 7, saved], [0, 0, saved]] as const) {
      g.bindingLimit = limit; // 4096 bytes: five dispatches, the mask must not depend on the split
      dropout(x, out, p, seed, 1.5);
      dropout(x, acc, p, seed, 1.5, true);
      const want = dropoutCpu(xs, p, seed, 1.5);
      const got = await out.read();
      for (let i = 0; i < n; i++) assert.is(got[i] === 0, p > 0 && !dropoutKeep(seed, i, p), `p=${p} element ${i}: kept or dropped as the reference`);
      assertClose(got, want, 1e-6, 0, `p=${p} limit=${limit}: values`);
      assertClose(await acc.read(), want.map((v, i) => v + base[i]), 1e-6, 1e-7, `p=${p}: accumulated`);
      acc.write(base);
    }
  } finally {
    g.bindingLimit = saved;
  }
  for (const z of [x, out, acc]) z.release();
});

t('dropout: about p of the elements are dropped, a new seed gives a new mask, the mean is kept', () => {
  const n = 100_000;
  for (const p of [0.05, 0.1, 0.5]) {
    let dropped = 0, other = 0, both = 0;
    for (let i = 0; i < n; i++) {
      const a = !dropoutKeep(11, i, p), b = !dropoutKeep(12, i, p);
      dropped += +a;
      other += +b;
      both += +(a && b);
    }
    const sd = Math.sqrt(n * p * (1 - p));
    assert.ok(Math.abs(dropped - n * p) < 5 * sd, `p=${p}: ${dropped} of ${n} dropped`);
    // independent masks overlap in about p² of the elements
    assert.ok(Math.abs(both - n * p * p) < 5 * Math.sqrt(n * p * p) + 1, `p=${p}: masks of two seeds share ${both} drops`);
    const mean = dropoutCpu(new Float64Array(n).fill(1), p, 11).reduce((s, v) => s + v, 0) / n;
    assert.ok(Math.abs(mean - 1) < 5 * Math.sqrt(p / (1 - p) / n), `p=${p}: mean ${mean}`);
  }
  assert.is.not(mixSeed(1, 2), mixSeed(2, 1));
  assert.is.not(mixSeed(1, 0), mixSeed(1, 1));
});

// ---- the LoRA-wrapped linear ----

function layerCase(M: number, K: number, N: number, r: number, p: number, seed: number): LoraLinearCase {
  return {
    M, K, N, r, p, seed: 999, scale: 2 / r,
    x: randn64(M * K, seed), W: randn64(K * N, seed + 1, 0.5), b: randn64(N, seed + 2), A: randn64(r * K, seed + 3, 0.5), B: randn64(N * r, seed + 4, 0.5),
  };
}

t('reference LoRA linear backward matches float64 finite differences (with and without dropout)', () => {
  for (const p of [0, 0.4]) {
    const c = layerCase(3, 5, 4, 2, p, 10);
    const dout = randn64(c.M * c.N, 20);
    const g = loraLinearBackwardCpu(c, dout);
    const f = ([x, W, b, A, B]: Float64Array[]) => loraLinearCpu({ ...c, x, W, b, A, B });
    gradcheck(f, [c.x, c.W, c.b, c.A, c.B] as Float64Array[], dout, [g.dx, g.dW, g.db, g.dA, g.dB], `lora linear p=${p}`);
  }
});

for (const [M, K, N, r, p] of [[7, 12, 20, 3, 0], [1, 16, 48, 8, 0], [33, 6, 10, 1, 0], [7, 12, 20, 3, 0.3], [64, 32, 96, 4, 0.1]] as const) {
  t(`LoRA linear on the GPU: output and gradients match the reference, frozen W and b get none (M=${M} K=${K} N=${N} r=${r} p=${p})`, async () => {
    const g = await gpu();
    const c = layerCase(M, K, N, r, p, 30 + M);
    const f32 = (a: ArrayLike<number>) => Float32Array.from(a);
    const tape = new Tape();
    const x = g.fromArray(f32(c.x), [M, K], 'x');
    tape.markParam(x); // kept after the backward, so its gradient can be read
    const W = g.fromArray(f32(c.W), [K, N], 'W'), b = g.fromArray(f32(c.b), [N], 'b');
    const A = g.fromArray(f32(c.A), [r, K], 'A'), B = g.fromArray(f32(c.B), [N, r], 'B');
    tape.freeze(W);
    tape.freeze(b);
    tape.markParam(A);
    tape.markParam(B);
    const out = linear(tape, x, W, b, M, K, N, 'lora', { A, B, r, scale: c.scale, dropout: p, seed: c.seed });
    const want = loraLinearCpu(c);
    assertRel(await out.read(), want, 1e-5, 'out');
    const dout = randn64(M * N, 40);
    out.grad = g.fromArray(f32(dout), [M, N], 'dout');
    tape.backward();
    const ref = loraLinearBackwardCpu(c, dout);
    assertRel(await x.grad!.read(), ref.dx, 1e-5, 'dx');
    assertRel(await A.grad!.read(), ref.dA, 1e-5, 'dA');
    assertRel(await B.grad!.read(), ref.dB, 1e-5, 'dB');
    assert.is(W.grad, null, 'frozen W has no gradient buffer');
    assert.is(b.grad, null, 'frozen b has no gradient buffer');
    assert.throws(() => tape.grad(W), /frozen/);
    tape.clear();
    for (const z of [x, W, b, A, B]) z.release();
  });
}

t('evaluation (tape off) uses no dropout: the output is the p = 0 one', async () => {
  const g = await gpu();
  const c = layerCase(5, 8, 12, 2, 0.5, 50);
  const f32 = (a: ArrayLike<number>) => Float32Array.from(a);
  const tape = new Tape();
  const [x, W, b, A, B] = [[c.x, [5, 8]], [c.W, [8, 12]], [c.b, [12]], [c.A, [2, 8]], [c.B, [12, 2]]].map(([a, s], i) =>
    g.fromArray(f32(a as Float64Array), s as number[], `t${i}`));
  const out = tape.noGrad(() => linear(tape, x, W, b, 5, 8, 12, 'lora', { A, B, r: 2, scale: c.scale, dropout: 0.5, seed: 3 }));
  assertRel(await out.read(), loraLinearCpu({ ...c, p: 0 }), 1e-5, 'out');
  tape.clear();
  for (const z of [x, W, b, A, B]) z.release();
});

t.run();
