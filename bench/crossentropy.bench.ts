import { crossEntropyForwardBackward } from '../src/ops/crossentropy.ts';
import { rowsPerBinding } from '../src/ops/fit.ts';
import { Rng } from '../src/util/rng.ts';
import { registerBench } from './harness.ts';

registerBench('crossentropy', (gpu, { batch }) => {
  const V = 50257;
  // batch*256 rows of GPT-2 logits, capped by the binding limit (the trainer chunks rows the same way)
  const R = Math.min(batch * 256, rowsPerBinding(V * 4, gpu.bindingLimit));
  const rng = new Rng(1);
  const logits = gpu.fromArray(rng.fillNormal(new Float32Array(R * V), 2) as Float32Array, [R, V], 'logits');
  const targets = gpu.fromArray(Int32Array.from({ length: R }, () => rng.int(V)), [R], 'targets');
  const losses = gpu.zeros([R], 'losses');
  const shape = `${R}x${V}`;
  return [
    // in place, so later runs see dlogits instead of logits: same work per element
    {
      name: 'crossEntropyForwardBackward', shape, bytes: 8 * R * V, run: () => crossEntropyForwardBackward(logits, targets, losses, R, V, 1 / R),
      cleanup: () => [logits, targets, losses].forEach((t) => t.release()),
    },
  ];
});
