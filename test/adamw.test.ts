import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { adamwStep, adamwStepCpu, clipScale, gradNormSquared, gradNormTuning, type AdamwHyper } from '../src/ops/adamw.ts';
import { assertClose, assertRel, gpu, randn, withBindingLimit } from './util.ts';

const t = suite('adamw');

t('reference step 1 without decay moves every weight by lr against the gradient sign', () => {
  const h: AdamwHyper = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 0, weightDecay: 0, step: 1 };
  const p = Float64Array.from([1, 1, 1]), m = new Float64Array(3), v = new Float64Array(3);
  adamwStepCpu(p, [2, -0.5, 3], m, v, h, 1);
  assertClose(p, [0.9, 1.1, 0.9], 1e-12, 0, 'param'); // mhat/sqrt(vhat) = sign(g) at step 1
  assertClose(m, [0.2, -0.05, 0.3], 1e-12, 0, 'm');
  const q = Float64Array.from([2]), m2 = new Float64Array(1), v2 = new Float64Array(1);
  adamwStepCpu(q, [0], m2, v2, { ...h, weightDecay: 0.5, eps: 1e-8 }, 1);
  assertClose(q, [2 - 0.1 * 0.5 * 2], 1e-12, 0, 'decay alone');
});

// Past step 1 the bias corrections 1 - beta^t differ from 1 - beta: the moments are averages
// over the steps so far, written here as the sums they are (not as the reference's recurrences).
t('reference steps 1..5 take the bias-corrected averages of the gradients so far', () => {
  const h = { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
  const grads = [[0.5, -2, 0], [1.5, -1, 0], [-0.25, 3, 0], [2, 0.5, 0], [0.1, -0.1, 0]];
  const p = Float64Array.from([1, -0.5, 2]), m = new Float64Array(3), v = new Float64Array(3);
  const want = Float64Array.from(p);
  for (let s = 1; s <= grads.length; s++) {
    adamwStepCpu(p, grads[s - 1], m, v, { ...h, step: s }, 1);
    for (let i = 0; i < 3; i++) {
      // mhat = sum_k (1-b1) b1^(s-k) g_k / (1 - b1^s), vhat likewise with g_k^2
      let mSum = 0, vSum = 0;
      for (let k = 1; k <= s; k++) {
        const g = grads[k - 1][i];
        mSum += (1 - h.beta1) * h.beta1 ** (s - k) * g;
        vSum += (1 - h.beta2) * h.beta2 ** (s - k) * g * g;
      }
      const mhat = mSum / (1 - h.beta1 ** s), vhat = vSum / (1 - h.beta2 ** s);
      want[i] = want[i] * (1 - h.lr * h.weightDecay) - (h.lr * mhat) / (Math.sqrt(vhat) + h.eps);
    }
    assertClose(p, want, 1e-12, 1e-15, `param after step ${s}`);
  }
  // a constant gradient: every step moves by lr against its sign (without the corrections, step 2 would move 0.19/sqrt(0.0975) = 0.61 lr)
  const q = Float64Array.from([0]), mq = new Float64Array(1), vq = new Float64Array(1);
  for (let s = 1; s <= 4; s++) {
    adamwStepCpu(q, [3], mq, vq, { ...h, weightDecay: 0, eps: 0, step: s }, 1);
    assertClose(q, [-h.lr * s], 1e-12, 0, `constant gradient, step ${s}`);
  }
});

interface StepCase { n: number; weightDecay: number; scale: number | null; limit?: number }
const cases: StepCase[] = [
  { n: 1, weightDecay: 0, scale: null },
  { n: 7, weightDecay: 0.1, scale: 0.37 },
  { n: 1000, weightDecay: 0.1, scale: null },
  { n: 1000, weightDecay: 0, scale: 0.37 },
  { n: 5000, weightDecay: 0.1, scale: 0.5, limit: 4096 }, // 5 chunks of 1024 elements
  { n: 65535 * 256 + 5, weightDecay: 0.1, scale: 0.37 }, // more than 65535 workgroups in x
];

for (const { n, weightDecay, scale, limit } of cases) {
  t(`GPU steps 1..3 match reference, n=${n} wd=${weightDecay} scale=${scale}${limit ? ` bindingLimit=${limit}` : ''}`, async () => {
    const g = await gpu();
    await withBindingLimit(g, limit ?? g.bindingLimit, async () => {
      const p0 = randn(n, 1);
      const param = g.fromArray(p0, [n], 'param');
      const m = g.zeros([n], 'm'), v = g.zeros([n], 'v'), grad = g.tensor([n], 'grad');
      const sc = scale === null ? null : g.fromArray(new Float32Array([scale]), [1], 'grad scale');
      const pRef = Float64Array.from(p0), mRef = new Float64Array(n), vRef = new Float64Array(n);
      for (let s = 1; s <= 3; s++) {
        const h: AdamwHyper = { lr: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay, step: s };
        const gs = randn(n, 10 + s, 2);
        grad.write(gs);
        adamwStep(param, grad, m, v, h, sc);
        adamwStepCpu(pRef, gs, mRef, vRef, h, scale === null ? 1 : Math.fround(scale));
      }
      // compare the total change of the weights (not the weights: that would hide errors in a small update)
      const got = await param.read();
      assertRel(got.map((x, i) => x - p0[i]), pRef.map((x, i) => x - p0[i]), 1e-5, 'param update');
      assertClose(await m.read(), mRef, 1e-5, 1e-7, 'm');
      assertClose(await v.read(), vRef, 1e-5, 1e-7, 'v');
      for (const z of [param, m, v, grad, sc]) z?.release();
    });
  });
}

/** float64 sum of squares of the f32 values */
function sumSquares(arrays: Float32Array[]): number {
  let s = 0;
  for (const a of arrays) for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return s;
}

// big: read as floats (odd), big4: as vec4s; with 1 item a lane each needs > 65535 workgroups (2-D grid).
// Under the lowered binding limit big's chunks are vec4s but for the last.
const big = 65535 * 64 + 77, big4 = 4 * (65535 * 64 + 76);
for (const [items, limit] of [[64, 0], [1, 0], [64, 1_000_000]] as const) {
  t(`gradNormSquared matches the float64 sum: sizes 1, 7, 1000, ${big}, ${big4}; ${items} items per lane${limit ? `, bindingLimit=${limit}` : ''}`, async () => {
    const g = await gpu();
    await withBindingLimit(g, limit || g.bindingLimit, async () => {
      // each tensor contributes well above the tolerance, so dropping or double-counting any one fails
      const pattern = Float32Array.from({ length: big4 }, (_, i) => ((i % 97) - 48) * 2e-4);
      const arrays = [Float32Array.from([30]), randn(big, 4, 0.02), randn(7, 2, 10), randn(1000, 3), pattern];
      const grads = arrays.map((a, i) => g.fromArray(a, [a.length], `grad${i}`));
      const sumsq = g.fromArray(Float32Array.from([-1, 5]), [2], 'sumsq');
      const saved = { ...gradNormTuning };
      gradNormTuning.itemsPerLane = gradNormTuning.vec4sPerLane = items;
      try {
        gradNormSquared(grads, sumsq);
        const first = await sumsq.read();
        gradNormSquared(grads, sumsq);
        const second = await sumsq.read();
        // fp32 sums of non-negative terms: chains of at most ~ITEMS + 64 + partials/64 + 64 additions,
        // each off by <= 2^-24 relative; rounding errors average out to ~1e-6 against the float64 sum
        assertRel([first[0]], [sumSquares(arrays)], 1e-5, 'sum of squares');
        assert.is(first[1], 5, 'only sumsq[0] is written');
        assert.is(second[0], first[0], 'deterministic: bitwise equal on a rerun');
      } finally {
        Object.assign(gradNormTuning, saved);
      }
      for (const z of [...grads, sumsq]) z.release();
    });
  });
}

t('clipScale: below, above and without a max norm', async () => {
  const g = await gpu();
  const sumsq = g.tensor([1], 'sumsq'), scale = g.tensor([1], 'scale');
  for (const [ss, maxNorm, want] of [
    [4, 3, 1], // norm 2 < 3: no clipping
    [16, 1, 1 / (4 + 1e-6)], // norm 4 > 1
    [1e6, 0.5, 0.5 / (1000 + 1e-6)],
    [16, 0, 1], // clipping off
    [0, 1, 1],
  ]) {
    sumsq.write(Float32Array.from([ss]));
    clipScale(sumsq, scale, maxNorm);
    assertClose(await scale.read(), [want], 1e-6, 0, `sumsq=${ss} maxNorm=${maxNorm}`);
  }
  sumsq.release();
  scale.release();
});

t('norm -> clip -> step on the GPU matches the reference with the clipped gradient', async () => {
  const g = await gpu();
  const sizes = [3, 1000, 70];
  const gs = sizes.map((n, i) => randn(n, 40 + i, 3));
  const ps = sizes.map((n, i) => randn(n, 50 + i));
  const grads = gs.map((a, i) => g.fromArray(a, [a.length], `grad${i}`));
  const params = ps.map((a, i) => g.fromArray(a, [a.length], `param${i}`));
  const ms = sizes.map((n) => g.zeros([n], 'm')), vs = sizes.map((n) => g.zeros([n], 'v'));
  const sumsq = g.tensor([1], 'sumsq'), scale = g.tensor([1], 'scale');
  const h: AdamwHyper = { lr: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, step: 1 };
  gradNormSquared(grads, sumsq);
  clipScale(sumsq, scale, 1);
  sizes.forEach((_, i) => adamwStep(params[i], grads[i], ms[i], vs[i], h, scale));
  const clip = 1 / (Math.sqrt(sumSquares(gs)) + 1e-6);
  assert.ok(clip < 0.05, 'the gradient is clipped hard');
  assertClose(await scale.read(), [clip], 1e-5, 0, 'clip scale');
  for (let i = 0; i < sizes.length; i++) {
    const p = Float64Array.from(ps[i]), m = new Float64Array(sizes[i]), v = new Float64Array(sizes[i]);
    adamwStepCpu(p, gs[i], m, v, h, clip);
    assertClose(await ms[i].read(), m, 1e-5, 1e-9, `m${i}`);
    const got = await params[i].read();
    assertRel(got.map((x, j) => x - ps[i][j]), p.map((x, j) => x - ps[i][j]), 1e-5, `param ${i} update`);
  }
  for (const z of [...grads, ...params, ...ms, ...vs, sumsq, scale]) z.release();
});

t.run();
