import { suite } from 'uvu';
import { matvec, matvecCpu, matvecT, matvecTCpu } from '../src/ops/matvec.ts';
import { assertRel, DEFAULT_BINDING_LIMIT, gpu, randn, withBindingLimit } from './util.ts';

const t = suite('matvec');

for (const [K, N] of [[4, 4], [12, 20], [768, 2304], [3072, 768], [132, 4]]) {
  t(`matvec K=${K} N=${N}, with and without bias`, async () => {
    const g = await gpu();
    const x = randn(K, 1), w = randn(K * N, 2), b = randn(N, 3);
    const tx = g.fromArray(x, [K], 'x'), tw = g.fromArray(w, [K, N], 'w'), tb = g.fromArray(b, [N], 'b'), out = g.tensor([N], 'out');
    matvec(tx, tw, out, K, N, tb);
    assertRel(await out.read(), matvecCpu(x, w, K, N, b), 1e-5, 'with bias');
    matvec(tx, tw, out, K, N);
    assertRel(await out.read(), matvecCpu(x, w, K, N), 1e-5, 'no bias');
    [tx, tw, tb, out].forEach((z) => z.release());
  });
}

// GPT-2's wte is over WebGPU's default binding limit (a GPU's may be larger: the test lowers it)
for (const [R, K, limit] of [[1, 4, 0], [37, 16, 0], [1000, 68, 40000], [50257, 768, DEFAULT_BINDING_LIMIT]]) {
  t(`matvecT R=${R} K=${K}${limit ? ` (binding limit ${limit} bytes: row chunks)` : ''}`, async () => {
    const g = await gpu();
    const x = randn(K, 4), w = randn(R * K, 5);
    const tx = g.fromArray(x, [K], 'x'), tw = g.fromArray(w, [R, K], 'w'), out = g.tensor([R], 'out');
    await withBindingLimit(g, limit || g.bindingLimit, () => matvecT(tx, tw, out, R, K));
    assertRel(await out.read(), matvecTCpu(x, w, R, K), 1e-5, 'matvecT');
    [tx, tw, out].forEach((z) => z.release());
  });
}

t.run();
