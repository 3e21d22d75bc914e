import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addInto, residualForward, residualForwardCpu } from '../src/ops/residual.ts';
import { rowChunks } from '../src/ops/fit.ts';
import { elementwiseTuning } from '../src/ops/elementwise.ts';
import { assertClose, gpu, randn, withBindingLimit } from './util.ts';

const t = suite('residual');

t('rowChunks: 64-row aligned starts, each chunk within the limit, all rows covered', () => {
  assert.equal(rowChunks(10, 768, 1 << 30), [[0, 10]]);
  const ch = rowChunks(50257, 768, 128 * 1024 * 1024);
  assert.equal(ch, [[0, 43648], [43648, 6609]]);
  for (const [s, n] of rowChunks(1000, 13, 64 * 13 * 4 * 3 + 100)) {
    assert.ok(s % 64 === 0 && n * 13 * 4 <= 64 * 13 * 4 * 3 + 100);
  }
  assert.throws(() => rowChunks(100, 1000, 64 * 1000 * 4 - 1), /exceed/);
});

// n % 4 = 1, 3, 1, 3: the tail kernel alone and after the vec4 one; the largest with 1 vec4 a lane
// in workgroups of 16: 78126 workgroups, a 2-D grid
for (const n of [1, 7, 2049, 5_000_003]) {
  t(`GPU residualForward and addInto match reference, n=${n}`, async () => {
    const g = await gpu();
    const as = randn(n, 1), bs = randn(n, 2);
    const a = g.fromArray(as, [n], 'a'), b = g.fromArray(bs, [n], 'b'), out = g.tensor([n], 'out');
    const saved = { ...elementwiseTuning };
    if (n > 65535 * 16 * 4) Object.assign(elementwiseTuning, { vec4sPerLane: 1, workgroupSize: 16 });
    try {
      residualForward(a, b, out);
    } finally {
      Object.assign(elementwiseTuning, saved);
    }
    const sum = residualForwardCpu(as, bs);
    assertClose(await out.read(), sum, 1e-6, 1e-7, 'residualForward');
    addInto(out, a); // out = 2a + b
    assertClose(await out.read(), sum.map((v, i) => v + as[i]), 1e-6, 1e-7, 'addInto');
    for (const z of [a, b, out]) z.release();
  });
}

t('elementwise ops split over a lowered binding limit', async () => {
  const g = await gpu();
  const n = 1003; // the last chunk ends with 3 elements for the tail kernel
  const as = randn(n, 3), bs = randn(n, 4);
  const a = g.fromArray(as, [n], 'a'), b = g.fromArray(bs, [n], 'b'), out = g.tensor([n], 'out');
  await withBindingLimit(g, 1024, () => { // 256-element chunks
    residualForward(a, b, out);
    addInto(out, b);
  });
  assertClose(await out.read(), as.map((v, i) => v + 2 * bs[i]), 1e-6, 1e-7, 'a+b, +=b');
  for (const z of [a, b, out]) z.release();
});

t.run();
