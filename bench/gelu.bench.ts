import { geluBackward, geluForward } from '../src/ops/gelu.ts';
import { registerBench } from './harness.ts';

registerBench('gelu', (gpu, { batch }) => {
  const n = batch * 1024 * 3072; // MLP hidden activations of one GPT-2 124M layer at T=1024
  const x = gpu.zeros([n], 'x'), y = gpu.zeros([n], 'y'), d = gpu.zeros([n], 'd'), dx = gpu.zeros([n], 'dx');
  const shape = `${batch}x1024x3072`;
  return [
    { name: 'geluForward', shape, bytes: 8 * n, run: () => geluForward(x, y) },
    { name: 'geluBackward', shape, bytes: 12 * n, run: () => geluBackward(x, d, dx), cleanup: () => [x, y, d, dx].forEach((t) => t.release()) },
  ];
});
