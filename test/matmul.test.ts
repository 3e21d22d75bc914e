import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Gpu } from '../src/gpu/index.ts';
import { roundF16 } from '../src/util/f16.ts';
import {
  biasBackwardCpu, matmul, matmulBiasBackward, matmulCpu, matmulTuning, type MatmulOptions, type MatmulVariant,
} from '../src/ops/matmul.ts';
import { matvec, matvecT } from '../src/ops/matvec.ts';
import {
  adapterHas, assertRel, DEFAULT_BINDING_LIMIT, gpu, gradcheck, kernelsRun, randn, randn64, withBindingLimit, withoutSubgroups8,
} from './util.ts';

const t = suite('matmul');
const LAYOUTS = [[false, false], [false, true], [true, false], [true, true]] as const;
const name = (ta: boolean, tb: boolean) => `${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}`;

// ---- CPU reference ----

// For L = sum(out * dout): dop(A) = dout·op(B)ᵀ and dop(B) = op(A)ᵀ·dout, returned in the stored layouts.
function gradsCpu(a: Float64Array, b: Float64Array, dout: Float64Array, M: number, N: number, K: number, ta: boolean, tb: boolean) {
  // op(B)ᵀ is B itself read as [N,K] when tb, else B [K,N] transposed
  const dA = ta
    ? matmulCpu(b, dout, K, M, N, { transA: tb, transB: true }) // [K,M] = op(B)·doutᵀ
    : matmulCpu(dout, b, M, K, N, { transB: !tb }); // [M,K] = dout·op(B)ᵀ
  const dB = tb
    ? matmulCpu(dout, a, N, K, M, { transA: true, transB: ta }) // [N,K] = doutᵀ·op(A)
    : matmulCpu(a, dout, K, N, M, { transA: !ta }); // [K,N] = op(A)ᵀ·dout
  return { dA, dB, dbias: biasBackwardCpu(dout, M, N) };
}

for (const [ta, tb] of LAYOUTS) {
  t(`reference gradients match float64 finite differences (${name(ta, tb)})`, () => {
    const [M, N, K] = [3, 5, 4];
    const a = randn64(M * K, 1), b = randn64(K * N, 2), bias = randn64(N, 3), dout = randn64(M * N, 4);
    const g = gradsCpu(a, b, dout, M, N, K, ta, tb);
    gradcheck(([x, y, z]) => matmulCpu(x, y, M, N, K, { transA: ta, transB: tb, bias: z }), [a, b, bias], dout, [g.dA, g.dB, g.dbias], `matmul ${name(ta, tb)}`);
  });
}

t('reference batch: each matrix on its own', () => {
  const [M, N, K, B] = [2, 3, 4, 3];
  const a = randn64(B * M * K, 5), b = randn64(B * K * N, 6), bias = randn64(N, 7);
  const all = matmulCpu(a, b, M, N, K, { transB: true, bias, batch: B });
  for (let z = 0; z < B; z++) {
    const one = matmulCpu(a.subarray(z * M * K), b.subarray(z * K * N), M, N, K, { transB: true, bias });
    assertRel(all.subarray(z * M * N, (z + 1) * M * N), one, 1e-15, `batch ${z}`);
  }
});

// ---- GPU against the reference ----

interface Case { M: number; N: number; K: number; ta: boolean; tb: boolean; bias?: boolean; accumulate?: boolean; batch?: number; f16?: 'a' | 'b' | 'ab' }

/** Runs one matmul on the GPU and compares with matmulCpu (+ the initial out when accumulating). */
async function check(g: Gpu, c: Case, seed: number, what = ''): Promise<void> {
  const batch = c.batch ?? 1;
  const as = randn(batch * c.M * c.K, seed), bs = randn(batch * c.K * c.N, seed + 1);
  const biasS = c.bias ? randn(c.N, seed + 2) : undefined;
  const init = randn(batch * c.M * c.N, seed + 3);
  // an f16 operand (a weight kept in f16) holds the f16-rounded values: the reference multiplies those
  const [a16, b16] = [c.f16?.includes('a'), c.f16?.includes('b')];
  const a = g.fromArray(as, [as.length], 'a', a16 ? 'f16' : undefined), b = g.fromArray(bs, [bs.length], 'b', b16 ? 'f16' : undefined);
  const out = g.fromArray(init, [init.length], 'out');
  const bias = biasS ? g.fromArray(biasS, [c.N], 'bias') : undefined;
  const opts: MatmulOptions = { transA: c.ta, transB: c.tb, bias, accumulate: c.accumulate, batch };
  matmul(a, b, out, c.M, c.N, c.K, opts);
  const want = matmulCpu(a16 ? roundF16(as) : as, b16 ? roundF16(bs) : bs, c.M, c.N, c.K, { transA: c.ta, transB: c.tb, bias: biasS, batch });
  if (c.accumulate) for (let i = 0; i < want.length; i++) want[i] += init[i];
  const label = `${name(c.ta, c.tb)} M=${c.M} N=${c.N} K=${c.K}${c.bias ? ' bias' : ''}${c.accumulate ? ' acc' : ''}${batch > 1 ? ` batch=${batch}` : ''}${c.f16 ? ` f16 ${c.f16.toUpperCase()}` : ''}${what}`;
  assertRel(await out.read(), want, 1e-4, label);
  for (const x of [a, b, out, bias]) x?.release();
}

/**
 * Runs `f` with the matmul variant forced (plus tuning overrides), recording which kernels
 * were dispatched so that a test of one variant cannot silently run the other.
 */
async function withVariant(g: Gpu, v: MatmulVariant, f: () => Promise<void>, tuning: Partial<typeof matmulTuning> = {}): Promise<Set<string>> {
  const saved = { ...matmulTuning };
  const dispatch = g.dispatch;
  const used = new Set<string>();
  g.dispatch = (k, o) => {
    used.add(k.name);
    if (o.constants?.TM) used.add(`${k.name} TM=${o.constants.TM} BK=${o.constants.BK}`);
    dispatch.call(g, k, o);
  };
  Object.assign(matmulTuning, tuning, { variant: v });
  try {
    await f();
  } finally {
    Object.assign(matmulTuning, saved);
    g.dispatch = dispatch;
  }
  return used;
}

/**
 * Asserts that the multiplies ran on the variant's kernels (tiny binding limits may add portable
 * ones): the 'cpu' variant's panel kernel (operands packed by matmul_pack) needs subgroups of >= 8,
 * else it is the portable one.
 */
function assertKernels(g: Gpu, v: MatmulVariant, used: Set<string>, title: string): void {
  const mm = [...used].filter((k) => k.startsWith('matmul') && k !== 'matmul_pad');
  if (v === 'tiled') assert.ok(used.has('matmul_tiled') && !used.has('matmul'), `tiled variant ran [${mm}]`);
  else {
    const want = adapterHas(g, 'subgroups8', `matmul "[cpu] ${title}" on the panel kernel (ran matmul_portable)`) ? 'matmul' : 'matmul_portable';
    assert.ok(used.has(want) && !used.has('matmul_tiled'), `cpu variant ran [${mm}], expected ${want}`);
    if (want === 'matmul') assert.ok(used.has('matmul_pack'), `the panel kernel's operands were packed [${mm}]`);
  }
}

/** A test of the GPU multiply with variant `v` forced. */
function vt(v: MatmulVariant, title: string, f: (g: Gpu) => Promise<void>, dispatches = true): void {
  t(`[${v}] ${title}`, async () => {
    const g = await gpu();
    const used = await withVariant(g, v, () => f(g));
    if (dispatches) assertKernels(g, v, used, title);
  });
}

// Not multiples of the 32x32 tile, T=1-like single rows, K not a multiple of 4, long rows
// (operands with unaligned rows go through zero-padded copies).
const SHAPES: [number, number, number][] = [
  [1, 1, 1], [3, 5, 7], [67, 130, 129], [1, 130, 129], [67, 1, 7], [3, 5, 1], [1, 5, 300],
];
// Shapes whose operands are used in place (16-byte aligned rows), still with M/N edges and a k tail for TN.
const ALIGNED: [number, number, number][] = [[64, 64, 64], [67, 132, 128], [68, 36, 129], [4, 4, 4]];


// The whole GPU matrix runs against both kernel families (the tiled one is meant for real
// GPUs; here it runs on lavapipe, slowly but with the same results).
for (const v of ['cpu', 'tiled'] as const) {
  for (const [ta, tb] of LAYOUTS) {
    vt(v, `GPU ${name(ta, tb)} matches reference on edge shapes`, async (g) => {
      let seed = 10;
      for (const [M, N, K] of [...SHAPES, ...ALIGNED]) await check(g, { M, N, K, ta, tb }, seed++);
    });
    vt(v, `GPU ${name(ta, tb)} with bias, accumulate and batch=3`, async (g) => {
      await check(g, { M: 67, N: 130, K: 129, ta, tb, bias: true }, 40);
      await check(g, { M: 68, N: 132, K: 128, ta, tb, bias: true }, 41);
      await check(g, { M: 67, N: 130, K: 129, ta, tb, accumulate: true }, 42);
      await check(g, { M: 64, N: 64, K: 64, ta, tb, accumulate: true, bias: true }, 43);
      await check(g, { M: 33, N: 37, K: 9, ta, tb, batch: 3, bias: true }, 44);
      await check(g, { M: 32, N: 32, K: 32, ta, tb, batch: 3, accumulate: true }, 45);
    });
  }

  t(`[${v}] GPU without subgroups of 8${v === 'cpu' ? ' (portable kernel)' : ''} matches reference`, async () => {
    const g = await gpu();
    const used = await withoutSubgroups8(g, () => withVariant(g, v, async () => {
      let seed = 50;
      for (const [ta, tb] of LAYOUTS) {
        await check(g, { M: 67, N: 130, K: 129, ta, tb, bias: true }, seed++);
        await check(g, { M: 5, N: 3, K: 40, ta, tb, accumulate: true, batch: 2 }, seed++);
      }
    }));
    const want = v === 'cpu' ? 'matmul_portable' : 'matmul_tiled';
    assert.ok(used.has(want) && !used.has('matmul'), `ran [${[...used]}], expected ${want}`);
  });

  vt(v, 'operands as views at unaligned offsets', async (g) => {
    const [M, N, K] = [33, 36, 40];
    let seed = 56;
    for (const [oa, ob, oc] of [[3, 5, 1], [4, 8, 12], [67, 0, 64]]) {
      for (const [ta, tb] of LAYOUTS) {
        const as = randn(M * K, seed++), bs = randn(K * N, seed++);
        // A and B share one buffer; out is a view too
        const buf = g.zeros([oa + M * K + ob + K * N], 'a+b'), cbuf = g.zeros([oc + M * N], 'out');
        const a = buf.view(oa, [M * K], 'a'), b = buf.view(oa + M * K + ob, [K * N], 'b'), out = cbuf.view(oc, [M * N], 'out');
        a.write(as);
        b.write(bs);
        matmul(a, b, out, M, N, K, { transA: ta, transB: tb, bias: a });
        const want = matmulCpu(as, bs, M, N, K, { transA: ta, transB: tb, bias: as });
        assertRel(await out.read(), want, 1e-4, `${name(ta, tb)} views at ${oa}, ${ob}, ${oc}`);
        assert.throws(() => matmul(a, b, buf.view(0, [M * N]), M, N, K), /shares a GPU buffer/);
        buf.release();
        cbuf.release();
      }
    }
  });

  // f16 weights (--dtype f16, a LoRA run's frozen base): the CPU panel path packs an f16 B into its
  // f32 panels as it reads it; everywhere else (and for an f16 A) the operand is widened first
  t(`[${v}] f16 operands: every layout on edge shapes, bias, accumulate, batch, unaligned views, split bindings`, async () => {
    const g = await gpu();
    const used = await withVariant(g, v, async () => {
      let seed = 300;
      for (const [ta, tb] of LAYOUTS) {
        for (const [M, N, K] of [...SHAPES, ...ALIGNED]) await check(g, { M, N, K, ta, tb, f16: 'b' }, seed++);
        await check(g, { M: 67, N: 130, K: 129, ta, tb, bias: true, accumulate: true, f16: 'b' }, seed++);
        await check(g, { M: 33, N: 37, K: 9, ta, tb, batch: 3, bias: true, f16: 'b' }, seed++);
        await check(g, { M: 67, N: 130, K: 129, ta, tb, bias: true, f16: 'a' }, seed++);
        await check(g, { M: 33, N: 37, K: 9, ta, tb, batch: 3, accumulate: true, f16: 'ab' }, seed++);
        await withBindingLimit(g, 8192, () => check(g, { M: 67, N: 130, K: 129, ta, tb, f16: 'ab' }, seed++, ' (split)'));
        await withBindingLimit(g, 8192, () => check(g, { M: 67, N: 130, K: 129, ta, tb, bias: true, accumulate: true, f16: 'b' }, seed++, ' (split)'));
        // B as an f16 view at offsets that are not whole vec4s (nor 256-byte aligned)
        const [M, N, K] = [33, 36, 40];
        for (const ob of [1, 2, 3, 130]) {
          const as = randn(M * K, seed++), bs = randn(K * N, seed++);
          const a = g.fromArray(as, [M * K], 'a'), out = g.tensor([M * N], 'out');
          // B's values at elements ob.. of an f16 buffer, 9s around them
          const b16 = g.fromArray(Float32Array.from({ length: ob + K * N + 3 }, (_, i) => (i >= ob && i < ob + K * N ? bs[i - ob] : 9)), [ob + K * N + 3], 'b16', 'f16');
          matmul(a, b16.view(ob, [K * N], 'b'), out, M, N, K, { transA: ta, transB: tb });
          assertRel(await out.read(), matmulCpu(as, roundF16(bs), M, N, K, { transA: ta, transB: tb }), 1e-4, `${name(ta, tb)} f16 B view at ${ob}`);
          for (const x of [a, b16, out]) x.release();
        }
      }
    });
    if (v === 'tiled' || !adapterHas(g, 'subgroups8', `matmul "[cpu] f16 operands" packed as they are (widened first)`)) assert.ok(used.has('widen_f16'), `widened first [${[...used]}]`);
    else assert.ok(used.has('matmul_pack_f16') && !used.has('widen_f16'), `the f16 operands were packed as they are [${[...used]}]`);
  });

  // ---- operands larger than the storage binding limit ----

  vt(v, 'tied lm_head forward at the real wte size: logits = x · wteᵀ, wte over the binding limit', async (g) => {
    const [R, V, C] = [5, 50257, 768];
    assert.ok(V * C * 4 > DEFAULT_BINDING_LIMIT, 'wte must exceed the binding limit for this test');
    const xs = randn(R * C, 60), ws = randn(V * C, 61, 0.02);
    const x = g.fromArray(xs, [R, C], 'x'), wte = g.fromArray(ws, [V, C], 'wte'), logits = g.tensor([R, V], 'logits');
    const before = g.dispatches;
    await withBindingLimit(g, DEFAULT_BINDING_LIMIT, () => matmul(x, wte, logits, R, V, C, { transB: true }));
    assert.ok(g.dispatches - before >= 2, 'wte is split over several dispatches');
    assertRel(await logits.read(), matmulCpu(xs, ws, R, V, C, { transB: true }), 1e-4, 'logits');
    for (const z of [x, wte, logits]) z.release();
  });

  vt(v, 'lm_head backward pieces split under a lowered binding limit', async (g) => {
    const [R, V, C] = [5, 1001, 64];
    const xs = randn(R * C, 70), ws = randn(V * C, 71), ds = randn(R * V, 72);
    const x = g.fromArray(xs, [R, C], 'x'), wte = g.fromArray(ws, [V, C], 'wte'), dl = g.fromArray(ds, [R, V], 'dlogits');
    const dx0 = randn(R * C, 73), dw0 = randn(V * C, 74);
    const dx = g.fromArray(dx0, [R, C], 'dx'), dwte = g.fromArray(dw0, [V, C], 'dwte'), logits = g.tensor([R, V], 'logits');
    // wte is 256 KB: a 64 KB limit splits N (forward), K (dx) and M (dwte) into several dispatches
    await withBindingLimit(g, 65536, async () => {
      const before = g.dispatches;
      matmul(x, wte, logits, R, V, C, { transB: true });
      matmul(dl, wte, dx, R, C, V, { accumulate: true });
      matmul(dl, x, dwte, V, C, R, { transA: true, accumulate: true });
      assert.ok(g.dispatches - before >= 3 * 4, `expected split dispatches, got ${g.dispatches - before}`);
    });
    assertRel(await logits.read(), matmulCpu(xs, ws, R, V, C, { transB: true }), 1e-4, 'logits');
    assertRel(await dx.read(), matmulCpu(ds, ws, R, C, V).map((v, i) => v + dx0[i]), 1e-4, 'dx += dlogits·wte');
    assertRel(await dwte.read(), matmulCpu(ds, xs, V, C, R, { transA: true }).map((v, i) => v + dw0[i]), 1e-4, 'dwte += dlogitsᵀ·x');
    for (const z of [x, wte, dl, dx, dwte, logits]) z.release();
  });

  vt(v, 'every layout with bias, accumulate and batch under a tiny binding limit', async (g) => {
    await withBindingLimit(g, 8192, async () => {
      let seed = 80;
      for (const [ta, tb] of LAYOUTS) {
        await check(g, { M: 67, N: 130, K: 129, ta, tb, bias: true, accumulate: true }, seed++, ' (split)');
        await check(g, { M: 9, N: 40, K: 64, ta, tb, bias: true, batch: 3 }, seed++, ' (split)');
      }
    });
  });

  vt(v, 'a binding limit too small to split throws naming the shapes', async (g) => {
    const a = g.zeros([16], 'a'), b = g.zeros([16], 'b'), out = g.zeros([16], 'out');
    try {
      await withBindingLimit(g, 256, async () => {
        assert.throws(() => matmul(a, b, out, 4, 4, 4), /matmul\(M=4, N=4, K=4\)/);
      });
    } finally {
      for (const z of [a, b, out]) z.release();
    }
    assert.throws(() => matmul(a, b, out, 5, 4, 4), /needs 20/);
  }, false);
}

/** The k-step the tiled kernel uses for a requested one: halved until its 16*rows x 64 tiles fit the adapter's workgroup storage. */
function fittedBK(g: Gpu, rows: number, bk: number): number {
  while (bk > 4 && (16 * rows + 64) * bk * 4 > g.limits.maxComputeWorkgroupStorageSize) bk /= 2;
  return bk;
}

// The tiled kernel's other tile shapes (the matrix above gets 64x64 tiles and k-steps of 16).
// A k-step of 64 with 128-row tiles needs 48 KiB of workgroup storage: lavapipe and SwiftShader have 32 KiB and get 32.
for (const [rows, bk] of [[8, 16], [4, 4], [4, 32], [8, 64]] as const) {
  t(`[tiled] ${rows * 16}x64 tiles, k-steps of ${bk}: every layout, edges, bias, accumulate, batch`, async () => {
    const g = await gpu();
    const usedBK = fittedBK(g, rows, bk);
    const used = await withVariant(g, 'tiled', async () => {
      let seed = 100;
      for (const [ta, tb] of LAYOUTS) {
        for (const [M, N, K] of [[1, 5, 300], [67, 130, 129], [130, 70, 36], [128, 64, 32]]) await check(g, { M, N, K, ta, tb }, seed++);
        await check(g, { M: 129, N: 65, K: 33, ta, tb, bias: true, accumulate: true, batch: 2 }, seed++);
      }
    }, { tiledRows: rows, tiledBK: bk });
    assert.equal([...used].filter((k) => k.startsWith('matmul_tiled ')), [`matmul_tiled TM=${rows} BK=${usedBK}`]);
  });
}

t('[tiled] automatic tiles: 128 rows from M=512 once the grid has at least 256 workgroups', async () => {
  const g = await gpu();
  const used = await withVariant(g, 'tiled', async () => {
    await check(g, { M: 1024, N: 512, K: 5, ta: false, tb: true, bias: true, batch: 4 }, 120);
    await check(g, { M: 1024, N: 512, K: 5, ta: true, tb: false }, 121);
    await check(g, { M: 5, N: 50000, K: 3, ta: false, tb: false }, 122);
  });
  assert.equal([...used].filter((k) => k.startsWith('matmul_tiled ')), ['matmul_tiled TM=8 BK=16', 'matmul_tiled TM=4 BK=16']);
});

// A weight that decode keeps packed (matvec on a CPU adapter) is not packed again by a matmul
// that multiplies by all of it (prefill after decode), while the copy is current: after a write
// to the weight, matmul packs it as it is again (and never keeps a copy of its own).
t('[cpu] matmul reuses the packed copy decode keeps of a weight, while the weight is unchanged', async () => {
  const g = await gpu();
  if (!adapterHas(g, 'cpuSubgroups8', 'matmul reusing packed weights')) return;
  const [M, K, N, V] = [12, 40, 36, 50];
  const x = randn(M * K, 101), w = randn(K * N, 102), w2 = randn(K * N, 103), e = randn(V * K, 104);
  const tx = g.fromArray(x, [M, K], 'x'), tw = g.fromArray(w, [K, N], 'w'), te = g.fromArray(e, [V, K], 'wte');
  const out = g.tensor([M, N], 'out'), logits = g.tensor([M, V], 'logits');
  const packs = async (f: () => void) => (await kernelsRun(g, f)).get('matmul_pack.main') ?? 0;
  assert.is(await packs(() => matmul(tx, tw, out, M, N, K)), 2, 'no copy yet: A and B packed');
  assert.is(await packs(() => matmul(tx, tw, out, M, N, K)), 2, 'matmul keeps no copy of its own');
  await packs(() => matvec(tx, tw, out, 1, K, N)); // decode packs and keeps w
  await packs(() => matvecT(tx, te, logits, 1, V, K)); // and wte (rows along k: transB)
  assert.is(await packs(() => matmul(tx, tw, out, M, N, K)), 1, 'B from the kept copy');
  assertRel(await out.read(), matmulCpu(x, w, M, N, K), 1e-5, 'B from the kept copy');
  assert.is(await packs(() => matmul(tx, te, logits, M, V, K, { transB: true })), 1, 'transposed B from the kept copy');
  assertRel(await logits.read(), matmulCpu(x, e, M, V, K, { transB: true }), 1e-5, 'transposed B from the kept copy');
  const xh = g.fromArray(x.subarray(0, (M * K) / 2), [M, K / 2], 'x half'); // w's first K/2 rows as B: not the kept shape
  assert.is(await packs(() => matmul(xh, tw, out, M, N, K / 2)), 2, 'part of w: packed');
  assertRel(await out.read(), matmulCpu(x.subarray(0, (M * K) / 2), w.subarray(0, (K * N) / 2), M, N, K / 2), 1e-5, 'part of w');
  xh.release();
  tw.write(w2);
  assert.is(await packs(() => matmul(tx, tw, out, M, N, K)), 2, 'after a write: packed again');
  assertRel(await out.read(), matmulCpu(x, w2, M, N, K), 1e-5, 'after a write');
  [tx, tw, te, out, logits].forEach((z) => z.release());
});

// ---- bias gradient ----

for (const [M, N] of [[1, 1], [3, 5], [67, 130], [1000, 7], [2, 768]] as const) {
  t(`GPU bias backward M=${M} N=${N} accumulates the column sums`, async () => {
    const g = await gpu();
    const ds = randn(M * N, 90 + M), d0 = randn(N, 91);
    const dout = g.fromArray(ds, [M, N], 'dout'), db = g.fromArray(d0, [N], 'dbias');
    matmulBiasBackward(dout, db, M, N);
    assertRel(await db.read(), biasBackwardCpu(ds, M, N).map((v, i) => v + d0[i]), 1e-5, 'dbias');
    dout.release();
    db.release();
  });
}

t('GPU bias backward split by rows under a lowered binding limit', async () => {
  const g = await gpu();
  const [M, N] = [300, 37];
  const ds = randn(M * N, 95);
  const dout = g.fromArray(ds, [M, N], 'dout'), db = g.zeros([N], 'dbias');
  await withBindingLimit(g, 4096, async () => matmulBiasBackward(dout, db, M, N));
  assertRel(await db.read(), biasBackwardCpu(ds, M, N), 1e-5, 'dbias (split)');
  dout.release();
  db.release();
});

t.run();
