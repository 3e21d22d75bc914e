import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { embeddingBackward, embeddingBackwardCpu, embeddingForward, embeddingForwardCpu } from '../src/ops/embedding.ts';
import { Rng } from '../src/util/rng.ts';
import { roundF16 } from '../src/util/f16.ts';
import { assertRel, DEFAULT_BINDING_LIMIT, gpu, gradcheck, randn, randn64, withBindingLimit } from './util.ts';

const t = suite('embedding');

function tokenList(N: number, V: number, seed: number): Uint32Array {
  const r = new Rng(seed);
  // draw from a few ids so that ids repeat within the batch
  const pool = Array.from({ length: Math.max(1, Math.min(V, Math.ceil(N / 3))) }, () => r.int(V));
  return Uint32Array.from({ length: N }, () => pool[r.int(pool.length)]);
}

t('reference backward matches float64 finite differences (wte, wpe)', () => {
  const B = 2, T = 3, C = 4, V = 5, N = B * T;
  const tok = [1, 3, 1, 1, 0, 4];
  const wte = randn64(V * C, 1), wpe = randn64(T * C, 2), dout = randn64(N * C, 3);
  const { dwte, dwpe } = embeddingBackwardCpu(dout, tok, N, T, C, V);
  gradcheck(([e, p]) => embeddingForwardCpu(tok, e, p, N, T, C), [wte, wpe], dout, [dwte, dwpe], 'embedding');
});

/** GPU forward + backward (onto non-zero grads) vs the float64 reference. */
async function check(B: number, T: number, C: number, V: number, tokens: Uint32Array, seed: number): Promise<void> {
  const g = await gpu();
  const N = B * T;
  const es = randn(V * C, seed), ps = randn(T * C, seed + 1), ds = randn(N * C, seed + 2);
  const dwte0 = randn(V * C, seed + 3, 0.5), dwpe0 = randn(T * C, seed + 4, 0.5);
  const tok = g.fromArray(tokens, [N], 'tokens');
  const wte = g.fromArray(es, [V, C], 'wte'), wpe = g.fromArray(ps, [T, C], 'wpe'), d = g.fromArray(ds, [N, C], 'dout');
  const out = g.tensor([N, C], 'out'), dwte = g.fromArray(dwte0, [V, C], 'dwte'), dwpe = g.fromArray(dwpe0, [T, C], 'dwpe');
  try {
    embeddingForward(tok, wte, wpe, out, N, T, C, V);
    embeddingBackward(d, tokens, dwte, dwpe, N, T, C, V);
    assertRel(await out.read(), embeddingForwardCpu(tokens, es, ps, N, T, C), 1e-5, 'out');
    const ref = embeddingBackwardCpu(ds, tokens, N, T, C, V);
    assertRel(await dwte.read(), ref.dwte.map((v, i) => v + dwte0[i]), 1e-4, 'dwte');
    assertRel(await dwpe.read(), ref.dwpe.map((v, i) => v + dwpe0[i]), 1e-4, 'dwpe');
  } finally {
    for (const z of [tok, wte, wpe, d, out, dwte, dwpe]) z.release();
  }
}

for (const [B, T, C, V] of [[1, 1, 5, 7], [3, 5, 13, 11], [2, 70, 130, 1000], [4, 64, 768, 300]]) {
  t(`GPU matches reference, B=${B} T=${T} C=${C} V=${V}`, () => check(B, T, C, V, tokenList(B * T, V, B + T + C), 10 + C));
}

// without a position table (the sampled softmax's gather of wte rows): wte's rows alone, and the
// backward adds into dwte only; rows past a chunk of the flat grid, with C not a multiple of 4
for (const [N, C, V] of [[1, 3, 2], [300, 13, 40], [2000, 128, 5000]]) {
  t(`GPU without a position table matches reference, N=${N} C=${C} V=${V}`, async () => {
    const g = await gpu();
    const tokens = tokenList(N, V, N + C);
    const es = randn(V * C, 7), ds = randn(N * C, 8), dwte0 = randn(V * C, 9, 0.5);
    const tok = g.fromArray(tokens, [N], 'tokens'), wte = g.fromArray(es, [V, C], 'wte'), d = g.fromArray(ds, [N, C], 'dout');
    const out = g.fromArray(new Float32Array(N * C).fill(NaN), [N, C], 'out'), dwte = g.fromArray(dwte0, [V, C], 'dwte');
    try {
      embeddingForward(tok, wte, null, out, N, N, C, V);
      embeddingBackward(d, tokens, dwte, null, N, N, C, V);
      assertRel(await out.read(), embeddingForwardCpu(tokens, es, new Float64Array(N * C), N, N, C), 1e-6, 'out');
      assertRel(await dwte.read(), embeddingBackwardCpu(ds, tokens, N, N, C, V).dwte.map((v, i) => v + dwte0[i]), 1e-4, 'dwte');
    } finally {
      for (const z of [tok, wte, d, out, dwte]) z.release();
    }
  });
}

t('GPU matches reference with wte and rows split over a lowered binding limit', async () => {
  const g = await gpu();
  const tokens = tokenList(200, 300, 5);
  tokens.set([0, 63, 64, 299, 128, 127]);
  // 64-row chunks of wte (V=300: 5 chunks) and of the 200 rows (T=50 does not divide 64)
  await withBindingLimit(g, 64 * 13 * 4, () => check(4, 50, 13, 300, tokens, 20));
});

// f16 wte (inference weights): the reference is the f32 one over the f16-rounded table; odd C
// (rows of an odd number of 2-byte elements), and wte in vocabulary chunks at 256-byte offsets
for (const [B, T, C, V, limit] of [[1, 1, 5, 7, 0], [3, 5, 13, 11, 0], [4, 50, 13, 300, 128 * 13 * 2]]) {
  const name = `f16 wte: forward matches the reference over the rounded table, B=${B} T=${T} C=${C} V=${V}${limit ? ` (binding limit ${limit} bytes)` : ''}`;
  t(name, async () => {
    const g = await gpu();
    const N = B * T, tokens = tokenList(N, V, 3);
    tokens.set([0, V - 1].slice(0, N));
    const es = randn(V * C, 1), ps = randn(T * C, 2);
    const tok = g.fromArray(tokens, [N], 'tokens'), wte = g.fromArray(es, [V, C], 'wte', 'f16'), wpe = g.fromArray(ps, [T, C], 'wpe');
    const out = g.tensor([N, C], 'out');
    await withBindingLimit(g, limit || g.bindingLimit, () => embeddingForward(tok, wte, wpe, out, N, T, C, V));
    assertRel(await out.read(), embeddingForwardCpu(tokens, roundF16(es), ps, N, T, C), 1e-6, 'out');
    for (const z of [tok, wte, wpe, out]) z.release();
  });
}

t('GPT-2 size wte (50257 x 768, over the binding limit), B=2 T=3', async () => {
  const g = await gpu();
  const B = 2, T = 3, C = 768, V = 50257, N = B * T;
  const limit = DEFAULT_BINDING_LIMIT;
  assert.ok(V * C * 4 > limit, 'wte must exceed the binding limit for this test');
  const split = Math.floor(limit / (C * 4 * 64)) * 64; // first row of the second chunk
  const tokens = Uint32Array.from([0, split - 1, split, V - 1, split, 0]);
  // cheap distinct values per element (a wrong row or chunk offset shows)
  const es = new Float32Array(V * C).map((_, i) => ((Math.imul(i, 2654435761) >>> 0) % 2001) / 1000 - 1);
  const ps = randn(T * C, 31), ds = randn(N * C, 32);
  const wte = g.fromArray(es, [V, C], 'wte'), wpe = g.fromArray(ps, [T, C], 'wpe'), d = g.fromArray(ds, [N, C], 'dout');
  const tok = g.fromArray(tokens, [N], 'tokens'), out = g.tensor([N, C], 'out');
  const dwte = g.fromArray(new Float32Array(V * C).fill(0.25), [V, C], 'dwte'), dwpe = g.zeros([T, C], 'dwpe');
  try {
    await withBindingLimit(g, limit, () => {
      embeddingForward(tok, wte, wpe, out, N, T, C, V);
      embeddingBackward(d, tokens, dwte, dwpe, N, T, C, V);
    });
    assertRel(await out.read(), embeddingForwardCpu(tokens, es, ps, N, T, C), 1e-5, 'out');
    const ref = embeddingBackwardCpu(ds, tokens, N, T, C, V);
    for (let i = 0; i < ref.dwte.length; i++) ref.dwte[i] += 0.25;
    assertRel(await dwte.read(), ref.dwte, 1e-4, 'dwte');
    assertRel(await dwpe.read(), ref.dwpe, 1e-4, 'dwpe');
  } finally {
    for (const z of [tok, wte, wpe, d, out, dwte, dwpe]) z.release();
  }
});

t('backward is deterministic (bitwise) with heavily repeated ids', async () => {
  const g = await gpu();
  const B = 4, T = 128, C = 768, V = 50, N = B * T;
  const tokens = Uint32Array.from({ length: N }, (_, i) => (i * 7) % 5);
  const d = g.fromArray(randn(N * C, 40, 3), [N, C], 'dout');
  const runs: Uint32Array[] = [];
  for (let k = 0; k < 2; k++) {
    const dwte = g.zeros([V, C], 'dwte'), dwpe = g.zeros([T, C], 'dwpe');
    embeddingBackward(d, tokens, dwte, dwpe, N, T, C, V);
    runs.push(new Uint32Array([...(await dwte.readU32()), ...(await dwpe.readU32())]));
    dwte.release();
    dwpe.release();
  }
  assert.ok(runs[0].some((v) => v !== 0));
  assert.equal(runs[0], runs[1]);
  d.release();
});

t('backward rejects token ids outside the vocabulary', async () => {
  const g = await gpu();
  const d = g.zeros([2, 4], 'dout'), dwte = g.zeros([3, 4], 'dwte'), dwpe = g.zeros([2, 4], 'dwpe');
  assert.throws(() => embeddingBackward(d, Uint32Array.from([1, 3]), dwte, dwpe, 2, 2, 4, 3), /outside the vocabulary/);
  for (const z of [d, dwte, dwpe]) z.release();
});

t.run();
