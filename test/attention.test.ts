import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  attentionBackward, attentionBackwardCpu, attentionCached, attentionForward, attentionForwardCpu, attentionOptions,
} from '../src/ops/attention.ts';
import type { Gpu } from '../src/gpu/index.ts';
import { adapterHas, assertClose, assertRel, gpu, gradcheck, kernelsRun, randn, randn64, withBindingLimit } from './util.ts';

const t = suite('attention');

t('reference: one row attends to itself only (out = v, lse = q·k/√hs)', () => {
  const C = 8, NH = 2, hs = 4;
  const qkv = randn64(3 * C, 1);
  const { out, lse } = attentionForwardCpu(qkv, 1, 1, C, NH);
  assertClose(out, qkv.slice(2 * C), 1e-15, 1e-15, 'out');
  for (let h = 0; h < NH; h++) {
    let dot = 0;
    for (let d = 0; d < hs; d++) dot += qkv[h * hs + d] * qkv[C + h * hs + d];
    assertClose([lse[h]], [dot / Math.sqrt(hs)], 1e-14, 1e-15, `lse head ${h}`);
  }
});

t('reference: causal (changing a later row leaves earlier outputs alone)', () => {
  const B = 1, T = 5, C = 6, NH = 2;
  const qkv = randn64(B * T * 3 * C, 2);
  const a = attentionForwardCpu(qkv, B, T, C, NH).out;
  for (let i = 3 * 3 * C; i < qkv.length; i++) qkv[i] += 1; // rows 3 and 4
  const b = attentionForwardCpu(qkv, B, T, C, NH).out;
  assertClose(b.slice(0, 3 * C), a.slice(0, 3 * C), 0, 0, 'rows 0..2');
  assert.ok(Math.abs(b[4 * C] - a[4 * C]) > 1e-6, 'row 4 changes');
});

for (const [B, T, C, NH] of [[1, 1, 8, 2], [1, 3, 8, 2], [2, 5, 12, 3], [1, 4, 6, 2]]) {
  t(`reference backward matches float64 finite differences, B=${B} T=${T} C=${C} NH=${NH}`, () => {
    const qkv = randn64(B * T * 3 * C, 3 + T);
    const dout = randn64(B * T * C, 4 + T);
    const dqkv = attentionBackwardCpu(qkv, dout, B, T, C, NH);
    gradcheck(([x]) => attentionForwardCpu(x, B, T, C, NH).out, [qkv], dout, [dqkv], 'attention', { tol: 1e-7 });
  });
}

// The kernel family: the *_sg kernels where the adapter has subgroups of >= 8 and the head
// size is at most 64, the plain ones otherwise (and whenever attentionOptions.subgroups is off).
type Family = 'subgroup' | 'plain';
const FAMILY_KERNELS = {
  subgroup: ['attention_forward_sg.main', 'attention_backward_sg.dq', 'attention_backward_sg.dkv'],
  plain: ['attention_forward.main', 'attention_backward.dq', 'attention_backward.dkv'],
};

/** `f` with the family forced (subgroup: the kernels' own choice), asserting which kernels ran; options restored after. */
async function runFamily(g: Gpu, family: Family, hs: number, f: () => unknown, phases = ['main', 'dq', 'dkv']): Promise<void> {
  const saved = attentionOptions.subgroups;
  attentionOptions.subgroups = family === 'subgroup';
  let used: Map<string, number>;
  try {
    used = await kernelsRun(g, f);
  } finally {
    attentionOptions.subgroups = saved;
  }
  const want = family === 'subgroup' && hs <= 64 ? 'subgroup' : 'plain';
  const ran = [...used.keys()].filter((k) => k.startsWith('attention_') && !k.startsWith('attention_decode'));
  assert.equal(ran.sort(), FAMILY_KERNELS[want].filter((k) => phases.some((p) => k.endsWith(`.${p}`))).sort(), `${family} kernels for head size ${hs}`);
}

// edge shapes: T=1, T not a multiple of the 32-row workgroups or 8-key blocks, B=2, NH=3,
// head sizes 4 (C=12, not a multiple of 8), 8, 16, 64 and 128 (plain kernels only)
const shapes = [[1, 1, 64, 1], [2, 7, 24, 3], [2, 67, 192, 3], [1, 130, 48, 3], [2, 33, 12, 3], [1, 40, 384, 3]];

for (const family of ['subgroup', 'plain'] as const) {
  for (const [B, T, C, NH] of shapes) {
    const title = `GPU forward and backward match reference (${family} kernels${C / NH > 64 ? ': plain for head size 128' : ''}), B=${B} T=${T} C=${C} NH=${NH}`;
    t(title, async () => {
      const g = await gpu();
      if (family === 'subgroup' && !adapterHas(g, 'subgroups8', `attention "${title}"`)) return;
      const xs = randn(B * T * 3 * C, 11 + T, 1.5);
      const ds = randn(B * T * C, 12 + T);
      const base = randn(B * T * 3 * C, 13 + T); // dqkv starts non-zero: backward must add
      const qkv = g.fromArray(xs, [B, T, 3 * C], 'qkv');
      const dout = g.fromArray(ds, [B, T, C], 'dout');
      const dqkv = g.fromArray(base, [B, T, 3 * C], 'dqkv');
      const out = g.tensor([B, T, C], 'out'), lse = g.tensor([B, NH, T], 'lse');
      await runFamily(g, family, C / NH, () => {
        attentionForward(qkv, out, lse, B, T, C, NH);
        attentionBackward(qkv, out, lse, dout, dqkv, B, T, C, NH);
      });
      const ref = attentionForwardCpu(xs, B, T, C, NH);
      assertRel(await out.read(), ref.out, 1e-4, 'out');
      assertRel(await lse.read(), ref.lse, 1e-5, 'lse');
      const dref = attentionBackwardCpu(xs, ds, B, T, C, NH);
      const got = await dqkv.read();
      assertRel(got.map((v, i) => v - base[i]), dref, 1e-4, 'dqkv (minus its starting value)');
      for (const z of [qkv, dout, dqkv, out, lse]) z.release();
    });
  }
}

t('backward is deterministic (bitwise equal on repeat)', async () => {
  const g = await gpu();
  const B = 1, T = 67, C = 192, NH = 3;
  const qkv = g.fromArray(randn(B * T * 3 * C, 41), [B, T, 3 * C], 'qkv'), dout = g.fromArray(randn(B * T * C, 42), [B, T, C], 'dout');
  const out = g.tensor([B, T, C], 'out'), lse = g.tensor([B, NH, T], 'lse');
  attentionForward(qkv, out, lse, B, T, C, NH);
  const runs: Float32Array[] = [];
  for (let r = 0; r < 2; r++) {
    const dqkv = g.zeros([B, T, 3 * C], 'dqkv');
    attentionBackward(qkv, out, lse, dout, dqkv, B, T, C, NH);
    runs.push(await dqkv.read());
    dqkv.release();
  }
  assert.ok(runs[0].every((v, i) => Object.is(v, runs[1][i])), 'two backward runs differ');
  for (const z of [qkv, dout, out, lse]) z.release();
});

t('forward and backward split the batch when a sequence fills the storage binding limit', async () => {
  const g = await gpu();
  const B = 3, T = 40, C = 192, NH = 3;
  const xs = randn(B * T * 3 * C, 31, 1.5), ds = randn(B * T * C, 32);
  const qkv = g.fromArray(xs, [B, T, 3 * C], 'qkv'), dout = g.fromArray(ds, [B, T, C], 'dout');
  const dqkv = g.zeros([B, T, 3 * C], 'dqkv'), out = g.tensor([B, T, C], 'out'), lse = g.tensor([B, NH, T], 'lse');
  const before = g.dispatches;
  await withBindingLimit(g, T * 3 * C * 4, () => { // one sequence per dispatch
    attentionForward(qkv, out, lse, B, T, C, NH);
    attentionBackward(qkv, out, lse, dout, dqkv, B, T, C, NH);
  });
  assert.is(g.dispatches - before, 3 * B, 'forward, dq and dkv once per sequence');
  const ref = attentionForwardCpu(xs, B, T, C, NH);
  assertRel(await out.read(), ref.out, 1e-4, 'out');
  assertRel(await lse.read(), ref.lse, 1e-5, 'lse');
  assertRel(await dqkv.read(), attentionBackwardCpu(xs, ds, B, T, C, NH), 1e-4, 'dqkv');
  for (const z of [qkv, dout, dqkv, out, lse]) z.release();
});

/** reference outputs of rows [t0, t0+Tq) for the first t0+Tq rows of a cache */
function cachedRef(cache: Float32Array, t0: number, Tq: number, C: number, NH: number): Float64Array {
  return attentionForwardCpu(cache.subarray(0, (t0 + Tq) * 3 * C), 1, t0 + Tq, C, NH).out.slice(t0 * C);
}

for (const family of ['subgroup', 'plain'] as const) {
  for (const [T, C, NH] of [[150, 192, 3], [70, 12, 3]]) {
    const title = `attentionCached prefill, chunks and decode match the reference (${family}), T=${T} C=${C} NH=${NH}`;
    t(title, async () => {
      const g = await gpu();
      if (family === 'subgroup' && !adapterHas(g, 'subgroups8', `attention "${title}"`)) return;
      const Tmax = T + 9;
      const xs = randn(Tmax * 3 * C, 21 + T, 1.5);
      xs.fill(NaN, T * 3 * C); // rows past the sequence must never be read
      const cache = g.fromArray(xs, [Tmax, 3 * C], 'qkv cache');
      try {
        // whole prompt at once
        const all = g.tensor([T, C], 'out');
        await runFamily(g, family, C / NH, () => attentionCached(cache, all, 0, T, C, NH), ['main']);
        assertRel(await all.read(), cachedRef(xs, 0, T, C, NH), 1e-4, 'prefill t0=0');
        all.release();
        // mixed chunks: prefill, single rows, longer chunks past the block sizes
        let t0 = 0;
        const a = Math.floor(T / 4), b = Math.floor(T / 2) - 5;
        for (const Tq of [a, 1, 1, b, T - a - 2 - b]) {
          const out = g.tensor([Tq, C], 'out');
          await runFamily(g, family, C / NH, () => attentionCached(cache, out, t0, Tq, C, NH), ['main']);
          assertRel(await out.read(), cachedRef(xs, t0, Tq, C, NH), 1e-4, `chunk t0=${t0} Tq=${Tq}`);
          out.release();
          t0 += Tq;
        }
        // decode at every position, the first from an empty context
        const ref = attentionForwardCpu(xs.subarray(0, T * 3 * C), 1, T, C, NH).out;
        const one = g.tensor([1, C], 'out');
        for (let pos = 0; pos < T; pos++) {
          attentionCached(cache, one, pos, 1, C, NH);
          assertRel(await one.read(), ref.subarray(pos * C, (pos + 1) * C), 1e-4, `decode at ${pos}`);
        }
        one.release();
      } finally {
        cache.release();
      }
    });
  }
}

t('rejects head sizes the kernels cannot hold', async () => {
  const g = await gpu();
  const qkv = g.tensor([1, 2, 3 * 18], 'qkv'), out = g.tensor([1, 2, 18], 'out'), lse = g.tensor([1, 3, 2], 'lse');
  assert.throws(() => attentionForward(qkv, out, lse, 1, 2, 18, 3), /multiple of 4/);
  for (const z of [qkv, out, lse]) z.release();
});

t.run();
