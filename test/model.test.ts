// The GPU model against the CPU reference model: logits, loss and every parameter gradient,
// also through the fused classifier's row chunks; Hugging Face checkpoint layouts loaded from
// disk give the reference logits.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, openSync, closeSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Gpu, Tensor } from '../src/gpu/index.ts';
import { GPT2 } from '../src/model/gpt2.ts';
import { SampledSoftmax } from '../src/model/output_vocab.ts';
import { classifierChunkRows, targetRuns } from '../src/model/classifier.ts';
import { gpt2Cpu } from './gpt2_cpu.ts';
import { hfConfigJson, parameterShapes, type GPT2Config } from '../src/model/config.ts';
import { loadWeights } from '../src/node/load_model.ts';
import { f16Bits, fromF16 } from '../src/util/f16.ts';
import { writeSafetensors } from '../src/node/safetensors.ts';
import { assertRel, fullLogits, gpu, kernelsRun, withBindingLimit } from './util.ts';
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
    const lt = fullLogits(model, x, B, T);
    const got = await lt.read();
    lt.release();
    assertRel(got, gpt2Cpu(TINY, arrays, x, B, T).logits, 1e-4, `logits B=${B} T=${T}`);
  }
  for (const p of model.params.values()) p.release();
});

/** One training step of the tiny model (batch() targets): loss and every gradient vs the CPU reference; returns the kernels it ran. */
async function stepMatchesReference(g: Gpu, B: number, T: number, seed: number): Promise<Map<string, number>> {
  const arrays = tinyArrays(TINY, seed);
  const model = GPT2.fromArrays(g, TINY, arrays);
  const { x, y } = batch(TINY, B, T, seed + 1);
  const count = y.filter((v) => v >= 0).length;
  for (const p of model.params.values()) p.grad = g.zeros(p.shape, `d(${p.label})`);
  let losses: Tensor | null = null;
  const used = await kernelsRun(g, () => {
    losses = model.lossPerToken(x, y, B, T, 1 / count);
    model.tape.backward();
  });
  const l = await losses!.read();
  model.tape.clear();
  const ref = gpt2Cpu(TINY, arrays, x, B, T, y);
  const loss = l.reduce((s, v) => s + v, 0) / count;
  assert.ok(Math.abs(loss - ref.loss!) < 1e-4 * Math.abs(ref.loss!), `loss ${loss} vs ${ref.loss}`);
  for (const [name, p] of model.params) {
    assertRel(await p.grad!.read(), ref.grads!.get(name)!, 1e-4, `grad ${name}`);
  }
  for (const p of model.params.values()) p.release();
  return used;
}

t('a sampled softmax (the data tokens, plus drawn others with their logQ offset): loss and every gradient match the reference', async () => {
  const g = await gpu();
  const arrays = tinyArrays(TINY, 21);
  const model = GPT2.fromArrays(g, TINY, arrays);
  const B = 2, T = 9, V = TINY.vocab_size;
  const data = Array.from({ length: V }, (_, i) => i).filter((i) => i % 3 !== 1); // the data's tokens: every third one is not
  const sampled = new SampledSoftmax([data, data.slice(0, 5)], V, 4, 7);
  const ov = sampled.forStep(3);
  assert.equal([...ov.ids.subarray(0, data.length)], data, 'the data tokens first, ascending, once each');
  const drawn = [...ov.ids.subarray(data.length)];
  assert.is(drawn.length, 4);
  assert.ok(drawn.every((t) => t % 3 === 1), `drawn from the others only: ${drawn}`);
  assert.is(new Set(drawn).size, 4, 'no repeats');
  assert.ok(Math.abs(ov.logitBias![data.length] - Math.log(12 / 4)) < 1e-6 && ov.logitBias![0] === 0, 'logQ offset: log(others / drawn)');
  assert.equal([...sampled.forStep(3).ids], [...ov.ids], 'the same draw for the same step');
  assert.not.equal([...sampled.forStep(4).ids], [...ov.ids], 'another draw for another step');
  const rng = new Rng(22);
  const x = Uint32Array.from({ length: B * T }, () => rng.int(V)); // inputs may be any token
  const y = Int32Array.from({ length: B * T }, (_, i) => (i % 4 === 2 ? -1 : data[rng.int(data.length)]));
  const count = y.filter((v) => v >= 0).length;
  model.outputVocab = ov;
  for (const p of model.params.values()) p.grad = g.zeros(p.shape, `d(${p.label})`);
  const losses = model.lossPerToken(x, y, B, T, 1 / count);
  model.tape.backward();
  const l = await losses.read();
  model.tape.clear();
  const ref = gpt2Cpu(TINY, arrays, x, B, T, y, undefined, { ids: ov.ids, bias: ov.logitBias });
  const loss = l.reduce((s, v) => s + v, 0) / count;
  assert.ok(Math.abs(loss - ref.loss!) < 1e-4 * Math.abs(ref.loss!), `loss ${loss} vs ${ref.loss}`);
  // neither the whole vocabulary's loss nor the softmax without the offsets: an ignored outputVocab or bias would fail here
  const full = gpt2Cpu(TINY, arrays, x, B, T, y).loss!;
  const unbiased = gpt2Cpu(TINY, arrays, x, B, T, y, undefined, { ids: ov.ids }).loss!;
  assert.ok(Math.abs(full - ref.loss!) > 0.02 && Math.abs(unbiased - ref.loss!) > 0.02, `full ${full}, without offsets ${unbiased}, sampled ${ref.loss}`);
  for (const [name, p] of model.params) assertRel(await p.grad!.read(), ref.grads!.get(name)!, 1e-4, `grad ${name}`);
  // a target outside the output vocabulary is refused, not silently scored
  const outside = Array.from({ length: V }, (_, i) => i).find((i) => i % 3 === 1 && !drawn.includes(i))!;
  assert.throws(() => model.lossPerToken(x, Int32Array.from(y, (v, i) => (i === 0 ? outside : v)), B, T, 1), /not in the output vocabulary/);
  model.tape.clear();
  for (const p of model.params.values()) p.release();
});

t('one training step: loss and every gradient match the CPU reference', async () => {
  await stepMatchesReference(await gpu(), 2, 9, 3);
});

// The fused classifier (tied lm_head + cross-entropy, src/model/classifier.ts) runs in row
// chunks past 256 rows with a target, as on every step of the default CPU run.
t('classifier chunk rows: all rows up to 256 when they fit, else a multiple of 64 that fits the binding', () => {
  assert.is(classifierChunkRows(7, 37, 1 << 30), 7);
  assert.is(classifierChunkRows(256, 50257, 1 << 30), 256);
  assert.is(classifierChunkRows(384, 37, 1 << 30), 256);
  assert.is(classifierChunkRows(300, 50257, 128 * 1024 * 1024), 256);
  assert.is(classifierChunkRows(300, 37, 100 * 37 * 4), 64);
  assert.throws(() => classifierChunkRows(100, 37, 63 * 37 * 4), /classifierLoss/);
  assert.equal(targetRuns(Int32Array.from([-1, 3, 4, -1, -1, 0, 1])), [[1, 3], [5, 7]]);
});

const CE = 'crossentropy_forward_backward.main';

t('more than 256 target rows: loss and every gradient match the reference, in 256-row classifier chunks', async () => {
  // 24 x 16 rows, 308 with a target: chunks of 256 and 52
  assert.is((await stepMatchesReference(await gpu(), 24, 16, 11)).get(CE), 2, 'cross-entropy chunks');
});

t('a low binding limit: 64-row classifier chunks (and every other op split too) still match', async () => {
  const g = await gpu();
  // room for 100 rows of 37 logits: 64-row chunks, 5 of them for 308 rows
  const used = await withBindingLimit(g, 100 * TINY.vocab_size * 4, () => stepMatchesReference(g, 24, 16, 12));
  assert.is(used.get(CE), 5, 'cross-entropy chunks');
});

/** a safetensors file of F16 tensors, written by hand (writeSafetensors writes F32 only) */
function writeF16Safetensors(path: string, tensors: { name: string; shape: number[]; data: Float32Array }[]): void {
  const header: Record<string, unknown> = {};
  const chunks: Uint16Array[] = [];
  let offset = 0;
  for (const { name, shape, data } of tensors) {
    const bits = Uint16Array.from(data, f16Bits);
    header[name] = { dtype: 'F16', shape, data_offsets: [offset, offset + bits.byteLength] };
    offset += bits.byteLength;
    chunks.push(bits);
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const head = Buffer.alloc(8 + json.length);
  head.writeBigUInt64LE(BigInt(json.length), 0);
  head.write(json, 8, 'ascii');
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, head);
    for (const c of chunks) writeSync(fd, new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
  } finally {
    closeSync(fd);
  }
}

t('Hugging Face safetensors layouts (prefix, lm_head, mask buffers, F16) load and give the reference logits', async () => {
  const g = await gpu();
  const arrays = tinyArrays(TINY, 5);
  const shapes = parameterShapes(TINY);
  const P = TINY.n_positions;
  const tensors = (prefix: string) => shapes.map(({ name, shape }) => ({ name: prefix + name, shape, data: arrays.get(name)! }));
  // HF GPT2Attention's causal-mask buffers, as older checkpoints (OpenAI's gpt2) carry them
  const buffers = (prefix: string) => Array.from({ length: TINY.n_layer }, (_, l) => [
    { name: `${prefix}h.${l}.attn.bias`, shape: [1, 1, P, P], data: Float32Array.from({ length: P * P }, (_, i) => (i % P <= Math.floor(i / P) ? 1 : 0)) },
    { name: `${prefix}h.${l}.attn.masked_bias`, shape: [], data: Float32Array.of(-1e4) },
  ]).flat();
  const lmHead = { name: 'lm_head.weight', shape: [TINY.vocab_size, TINY.n_embd], data: arrays.get('wte.weight')! };
  const variants: [string, ReturnType<typeof tensors>, 'F32' | 'F16'][] = [
    ["'transformer.' prefix", tensors('transformer.'), 'F32'],
    ['no prefix', tensors(''), 'F32'],
    ['prefix + lm_head.weight', [...tensors('transformer.'), lmHead], 'F32'],
    ['attn.bias / attn.masked_bias buffers', [...buffers(''), ...tensors('')], 'F32'],
    ['prefix + lm_head + buffers, F16', [...tensors('transformer.'), ...buffers('transformer.'), lmHead], 'F16'],
  ];
  const root = mkdtempSync(join(tmpdir(), 'gpt2-hf-'));
  const B = 2, T = 7;
  const { x } = batch(TINY, B, T, 6);
  for (const [i, [what, list, dtype]] of variants.entries()) {
    const dir = join(root, String(i));
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(hfConfigJson(TINY), null, 2));
    if (dtype === 'F32') writeSafetensors(join(dir, 'model.safetensors'), list, { format: 'pt' });
    else writeF16Safetensors(join(dir, 'model.safetensors'), list);
    // the reference runs on exactly the values the file holds
    const want = dtype === 'F32' ? arrays : new Map([...arrays].map(([k, v]) => [k, fromF16(Uint16Array.from(v, f16Bits))]));
    const w = await loadWeights(dir);
    assert.equal(w.config, TINY, `${what}: config`);
    assert.equal([...w.arrays.keys()], shapes.map((s) => s.name), `${what}: parameter names`);
    for (const [name, v] of w.arrays) assert.equal(v, want.get(name), `${what}: ${name} as stored`);
    const model = GPT2.fromArrays(g, w.config, w.arrays);
    const lt = fullLogits(model, x, B, T);
    const got = await lt.read();
    lt.release();
    for (const p of model.params.values()) p.release();
    assertRel(got, gpt2Cpu(TINY, want, x, B, T).logits, 1e-4, `${what}: logits`);
  }
});

t.run();
