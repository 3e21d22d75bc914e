import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { crossEntropyCpu, crossEntropyForwardBackward } from '../src/ops/crossentropy.ts';
import { Rng } from '../src/util/rng.ts';
import { assertRel, gpu, gradcheck, randn, randn64, withBindingLimit } from './util.ts';

const t = suite('crossentropy');

/** random targets in [0, V), with every `ignoreEvery`-th row (from row 1) set to -1 */
function makeTargets(R: number, V: number, seed: number, ignoreEvery = 0): Int32Array {
  const rng = new Rng(seed);
  const tg = new Int32Array(R);
  for (let r = 0; r < R; r++) tg[r] = ignoreEvery && r % ignoreEvery === 1 ? -1 : rng.int(V);
  if (R > 2 && tg[0] >= 0) tg[0] = V - 1; // last column (the lane that owns it is not lane 0)
  return tg;
}

t('reference dlogits match float64 finite differences of weighted row losses (with ignored rows)', () => {
  const R = 5, V = 7;
  const x = randn64(R * V, 1, 2);
  const tg = [3, -1, 0, 6, -1];
  const w = randn64(R, 2); // dL/dloss[r]
  const { dlogits } = crossEntropyCpu(x, tg, R, V);
  const grad = dlogits.map((d, i) => d * w[Math.floor(i / V)]);
  for (let i = V; i < 2 * V; i++) assert.is(dlogits[i], 0, 'ignored row has zero gradient');
  gradcheck(([a]) => crossEntropyCpu(a, tg, R, V).losses, [x], w, [grad], 'crossentropy');
});

t('reference loss is -log softmax[target]', () => {
  const { losses, dlogits } = crossEntropyCpu([1, 2, 3], [2], 1, 3);
  const z = Math.exp(1) + Math.exp(2) + Math.exp(3);
  assert.ok(Math.abs(losses[0] + Math.log(Math.exp(3) / z)) < 1e-14);
  assert.ok(Math.abs(dlogits[0] - Math.exp(1) / z) < 1e-14);
});

const cases: { R: number; V: number; extreme?: boolean; ignoreEvery?: number }[] = [
  { R: 1, V: 5 },
  { R: 7, V: 5, ignoreEvery: 3 },
  { R: 3, V: 1 },
  { R: 1, V: 50257 },
  { R: 7, V: 50257, ignoreEvery: 3 },
  { R: 4, V: 50257, extreme: true },
  { R: 6, V: 5, extreme: true },
  { R: 5, V: 131, ignoreEvery: 2 },
  { R: 70000, V: 3, ignoreEvery: 5 }, // more rows than 65535 workgroups in x
];

for (const { R, V, extreme, ignoreEvery = 0 } of cases) {
  const name = `R=${R} V=${V}${extreme ? ' logits +-80' : ''}${ignoreEvery ? ' with ignored rows' : ''}`;

  t(`GPU loss and in-place dlogits match reference, ${name}`, async () => {
    const g = await gpu();
    const xs = randn(R * V, 10 + R + V, 2);
    if (extreme) {
      const rng = new Rng(5);
      for (let i = 0; i < xs.length; i++) xs[i] = rng.next() < 0.5 ? 80 : -80 + xs[i];
      xs[V - 1] = -80; // a target sitting far below the row max
    }
    const tg = makeTargets(R, V, 20 + R, ignoreEvery);
    const gradScale = 1 / 3;
    const logits = g.fromArray(xs, [R, V], 'logits');
    const targets = g.fromArray(tg, [R], 'targets');
    const losses = g.fromArray(new Float32Array(R).fill(7), [R], 'losses'); // ignored rows must be overwritten
    crossEntropyForwardBackward(logits, targets, losses, R, V, gradScale);
    const ref = crossEntropyCpu(xs, tg, R, V);
    const gotLoss = await losses.read(), gotD = await logits.read();
    assertRel(gotLoss, ref.losses, 1e-5, 'losses');
    assertRel(gotD, ref.dlogits.map((d) => d * gradScale), 1e-5, 'dlogits');
    for (let r = 0; r < R; r++) {
      if (tg[r] >= 0) continue;
      assert.is(gotLoss[r], 0, `ignored row ${r} loss`);
      for (let i = 0; i < V; i++) if (gotD[r * V + i] !== 0) assert.unreachable(`ignored row ${r} has dlogits ${gotD[r * V + i]}`);
    }
    for (const z of [logits, targets, losses]) z.release();
  });
}

// The kernel reads vec4s, and a row of odd V starts anywhere in one: its first and last floats
// share vec4s with the rows beside it (which must keep theirs), and its target may sit among
// them or in the whole vec4s between. Rows at each offset, targets at every kind of place.
t('GPU: targets at a row\'s first and last floats, in vec4s shared with the next row, any row offset', async () => {
  const g = await gpu();
  for (const V of [2, 3, 6, 7, 9, 70]) {
    const R = 12;
    const xs = randn(R * V, 30 + V, 2);
    const tg = Int32Array.from({ length: R }, (_, r) => [0, V - 1, 1, V - 2, Math.floor(V / 2), -1][r % 6]);
    const logits = g.fromArray(xs, [R, V], 'logits'), targets = g.fromArray(tg, [R], 'targets'), losses = g.zeros([R], 'losses');
    crossEntropyForwardBackward(logits, targets, losses, R, V, 0.5);
    const ref = crossEntropyCpu(xs, tg, R, V);
    assertRel(await losses.read(), ref.losses, 1e-5, `losses V=${V}`);
    assertRel(await logits.read(), ref.dlogits.map((d) => d * 0.5), 1e-5, `dlogits V=${V}`);
    for (const z of [logits, targets, losses]) z.release();
  }
});

t('rejects logits that do not start on a vec4', async () => {
  const g = await gpu();
  const logits = g.tensor([4 * 5 + 1], 'logits'), targets = g.fromArray(new Int32Array(4), [4], 'targets'), losses = g.tensor([4], 'losses');
  assert.throws(() => crossEntropyForwardBackward(logits.view(1, [4, 5]), targets, losses, 4, 5, 1), /start on a vec4/);
  for (const z of [logits, targets, losses]) z.release();
});

t('rejects logits larger than the binding limit', async () => {
  const g = await gpu();
  const logits = g.tensor([4, 100], 'logits'), targets = g.fromArray(new Int32Array(4), [4], 'targets'), losses = g.tensor([4], 'losses');
  await withBindingLimit(g, 1024, () => {
    assert.throws(() => crossEntropyForwardBackward(logits, targets, losses, 4, 100, 1), /binding limit/);
  });
  for (const z of [logits, targets, losses]) z.release();
});

t.run();
