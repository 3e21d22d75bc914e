// LoRA (issue 12): the dropout op, the LoRA-wrapped linear against a plain-loop reference (and
// that against float64 finite differences), the adapted model against the CPU reference model,
// frozen weights, and merging an adapter into the weights.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { dropout, dropoutCpu, dropoutKeep, mixSeed } from '../src/ops/dropout.ts';
import { linear } from '../src/nn.ts';
import type { Gpu } from '../src/gpu/index.ts';
import { Tape } from '../src/tape.ts';
import { GPT2, isF16Weight } from '../src/model/gpt2.ts';
import { roundF16 } from '../src/util/f16.ts';
import { AdamW } from '../src/optim.ts';
import { trainStep } from '../src/train/step.ts';
import { checkLora, initLoraArrays, loraScale, loraShapes, loraSites, mergeLora, type LoraSettings } from '../src/model/lora.ts';
import { parameterShapes } from '../src/model/config.ts';
import { Rng } from '../src/util/rng.ts';
import { UserError } from '../src/util/errors.ts';
import { assertClose, assertRel, fullLogits, gpu, gradcheck, maxRelErr, randn, randn64, withBindingLimit, withMatmulVariant } from './util.ts';
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
  const full = g.bindingLimit;
  for (const [p, seed, limit] of [[0.3, 12345, full], [0.3, 12345, 4096], [0.9, 7, full], [0, 0, full]] as const) {
    // 4096 bytes: five dispatches, the mask must not depend on the split
    await withBindingLimit(g, limit, () => {
      dropout(x, out, p, seed, 1.5);
      dropout(x, acc, p, seed, 1.5, true);
    });
    const want = dropoutCpu(xs, p, seed, 1.5);
    const got = await out.read();
    for (let i = 0; i < n; i++) assert.is(got[i] === 0, p > 0 && !dropoutKeep(seed, i, p), `p=${p} element ${i}: kept or dropped as the reference`);
    assertClose(got, want, 1e-6, 0, `p=${p} limit=${limit}: values`);
    assertClose(await acc.read(), want.map((v, i) => v + base[i]), 1e-6, 1e-7, `p=${p}: accumulated`);
    acc.write(base);
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

// both matmul kernel families: the CPU adapters' and the shared-memory one real GPUs use
const LAYER_CASES = [[7, 12, 20, 3, 0, 'cpu'], [1, 16, 48, 8, 0, 'cpu'], [33, 6, 10, 1, 0, 'cpu'], [7, 12, 20, 3, 0.3, 'cpu'], [64, 32, 96, 4, 0.1, 'cpu'],
  [33, 6, 10, 1, 0, 'tiled'], [64, 32, 96, 4, 0.1, 'tiled']] as const;
for (const [M, K, N, r, p, variant] of LAYER_CASES) {
  t(`LoRA linear on the GPU: output and gradients match the reference, frozen W and b get none (M=${M} K=${K} N=${N} r=${r} p=${p}, ${variant} matmul)`, async () => {
    const g = await gpu();
    await withMatmulVariant(variant, () => layerCheck(g, M, K, N, r, p));
  });
}

async function layerCheck(g: Gpu, M: number, K: number, N: number, r: number, p: number): Promise<void> {
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

// ---- targets and settings ----

t('targets match module names as PEFT does; bad settings are one-line UserErrors', () => {
  const names = (targets: string[]) => loraSites(TINY, targets).map((s) => s.name);
  assert.equal(names(['c_attn']), ['h.0.attn.c_attn', 'h.1.attn.c_attn']);
  assert.equal(names(['c_proj']), ['h.0.attn.c_proj', 'h.0.mlp.c_proj', 'h.1.attn.c_proj', 'h.1.mlp.c_proj'], "'c_proj' is both");
  assert.equal(names(['attn.c_proj']), ['h.0.attn.c_proj', 'h.1.attn.c_proj']);
  assert.equal(names(['c_fc', 'mlp.c_proj']), ['h.0.mlp.c_fc', 'h.0.mlp.c_proj', 'h.1.mlp.c_fc', 'h.1.mlp.c_proj']);
  assert.equal(names(['h.1.mlp.c_fc', 'transformer.h.0.attn.c_attn']), ['h.0.attn.c_attn', 'h.1.mlp.c_fc']);
  // PEFT's 'all-linear' (any case): every Linear/Conv1D but lm_head
  const every = ['h.0.attn.c_attn', 'h.0.attn.c_proj', 'h.0.mlp.c_fc', 'h.0.mlp.c_proj', 'h.1.attn.c_attn', 'h.1.attn.c_proj', 'h.1.mlp.c_fc', 'h.1.mlp.c_proj'];
  assert.equal(names(['all-linear']), every);
  assert.equal(names(['ALL-Linear']), every);
  const bad = (s: Partial<LoraSettings>, re: RegExp) => {
    const e = (() => {
      try {
        checkLora(TINY, { r: 4, alpha: 8, dropout: 0, targets: ['c_attn'], ...s });
      } catch (e) {
        return e;
      }
      assert.unreachable(`expected an error for ${JSON.stringify(s)}`);
    })();
    assert.instance(e, UserError);
    assert.match((e as Error).message, re);
    assert.not.match((e as Error).message, /\n/);
  };
  bad({ targets: ['q_proj'] }, /'q_proj' names none of GPT-2's projections/);
  bad({ targets: ['attn'] }, /'attn' names none/);
  bad({ targets: ['h.2.attn.c_attn'] }, /'h.2.attn.c_attn' names layer 2, but this model has 2 layers \(h\.0 to h\.1\)/); // TINY has 2 layers
  bad({ targets: [] }, /no target modules/);
  bad({ targets: ['all-linear', 'c_attn'] }, /--lora-targets: 'all-linear' already names every projection; pass it alone/);
  bad({ r: 0 }, /--lora must be a whole number of at least 1/);
  bad({ r: -3 }, /--lora must be/);
  bad({ r: 2.5 }, /--lora must be/);
  bad({ r: 17 }, /--lora 17 is larger than the projection it adapts \(attn.c_attn: 16 inputs, 48 outputs\); pick a rank of at most 16/);
  bad({ alpha: 0 }, /--lora-alpha must be a positive number/);
  bad({ dropout: 1 }, /--lora-dropout must be in \[0, 1\)/);
  bad({ dropout: -0.1 }, /--lora-dropout/);
  checkLora(TINY, { r: 16, alpha: 1, dropout: 0.5, targets: ['c_attn'] }); // r up to the narrow side
});

t('PEFT initialisation: A uniform in ±1/sqrt(in), B zero, seeded', () => {
  const sites = loraSites({ ...TINY, n_embd: 64 }, ['c_attn', 'mlp.c_proj']);
  const a = initLoraArrays(sites, 8, 5);
  assert.equal([...a.keys()], loraShapes(sites, 8).map((s) => s.name));
  for (const s of sites) {
    const A = a.get(`${s.name}.lora_A.weight`)!, B = a.get(`${s.name}.lora_B.weight`)!;
    assert.is(A.length, 8 * s.in);
    assert.is(B.length, s.out * 8);
    const bound = 1 / Math.sqrt(s.in);
    const max = A.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assert.ok(max <= bound && max > 0.9 * bound, `${s.name}: max |A| ${max}, bound ${bound}`);
    const mean = A.reduce((m, v) => m + v, 0) / A.length, varA = A.reduce((m, v) => m + v * v, 0) / A.length;
    assert.ok(Math.abs(mean) < 0.1 * bound && Math.abs(varA / (bound * bound / 3) - 1) < 0.1, `${s.name}: mean ${mean}, var ${varA}`);
    assert.ok(B.every((v) => v === 0), `${s.name}: B is zero`);
  }
  assert.equal(initLoraArrays(sites, 8, 5), a, 'same seed, same A');
});

// ---- the adapted model ----

const ALL: LoraSettings = { r: 3, alpha: 5, dropout: 0, targets: ['c_attn', 'c_proj', 'c_fc'] }; // every projection

function batch(B: number, T: number, seed: number) {
  const rng = new Rng(seed);
  const x = Uint32Array.from({ length: B * T }, () => rng.int(TINY.vocab_size));
  const y = Int32Array.from({ length: B * T }, (_, i) => (i % 4 === 1 ? -1 : rng.int(TINY.vocab_size)));
  return { x, y };
}

/** an adapter with B random too, so that every gradient (dA needs B != 0) and the merge are exercised */
function randomAdapter(settings: LoraSettings, seed: number): Map<string, Float32Array> {
  const a = initLoraArrays(checkLora(TINY, settings), settings.r, seed);
  const rng = new Rng(seed + 1);
  for (const [name, v] of a) if (name.endsWith('lora_B.weight')) for (let i = 0; i < v.length; i++) v[i] = rng.normal() * 0.3;
  return a;
}

const release = (model: GPT2) => {
  for (const p of [...model.params.values(), ...(model.lora?.params.values() ?? [])]) p.release();
};

t('adapted model: loss and every lora_A / lora_B gradient match the CPU reference model; the frozen base gets no gradient buffers', async () => {
  const g = await gpu();
  const arrays = tinyArrays(TINY, 3), adapter = randomAdapter(ALL, 4);
  const model = GPT2.fromArrays(g, TINY, arrays, { settings: ALL, arrays: adapter });
  assert.equal([...model.trainable.keys()], [...adapter.keys()]);
  const B = 2, T = 9;
  const { x, y } = batch(B, T, 5);
  const count = y.filter((v) => v >= 0).length;
  for (const p of model.trainable.values()) p.grad = g.zeros(p.shape, `d(${p.label})`);
  const losses = model.lossPerToken(x, y, B, T, 1 / count);
  model.tape.backward();
  const loss = (await losses.read()).reduce((s, v) => s + v, 0) / count;
  model.tape.clear();
  const ref = gpt2Cpu(TINY, arrays, x, B, T, y, { weights: adapter, r: ALL.r, scale: loraScale(ALL) });
  assert.ok(Math.abs(loss - ref.loss!) < 1e-5 * ref.loss!, `loss ${loss} vs ${ref.loss}`);
  for (const [name, p] of model.trainable) assertRel(await p.grad!.read(), ref.grads!.get(name)!, 1e-4, `grad ${name}`);
  for (const [name, p] of model.params) assert.is(p.grad, null, `${name}: frozen, no gradient buffer`);
  release(model);
});

t('f16 base (train.js --lora R --dtype f16): loss and every adapter gradient equal those of an f32 base holding the same f16-rounded weights, bit for bit, and the reference; training f16 weights is refused', async () => {
  const g = await gpu();
  const arrays = tinyArrays(TINY, 3), adapter = randomAdapter(ALL, 4);
  // the f32 base holds exactly the values the f16 base stores
  const rounded = new Map([...arrays].map(([name, a]) => [name, isF16Weight(name) ? roundF16(a) : a]));
  const B = 2, T = 9;
  const { x, y } = batch(B, T, 5);
  const count = y.filter((v) => v >= 0).length;
  const run = async (dtype: 'f32' | 'f16') => {
    const model = GPT2.fromArrays(g, TINY, dtype === 'f16' ? arrays : rounded, { settings: ALL, arrays: adapter }, dtype);
    for (const [name, p] of model.params) assert.is(p.dtype, dtype === 'f16' && isF16Weight(name) ? 'f16' : 'f32', `${dtype}: ${name}`);
    for (const [name, p] of model.trainable) assert.is(p.dtype, 'f32', `${dtype}: adapter tensor ${name} stays f32`);
    for (const p of model.trainable.values()) p.grad = g.zeros(p.shape, `d(${p.label})`);
    const losses = model.lossPerToken(x, y, B, T, 1 / count);
    model.tape.backward();
    const out = { losses: await losses.read(), grads: new Map<string, Float32Array>() };
    model.tape.clear();
    for (const [name, p] of model.trainable) out.grads.set(name, await p.grad!.read());
    release(model);
    return out;
  };
  const ref = gpt2Cpu(TINY, rounded, x, B, T, y, { weights: adapter, r: ALL.r, scale: loraScale(ALL) });
  // the adapter's default matmul (on lavapipe the panel path, which packs f16 as it reads it) and
  // the tiled one (which gets each f16 matrix widened first)
  for (const variant of [null, 'tiled'] as const) {
    const [half, full] = await withMatmulVariant(variant, async () => [await run('f16'), await run('f32')]);
    const v = variant ?? 'default';
    assert.equal([...half.losses], [...full.losses], `${v}: per-token losses bit for bit`);
    for (const [name, g32] of full.grads) assert.equal([...half.grads.get(name)!], [...g32], `${v}: grad ${name} bit for bit`);
    const loss = half.losses.reduce((s, x) => s + x, 0) / count;
    assert.ok(Math.abs(loss - ref.loss!) < 1e-5 * ref.loss!, `${v}: loss ${loss} vs reference ${ref.loss}`);
    for (const [name, g16] of half.grads) assertRel(g16, ref.grads!.get(name)!, 1e-4, `${v}: grad ${name} vs reference`);
  }
  // every weight trains without an adapter: f16 ones cannot
  const model = GPT2.fromArrays(g, TINY, arrays, undefined, 'f16');
  const before = g.dispatches;
  assert.throws(() => model.lossPerToken(x, y, B, T, 1 / count), /wte\.weight is f16, which is never trained/);
  assert.is(g.dispatches, before, 'refused before any work');
  release(model);
});

t('B = 0 at the start: step 0 has the base model\'s loss exactly; steps change A and B only (base bytes identical), AdamW holds state for them alone', async () => {
  const g = await gpu();
  const arrays = tinyArrays(TINY, 6);
  const settings: LoraSettings = { ...ALL, r: 4, alpha: 8 };
  const B = 2, T = 12;
  const batches = [batch(B, T, 7)];
  const out = g.tensor([B * T + 1], 'out');
  const hyper = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClip: 1 };
  const full = GPT2.fromArrays(g, TINY, arrays);
  const fullOpt = new AdamW(g, full.params, hyper);
  fullOpt.zeroGrad();
  const fullStep = await trainStep(full, fullOpt, batches, B, T, 1e-2, out);
  release(full);
  fullOpt.release();

  const init = initLoraArrays(checkLora(TINY, settings), settings.r, 8);
  const model = GPT2.fromArrays(g, TINY, arrays, { settings, arrays: init });
  const opt = new AdamW(g, model.trainable, hyper);
  assert.equal([...opt.m.keys()], [...init.keys()], 'moments only for the adapter');
  const before = await model.readParams();
  opt.zeroGrad();
  const losses: number[] = [];
  for (let step = 0; step < 3; step++) losses.push((await trainStep(model, opt, batches, B, T, 1e-2, out, step)).loss);
  assert.is(losses[0], fullStep.loss, 'step 0: the same loss as the base model, bit for bit');
  assert.ok(losses[2] < losses[0], `the adapter learns: ${losses.join(' ')}`);
  const after = await model.readParams();
  for (const [name, a] of before) {
    assert.ok(Buffer.from(a.buffer).equals(Buffer.from(after.get(name)!.buffer)), `${name}: frozen weights unchanged, byte for byte`);
    assert.is(model.params.get(name)!.grad, null, `${name}: no gradient buffer`);
  }
  const trained = await model.readParams(model.trainable);
  for (const [name, v] of trained) assert.ok(v.some((x, i) => x !== init.get(name)![i]), `${name} moved`);
  out.release();
  release(model);
  opt.release();
});

t('merged weights (W += scale·Aᵀ·Bᵀ) give the logits of base + adapter: float64 reference and GPU', async () => {
  const g = await gpu();
  const arrays = tinyArrays(TINY, 9), adapter = randomAdapter(ALL, 10);
  const sites = checkLora(TINY, ALL), scale = loraScale(ALL);
  const merged = new Map([...arrays].map(([k, v]) => [k, Float32Array.from(v)]));
  mergeLora(merged, adapter, sites, ALL.r, scale);
  for (const { name } of parameterShapes(TINY)) {
    const changed = merged.get(name)!.some((v, i) => v !== arrays.get(name)![i]);
    assert.is(changed, sites.some((s) => name === `${s.name}.weight`), `${name}: merged only where there is an adapter`);
  }
  const B = 2, T = 8;
  const { x } = batch(B, T, 11);
  // float64: the merge is exact but for rounding W + delta to f32 once (2^-24 relative per weight; measured 9e-8)
  const unmergedRef = gpt2Cpu(TINY, arrays, x, B, T, undefined, { weights: adapter, r: ALL.r, scale }).logits;
  const baseRef = gpt2Cpu(TINY, arrays, x, B, T).logits;
  assertRel(gpt2Cpu(TINY, merged, x, B, T).logits, unmergedRef, 1e-6, 'float64 reference: merged vs base + adapter');
  // GPU: the two forwards round in different places (measured 5e-7 apart, each 3e-7 from float64);
  // a wrong scale, a transposed A or B, or a missing site is off by percent
  const logits = async (m: GPT2) => {
    const t = fullLogits(m, x, B, T);
    const v = await t.read();
    t.release();
    release(m);
    return v;
  };
  const viaMerge = await logits(GPT2.fromArrays(g, TINY, merged));
  const viaAdapter = await logits(GPT2.fromArrays(g, TINY, arrays, { settings: ALL, arrays: adapter }));
  assertRel(viaMerge, viaAdapter, 5e-6, 'GPU: merged vs base + adapter');
  assertRel(viaAdapter, unmergedRef, 5e-6, 'GPU base + adapter vs float64');
  assert.ok(maxRelErr(viaAdapter, baseRef) > 0.05, 'the adapter changes the logits far more than the tolerance');
});

t('dropout in the adapted model: a step seed fixes the masks, another seed changes them, evaluation has none', async () => {
  const g = await gpu();
  const arrays = tinyArrays(TINY, 12);
  const settings: LoraSettings = { ...ALL, dropout: 0.3 };
  const model = GPT2.fromArrays(g, TINY, arrays, { settings, arrays: randomAdapter(settings, 13) });
  const noDrop = GPT2.fromArrays(g, TINY, arrays, { settings: { ...settings, dropout: 0 }, arrays: randomAdapter(settings, 13) });
  const B = 1, T = 10;
  const { x, y } = batch(B, T, 14);
  const loss = async (m: GPT2, seed: number, train = true) => {
    const run = () => m.lossPerToken(x, y, B, T, 1, seed);
    const v = await (train ? run() : m.tape.noGrad(run)).read();
    m.tape.clear();
    return v.reduce((s, e) => s + e, 0);
  };
  const a = await loss(model, 1), again = await loss(model, 1), other = await loss(model, 2);
  assert.is(a, again, 'same seed, same masks');
  assert.is.not(a, other, 'another seed, other masks');
  assert.is.not(a, await loss(noDrop, 1), 'dropout changes the training loss');
  assert.is(await loss(model, 1, false), await loss(noDrop, 1, false), 'no dropout without the tape (evaluation)');
  release(model);
  release(noDrop);
});

t.run();
