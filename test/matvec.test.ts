import { suite } from 'uvu';
import { matvec, matvecCpu, matvecOptions, matvecT, matvecTCpu } from '../src/ops/matvec.ts';
import { assertRel, DEFAULT_BINDING_LIMIT, gpu, randn, withBindingLimit } from './util.ts';

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

t.run();
