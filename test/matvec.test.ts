import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { matvec, matvecCpu, matvecOptions, matvecT, matvecTCpu } from '../src/ops/matvec.ts';
import { roundF16 } from '../src/util/f16.ts';
import { assertRel, maxRelErr, DEFAULT_BINDING_LIMIT, gpu, kernelsRun, randn, withBindingLimit } from './util.ts';

const t = suite('matvec');

// M rows: 1 (chat), 3, 8 (one dispatch), 11 (8 + 3); limit: a lowered binding limit splits W into row chunks
const cases: [number, number, number, number, boolean][] = [
  [1, 4, 4, 0, true], [3, 12, 20, 0, true], [8, 768, 2304, 0, true], [1, 3072, 768, 0, true], [11, 132, 4, 0, true], [5, 36, 8, 0, true],
  [3, 64, 24, 1536, true], [8, 40, 12, 1280, true], [1, 12, 20, 0, false], [8, 132, 24, 0, false], [3, 64, 24, 1536, false],
];
for (const [M, K, N, limit, subgroups] of cases) {
  t(`matvec M=${M} K=${K} N=${N}, with and without bias${limit ? ` (binding limit ${limit} bytes: W in row chunks)` : ''}${subgroups ? '' : ' (plain kernel)'}`, async () => {
    const g = await gpu();
    matvecOptions.subgroups = subgroups;
    const x = randn(M * K, 1), w = randn(K * N, 2), b = randn(N, 3);
    const tx = g.fromArray(x, [M, K], 'x'), tw = g.fromArray(w, [K, N], 'w'), tb = g.fromArray(b, [N], 'b'), out = g.tensor([M, N], 'out');
    try {
      await withBindingLimit(g, limit || g.bindingLimit, () => matvec(tx, tw, out, M, K, N, tb));
      assertRel(await out.read(), matvecCpu(x, w, M, K, N, b), 1e-5, 'with bias');
      await withBindingLimit(g, limit || g.bindingLimit, () => matvec(tx, tw, out, M, K, N));
      assertRel(await out.read(), matvecCpu(x, w, M, K, N), 1e-5, 'no bias');
    } finally {
      matvecOptions.subgroups = true;
    }
    [tx, tw, tb, out].forEach((z) => z.release());
  });
}

// GPT-2's wte is over WebGPU's default binding limit (a GPU's may be larger: the test lowers it)
const tCases: [number, number, number, number, boolean][] = [
  [1, 1, 4, 0, true], [3, 37, 16, 0, true], [8, 1000, 68, 40000, true], [8, 50257, 768, DEFAULT_BINDING_LIMIT, true], [10, 130, 64, 8192, true],
  [2, 70, 12, 0, true], [1, 37, 16, 0, false], [8, 1000, 68, 40000, false],
];
for (const [M, R, K, limit, subgroups] of tCases) {
  t(`matvecT M=${M} R=${R} K=${K}${limit ? ` (binding limit ${limit} bytes: row chunks)` : ''}${subgroups ? '' : ' (plain kernel)'}`, async () => {
    const g = await gpu();
    matvecOptions.subgroups = subgroups;
    const x = randn(M * K, 4), w = randn(R * K, 5);
    const tx = g.fromArray(x, [M, K], 'x'), tw = g.fromArray(w, [R, K], 'w'), out = g.tensor([M, R], 'out');
    try {
      await withBindingLimit(g, limit || g.bindingLimit, () => matvecT(tx, tw, out, M, R, K));
      assertRel(await out.read(), matvecTCpu(x, w, M, R, K), 1e-5, 'matvecT');
    } finally {
      matvecOptions.subgroups = true;
    }
    [tx, tw, out].forEach((z) => z.release());
  });
}

// f16 weights (inference): the reference is the same float64 loops over the f16-rounded weights,
// so the tolerance is the f32 one (f32 arithmetic, only the weights are rounded). Edge shapes:
// K/4 not a multiple of 8 (the _sg kernels' blocks of x), several row groups, W in row chunks
// (offsets of 2-byte elements), an odd R for matvecT; the plain kernels too.
const f16Cases: [number, number, number, number, boolean][] = [
  [1, 12, 20, 0, true], [3, 36, 8, 0, true], [8, 132, 24, 0, true], [11, 132, 4, 0, true], [1, 768, 3072, 0, true],
  [3, 64, 24, 1536, true], [8, 40, 24, 1280, true], [1, 12, 20, 0, false], [8, 132, 24, 0, false], [3, 64, 24, 1536, false],
];
for (const [M, K, N, limit, subgroups] of f16Cases) {
  const name = `matvec f16 weights M=${M} K=${K} N=${N}${limit ? ` (binding limit ${limit} bytes: W in row chunks)` : ''}${subgroups ? '' : ' (plain kernel)'}`;
  t(name, async () => {
    const g = await gpu();
    matvecOptions.subgroups = subgroups;
    const x = randn(M * K, 1), w = randn(K * N, 2, 0.1), b = randn(N, 3);
    const tx = g.fromArray(x, [M, K], 'x'), tw = g.fromArray(w, [K, N], 'w', 'f16'), tb = g.fromArray(b, [N], 'b'), out = g.tensor([M, N], 'out');
    const wh = roundF16(w);
    try {
      const ran = await kernelsRun(g, () => withBindingLimit(g, limit || g.bindingLimit, () => matvec(tx, tw, out, M, K, N, tb)));
      assert.ok([...ran.keys()].every((k) => k.includes('_f16')), `f16 kernels ran: ${[...ran.keys()]}`);
      assertRel(await out.read(), matvecCpu(x, wh, M, K, N, b), 1e-5, 'with bias');
      await withBindingLimit(g, limit || g.bindingLimit, () => matvec(tx, tw, out, M, K, N));
      assertRel(await out.read(), matvecCpu(x, wh, M, K, N), 1e-5, 'no bias');
      // and the rounding is visible: the f32 weights give a different product (the test would catch f32 weights)
      assert.ok(maxRelErr(await out.read(), matvecCpu(x, w, M, K, N)) > 1e-5, 'f16 rounding changed nothing');
    } finally {
      matvecOptions.subgroups = true;
    }
    [tx, tw, tb, out].forEach((z) => z.release());
  });
}

const tF16Cases: [number, number, number, number, boolean][] = [
  [1, 1, 4, 0, true], [3, 37, 16, 0, true], [8, 1001, 68, 40000, true], [10, 131, 36, 8192, true], [2, 70, 12, 0, true],
  [1, 37, 16, 0, false], [8, 1001, 68, 40000, false],
];
for (const [M, R, K, limit, subgroups] of tF16Cases) {
  const name = `matvecT f16 weights M=${M} R=${R} K=${K}${limit ? ` (binding limit ${limit} bytes: row chunks)` : ''}${subgroups ? '' : ' (plain kernel)'}`;
  t(name, async () => {
    const g = await gpu();
    matvecOptions.subgroups = subgroups;
    const x = randn(M * K, 4), w = randn(R * K, 5, 0.1);
    const tx = g.fromArray(x, [M, K], 'x'), tw = g.fromArray(w, [R, K], 'w', 'f16'), out = g.tensor([M, R], 'out');
    try {
      const ran = await kernelsRun(g, () => withBindingLimit(g, limit || g.bindingLimit, () => matvecT(tx, tw, out, M, R, K)));
      assert.ok([...ran.keys()].every((k) => k.includes('_f16')), `f16 kernels ran: ${[...ran.keys()]}`);
      assertRel(await out.read(), matvecTCpu(x, roundF16(w), M, R, K), 1e-5, 'matvecT');
    } finally {
      matvecOptions.subgroups = true;
    }
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
