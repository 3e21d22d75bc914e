import { suite } from 'uvu';
import { geluBackward, geluBackwardCpu, geluForward, geluForwardCpu } from '../src/ops/gelu.ts';
import { elementwiseTuning } from '../src/ops/elementwise.ts';
import { assertClose, gpu, gradcheck, randn, randn64, withBindingLimit } from './util.ts';

const t = suite('gelu');

t('reference backward matches float64 finite differences', () => {
  const x = randn64(300, 1, 2);
  const dout = randn64(300, 2);
  gradcheck(([a]) => geluForwardCpu(a), [x], dout, [geluBackwardCpu(x, dout)], 'gelu');
});

// n % 4 = 1, 3, 0, 3, 0: the vec4 kernel alone, the tail kernel alone and both; the largest with
// 1 vec4 a lane in workgroups of 64: 70274 workgroups, a 2-D grid
for (const n of [1, 7, 1000, 1003, 70000 * 257]) {
  t(`GPU forward and backward match reference, n=${n}`, async () => {
    const g = await gpu();
    const xs = randn(n, 3, 3);
    xs[0] = 20; // saturated tails stay finite
    if (n > 1) xs[1] = -20;
    const ds = randn(n, 4);
    const x = g.fromArray(xs, [n], 'x'), d = g.fromArray(ds, [n], 'dout');
    const y = g.tensor([n], 'y'), dx = g.fromArray(new Float32Array(n).fill(0.5), [n], 'dx');
    const saved = { ...elementwiseTuning };
    if (n > 65535 * 64 * 4) Object.assign(elementwiseTuning, { vec4sPerLane: 1, workgroupSize: 64 });
    try {
      geluForward(x, y);
      geluBackward(x, d, dx);
    } finally {
      Object.assign(elementwiseTuning, saved);
    }
    assertClose(await y.read(), geluForwardCpu(xs), 1e-5, 1e-6, 'forward');
    assertClose(await dx.read(), geluBackwardCpu(xs, ds).map((v) => v + 0.5), 1e-5, 1e-6, 'backward (accumulated onto 0.5)');
    for (const z of [x, d, y, dx]) z.release();
  });
}

t('tensors over the binding limit are processed in chunks', async () => {
  const g = await gpu();
  const n = 5003; // the last chunk ends with a tail of 3
  const xs = randn(n, 5, 2), ds = randn(n, 6);
  const x = g.fromArray(xs, [n], 'x'), d = g.fromArray(ds, [n], 'dout');
  const y = g.tensor([n], 'y'), dx = g.zeros([n], 'dx');
  await withBindingLimit(g, 4096, () => { // 1024 floats per binding: 5 chunks
    geluForward(x, y);
    geluBackward(x, d, dx);
  });
  assertClose(await y.read(), geluForwardCpu(xs), 1e-5, 1e-6, 'forward');
  assertClose(await dx.read(), geluBackwardCpu(xs, ds), 1e-5, 1e-6, 'backward');
  for (const z of [x, d, y, dx]) z.release();
});

t.run();
