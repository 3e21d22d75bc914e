import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { layernormBackward, layernormBackwardCpu, layernormForward, layernormForwardCpu } from '../src/ops/layernorm.ts';
import { assertRel, gpu, gradcheck, randn, randn64, withBindingLimit } from './util.ts';

const t = suite('layernorm');
const EPS = 1e-5;

t('reference backward matches float64 finite differences (inp, weight, bias)', () => {
  const N = 3, C = 7;
  const x = randn64(N * C, 1, 2).map((v) => v + 3);
  const w = randn64(C, 2), b = randn64(C, 3);
  const dout = randn64(N * C, 4);
  const { dinp, dweight, dbias } = layernormBackwardCpu(dout, x, w, N, C, EPS);
  gradcheck(([xx, ww, bb]) => layernormForwardCpu(xx, ww, bb, N, C, EPS).out, [x, w, b], dout, [dinp, dweight, dbias], 'layernorm');
});

t('reference forward normalizes rows (mean 0, biased variance 1 with unit weight)', () => {
  const C = 6;
  const { out, mean, rstd } = layernormForwardCpu([1, 2, 3, 4, 5, 9], new Float64Array(C).fill(1), new Float64Array(C), 1, C, 0);
  assert.ok(Math.abs(mean[0] - 4) < 1e-12);
  assert.ok(Math.abs(rstd[0] - 1 / Math.sqrt(40 / 6)) < 1e-12);
  assert.ok(Math.abs(out.reduce((s, v) => s + v * v, 0) / C - 1) < 1e-12);
});

/** GPU forward + backward (onto non-zero grads) vs the float64 reference. `offset` shifts the rows' mean. */
async function check(N: number, C: number, seed: number, offset = 0): Promise<void> {
  const g = await gpu();
  const xs = randn(N * C, seed, 1.5).map((v) => v + offset);
  const ws = randn(C, seed + 1).map((v) => v + 1), bs = randn(C, seed + 2);
  const ds = randn(N * C, seed + 3);
  const x = g.fromArray(xs, [N, C], 'x'), w = g.fromArray(ws, [C], 'w'), b = g.fromArray(bs, [C], 'b');
  const d = g.fromArray(ds, [N, C], 'dout');
  const y = g.tensor([N, C], 'y'), mean = g.tensor([N], 'mean'), rstd = g.tensor([N], 'rstd');
  // gradients start non-zero: backward must add
  const dx0 = randn(N * C, seed + 4, 0.5), dw0 = randn(C, seed + 5, 0.5), db0 = randn(C, seed + 6, 0.5);
  const dx = g.fromArray(dx0, [N, C], 'dx'), dw = g.fromArray(dw0, [C], 'dw'), db = g.fromArray(db0, [C], 'db');
  try {
    layernormForward(x, w, b, y, mean, rstd, N, C, EPS);
    layernormBackward(d, x, w, mean, rstd, dx, dw, db, N, C);
    const ref = layernormForwardCpu(xs, ws, bs, N, C, EPS);
    assertRel(await y.read(), ref.out, 1e-5, 'out');
    assertRel(await mean.read(), ref.mean, 1e-5, 'mean');
    assertRel(await rstd.read(), ref.rstd, 1e-5, 'rstd');
    const gr = layernormBackwardCpu(ds, xs, ws, N, C, EPS);
    assertRel(await dx.read(), gr.dinp.map((v, i) => v + dx0[i]), 1e-4, 'dinp');
    assertRel(await dw.read(), gr.dweight.map((v, i) => v + dw0[i]), 1e-4, 'dweight');
    assertRel(await db.read(), gr.dbias.map((v, i) => v + db0[i]), 1e-4, 'dbias');
  } finally {
    for (const z of [x, w, b, d, y, mean, rstd, dx, dw, db]) z.release();
  }
}

// odd numbers of vec4 per row (20, 132) leave lanes idle
for (const [N, C] of [[1, 768], [1, 8], [3, 20], [67, 132], [130, 768], [5, 4], [11, 12], [19, 36]]) {
  t(`GPU matches reference, N=${N} C=${C}`, () => check(N, C, 10 + N + C));
}
t('GPU matches reference with a large row mean (two-pass variance), N=20 C=768', () => check(20, 768, 50, 30));
t('GPU matches reference over more than 65535 workgroups (2-D grid), N=530000 C=4', () => check(530000, 4, 61));

t('rejects C that is not a multiple of 4', async () => {
  const g = await gpu();
  const x = g.tensor([2, 6], 'x'), w = g.tensor([6], 'w'), stats = g.tensor([2], 'stats');
  assert.throws(() => layernormForward(x, w, w, x, stats, stats, 2, 6, EPS), /layernormForward: C=6 must be a multiple of 4/);
  assert.throws(() => layernormBackward(x, x, w, stats, stats, x, w, w, 2, 6), /layernormBackward: C=6 must be a multiple of 4/);
  for (const z of [x, w, stats]) z.release();
});

for (const C of [20, 12]) {
  t(`GPU matches reference with rows split over a lowered binding limit, N=300 C=${C}`, async () => {
    const g = await gpu();
    await withBindingLimit(g, 128 * C * 4, () => check(300, C, 70)); // 128-row chunks: 3 of them
  });
}

t('weight/bias gradients are deterministic (bitwise) across runs', async () => {
  const g = await gpu();
  const N = 200, C = 72;
  const x = g.fromArray(randn(N * C, 80), [N, C], 'x'), w = g.fromArray(randn(C, 81), [C], 'w'), b = g.fromArray(randn(C, 82), [C], 'b');
  const d = g.fromArray(randn(N * C, 83), [N, C], 'dout');
  const y = g.tensor([N, C], 'y'), mean = g.tensor([N], 'mean'), rstd = g.tensor([N], 'rstd');
  layernormForward(x, w, b, y, mean, rstd, N, C, EPS);
  const runs: Float32Array[] = [];
  for (let k = 0; k < 2; k++) {
    const dx = g.zeros([N, C], 'dx'), dw = g.zeros([C], 'dw'), db = g.zeros([C], 'db');
    layernormBackward(d, x, w, mean, rstd, dx, dw, db, N, C);
    runs.push(new Float32Array([...(await dw.read()), ...(await db.read()), ...(await dx.read())]));
    for (const z of [dx, dw, db]) z.release();
  }
  assert.equal(new Uint32Array(runs[0].buffer), new Uint32Array(runs[1].buffer));
  for (const z of [x, w, b, d, y, mean, rstd]) z.release();
});

t.run();
