import { attentionForward } from '../src/ops/attention.ts';
import { registerBench } from './harness.ts';

// GPT-2 124M: C=768, 12 heads of 64. Causal FLOPs: QKᵀ and PV over the lower triangle.
const C = 768, NH = 12, HS = 64;

registerBench('attention', (gpu, { batch: B }) => {
  const cases = [];
  for (const T of [256, 1024]) {
    const qkv = gpu.zeros([B, T, 3 * C], 'qkv'), out = gpu.zeros([B, T, C], 'out'), lse = gpu.zeros([B, NH, T], 'lse');
    const shape = `B=${B} T=${T} C=${C} NH=${NH}`;
    const causal = B * NH * T * T * HS / 2; // multiply-adds per (query, key, dim) over the triangle
    cases.push({
      name: 'attentionForward', shape, flops: 4 * causal,
      run: () => attentionForward(qkv, out, lse, B, T, C, NH),
      cleanup: () => [qkv, out, lse].forEach((x) => x.release()),
    });
  }
  return cases;
});
