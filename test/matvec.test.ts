import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Gpu } from '../src/gpu/index.ts';
import { matvec, matvecCpu, matvecOptions, matvecPanelCopies, matvecT, matvecTCpu } from '../src/ops/matvec.ts';
import { roundF16 } from '../src/util/f16.ts';
import { adapterHas, assertRel, maxRelErr, DEFAULT_BINDING_LIMIT, gpu, kernelsRun, randn, withBindingLimit } from './util.ts';

const t = suite('matvec');

// The kernel families: 'panels' (f32 weights packed into a texture, CPU adapters with subgroups
// of 8), 'subgroup' (matvec_sg / matvec_t_sg), 'plain'. Each runs where the adapter has what it
// needs; else the next one down does (and the test says so at the end).
type Family = 'panels' | 'subgroup' | 'plain';
const families = (subgroups: boolean): Family[] => (subgroups ? ['panels', 'subgroup'] : ['plain']);
async function withFamily<T>(family: Family, f: () => Promise<T>): Promise<T> {
  const saved = { ...matvecOptions };
  matvecOptions.panels = family === 'panels';
  matvecOptions.subgroups = family !== 'plain';
  try {
    return await f();
  } finally {
    Object.assign(matvecOptions, saved);
  }
}
/**
 * The kernels `f` ran are `family`'s (where the adapter has it). A binding limit under a few
 * panels leaves the weight unpacked (`packs` false): the subgroup kernels run instead; so does
 * the plain kernel for a single row of matvec (faster there).
 */
async function assertFamily(g: Gpu, family: Family, title: string, f: () => unknown, o: { packs?: boolean; oneRow?: boolean } = {}): Promise<void> {
  const ran = [...(await kernelsRun(g, f)).keys()].join(' ');
  const panels = family === 'panels' && o.packs !== false;
  if (panels && adapterHas(g, 'cpuSubgroups8', title)) assert.match(ran, /matvec_panels/, `panel kernel ran: ${ran}`);
  if (panels) return;
  assert.not.match(ran, /matvec_panels/, `no panel kernel: ${ran}`);
  if (family !== 'plain' && !o.oneRow && adapterHas(g, 'subgroups8', title)) assert.match(ran, /_sg/, `subgroup kernel ran: ${ran}`);
  if (family === 'plain' || o.oneRow) assert.not.match(ran, /_sg/, `plain kernel ran: ${ran}`);
}
/**
 * Whether a binding limit (0: the adapter's) leaves packWeight room for one panel per chunk: its
 * packed floats, and its span of w with the 256 bytes range() may bind before it (every column
 * of w with `trans`). Tests lower the limit.
 */
function packs(limit: number, K: number, N: number, trans: boolean, eb = 4): boolean {
  const slack = 256 / eb + 8;
  return !limit || (limit >= 32 * Math.ceil(K / 4) * 16 && limit >= ((trans ? K * N : 32 * K) + slack) * eb);
}

// M rows: 1 (chat), 3, 8 (one dispatch), 11 (8 + 3); limit: a lowered binding limit splits W
// into row chunks (the subgroup and plain kernels), or its packing into chunks of panels (52000)
const cases: [number, number, number, number, boolean][] = [
  [1, 4, 4, 0, true], [3, 12, 20, 0, true], [8, 768, 2304, 0, true], [1, 3072, 768, 0, true], [11, 132, 4, 0, true], [5, 36, 8, 0, true],
  [3, 64, 24, 1536, true], [8, 40, 12, 1280, true], [3, 64, 200, 52000, true], [1, 12, 20, 0, false], [8, 132, 24, 0, false], [3, 64, 24, 1536, false],
];
for (const [M, K, N, limit, subgroups] of cases) for (const family of families(subgroups)) {
  const title = `[${family}] matvec M=${M} K=${K} N=${N}, with and without bias${limit ? ` (binding limit ${limit} bytes: W in row chunks)` : ''}`;
  t(title, async () => {
    const g = await gpu();
    const x = randn(M * K, 1), w = randn(K * N, 2), b = randn(N, 3);
    const tx = g.fromArray(x, [M, K], 'x'), tw = g.fromArray(w, [K, N], 'w'), tb = g.fromArray(b, [N], 'b'), out = g.tensor([M, N], 'out');
    await withFamily(family, async () => {
      await assertFamily(g, family, title, () => withBindingLimit(g, limit || g.bindingLimit, () => matvec(tx, tw, out, M, K, N, tb)), { packs: packs(limit, K, N, true), oneRow: M === 1 });
      assertRel(await out.read(), matvecCpu(x, w, M, K, N, b), 1e-5, 'with bias');
      await withBindingLimit(g, limit || g.bindingLimit, () => matvec(tx, tw, out, M, K, N));
      assertRel(await out.read(), matvecCpu(x, w, M, K, N), 1e-5, 'no bias');
    });
    [tx, tw, tb, out].forEach((z) => z.release());
  });
}

// GPT-2's wte is over WebGPU's default binding limit (a GPU's may be larger: the test lowers it)
const tCases: [number, number, number, number, boolean][] = [
  [1, 1, 4, 0, true], [3, 37, 16, 0, true], [8, 1000, 68, 40000, true], [8, 50257, 768, DEFAULT_BINDING_LIMIT, true], [10, 130, 64, 8192, true],
  [10, 130, 64, 16384, true], [2, 70, 12, 0, true], [1, 37, 16, 0, false], [8, 1000, 68, 40000, false],
];
for (const [M, R, K, limit, subgroups] of tCases) for (const family of families(subgroups)) {
  const title = `[${family}] matvecT M=${M} R=${R} K=${K}${limit ? ` (binding limit ${limit} bytes: row chunks)` : ''}`;
  t(title, async () => {
    const g = await gpu();
    const x = randn(M * K, 4), w = randn(R * K, 5);
    const tx = g.fromArray(x, [M, K], 'x'), tw = g.fromArray(w, [R, K], 'w'), out = g.tensor([M, R], 'out');
    await withFamily(family, () => assertFamily(g, family, title, () => withBindingLimit(g, limit || g.bindingLimit, () => matvecT(tx, tw, out, M, R, K)), { packs: packs(limit, K, R, false) }));
    assertRel(await out.read(), matvecTCpu(x, w, M, R, K), 1e-5, 'matvecT');
    [tx, tw, out].forEach((z) => z.release());
  });
}

// The packed copy is made once and made again whenever the weight is written (an upload, a
// copy into it, a kernel writing it: training between chats), never read stale.
t('[panels] the packed weight is reused, and packed again after each kind of write to the weight', async () => {
  const g = await gpu();
  if (!adapterHas(g, 'cpuSubgroups8', 'matvec panels: repacking')) return;
  const [M, K, N] = [3, 40, 36];
  const x = randn(M * K, 6), w = randn(K * N, 7), w2 = randn(K * N, 8);
  const tx = g.fromArray(x, [M, K], 'x'), tw = g.fromArray(w, [K, N], 'w'), src = g.fromArray(w2, [K * N], 'w2'), out = g.tensor([M, N], 'out');
  const packs = async () => (await kernelsRun(g, () => matvec(tx, tw, out, M, K, N))).get('matmul_pack.main') ?? 0;
  assert.ok((await packs()) > 0, 'packed on first use');
  assertRel(await out.read(), matvecCpu(x, w, M, K, N), 1e-5, 'first');
  assert.is(await packs(), 0, 'reused');
  assertRel(await out.read(), matvecCpu(x, w, M, K, N), 1e-5, 'reused');
  tw.write(w2); // an upload
  assert.ok((await packs()) > 0, 'packed after an upload');
  assertRel(await out.read(), matvecCpu(x, w2, M, K, N), 1e-5, 'after an upload');
  g.copy(tx, tw, M * K); // a copy into it: w's first M*K values become x's
  const w3 = Float32Array.from(w2);
  w3.set(x);
  assert.ok((await packs()) > 0, 'packed after a copy');
  assertRel(await out.read(), matvecCpu(x, w3, M, K, N), 1e-5, 'after a copy');
  g.fill0(tw);
  assert.ok((await packs()) > 0, 'packed after a clear');
  assert.equal(Array.from(await out.read()), new Array(M * N).fill(0), 'after a clear');
  matvec(tx, src.view(0, [K, N]), tw, M, K, N); // a kernel writing it (its first M*N values)
  const w4 = new Float32Array(K * N);
  w4.set(new Float32Array(matvecCpu(x, w2, M, K, N)));
  assert.ok((await packs()) > 0, 'packed after a kernel wrote it');
  assertRel(await out.read(), matvecCpu(x, w4, M, K, N), 1e-5, 'after a kernel wrote it');
  // released: the copy goes back with it, and a product with it is refused
  assert.ok(g.keptBytes(tw) > 0, 'a copy is kept');
  tw.release();
  assert.is(g.keptBytes(tw), 0, 'the copy went back to the pool');
  assert.throws(() => matvec(tx, tw, out, M, K, N), /used after release/);
  [tx, src, out].forEach((z) => z.release());
});

// f16 weights (inference): the reference is the same float64 loops over the f16-rounded weights,
// so the tolerance is the f32 one (f32 arithmetic, only the weights are rounded). Edge shapes:
// K/4 not a multiple of 8 (the _sg kernels' blocks of x), several row groups, W in row chunks
// (offsets of 2-byte elements), an odd R for matvecT; every family (the panel one packs the f16
// weight with matmul_pack's f16 variant).
const f16Cases: [number, number, number, number, boolean][] = [
  [1, 12, 20, 0, true], [3, 36, 8, 0, true], [8, 132, 24, 0, true], [11, 132, 4, 0, true], [1, 768, 3072, 0, true],
  [3, 64, 24, 1536, true], [8, 40, 24, 1280, true], [1, 12, 20, 0, false], [8, 132, 24, 0, false], [3, 64, 24, 1536, false],
];
/** the f16 kernels ran: matmul_pack's f16 variant (then matvec_panels) or the f16 variants of the others */
async function assertF16(g: Gpu, family: Family, packed: boolean, f: () => unknown): Promise<void> {
  const ran = [...(await kernelsRun(g, f)).keys()];
  if (family === 'panels' && packed && matvecPanelCopies(g)) assert.equal(ran, ['matmul_pack_f16.main', 'matvec_panels.main'], `${ran}`);
  else assert.ok(ran.length > 0 && ran.every((k) => k.includes('_f16')), `f16 kernels ran: ${ran}`);
}
for (const [M, K, N, limit, subgroups] of f16Cases) for (const family of families(subgroups)) {
  const name = `[${family}] matvec f16 weights M=${M} K=${K} N=${N}${limit ? ` (binding limit ${limit} bytes: W in row chunks)` : ''}`;
  t(name, async () => {
    const g = await gpu();
    const x = randn(M * K, 1), w = randn(K * N, 2, 0.1), b = randn(N, 3);
    const tx = g.fromArray(x, [M, K], 'x'), tw = g.fromArray(w, [K, N], 'w', 'f16'), tb = g.fromArray(b, [N], 'b'), out = g.tensor([M, N], 'out');
    const wh = roundF16(w);
    await withFamily(family, async () => {
      await assertF16(g, family, packs(limit, K, N, true, 2), () => withBindingLimit(g, limit || g.bindingLimit, () => matvec(tx, tw, out, M, K, N, tb)));
      assertRel(await out.read(), matvecCpu(x, wh, M, K, N, b), 1e-5, 'with bias');
      await withBindingLimit(g, limit || g.bindingLimit, () => matvec(tx, tw, out, M, K, N));
      assertRel(await out.read(), matvecCpu(x, wh, M, K, N), 1e-5, 'no bias');
      // and the rounding is visible: the f32 weights give a different product (the test would catch f32 weights)
      assert.ok(maxRelErr(await out.read(), matvecCpu(x, w, M, K, N)) > 1e-5, 'f16 rounding changed nothing');
    });
    [tx, tw, tb, out].forEach((z) => z.release());
  });
}

const tF16Cases: [number, number, number, number, boolean][] = [
  [1, 1, 4, 0, true], [3, 37, 16, 0, true], [8, 1001, 68, 40000, true], [10, 131, 36, 8192, true], [2, 70, 12, 0, true],
  [1, 37, 16, 0, false], [8, 1001, 68, 40000, false],
];
for (const [M, R, K, limit, subgroups] of tF16Cases) for (const family of families(subgroups)) {
  const name = `[${family}] matvecT f16 weights M=${M} R=${R} K=${K}${limit ? ` (binding limit ${limit} bytes: row chunks)` : ''}`;
  t(name, async () => {
    const g = await gpu();
    const x = randn(M * K, 4), w = randn(R * K, 5, 0.1);
    const tx = g.fromArray(x, [M, K], 'x'), tw = g.fromArray(w, [R, K], 'w', 'f16'), out = g.tensor([M, R], 'out');
    await withFamily(family, () => assertF16(g, family, packs(limit, K, R, false, 2), () => withBindingLimit(g, limit || g.bindingLimit, () => matvecT(tx, tw, out, M, R, K))));
    assertRel(await out.read(), matvecTCpu(x, roundF16(w), M, R, K), 1e-5, 'matvecT');
    [tx, tw, out].forEach((z) => z.release());
  });
}

t('f16 tensors: stored rounded to nearest even, read back exactly; odd sizes and views', async () => {
  const g = await gpu();
  const a = randn(37, 9, 3);
  const tw = g.fromArray(a, [37], 'w', 'f16');
  assert.is(tw.bytes, 74);
  assert.equal(Array.from(await tw.read()), Array.from(roundF16(a)));
  assert.equal(Array.from(await tw.view(2, [10]).read()), Array.from(roundF16(a.subarray(2, 12))));
  tw.release();
});

t.run();
