// Decode-time products at GPT-2 124M shapes for 1, 4 and 8 rows (sequences decoding together):
// the MLP's first layer and the tied lm_head, with f32 and with f16 weights. bytes = the weights, read once per dispatch group.
import { matvec, matvecT } from '../src/ops/matvec.ts';
import { registerBench } from './harness.ts';

const C = 768, V = 50257;

registerBench('matvec', (gpu) => {
  const w = gpu.zeros([C, 4 * C], 'c_fc weight'), b = gpu.zeros([4 * C], 'c_fc bias'), wte = gpu.zeros([V, C], 'wte');
  const x = gpu.zeros([8, C], 'x'), out = gpu.zeros([8, 4 * C], 'out'), logits = gpu.zeros([8, V], 'logits');
  const cases = [];
  for (const M of [1, 4, 8]) {
    cases.push({ name: 'matvec (c_fc)', shape: `M=${M} K=${C} N=${4 * C}`, flops: 2 * M * C * 4 * C, bytes: C * 4 * C * 4, run: () => matvec(x, w, out, M, C, 4 * C, b) });
  }
  for (const M of [1, 4, 8]) {
    cases.push({
      name: 'matvecT (lm_head)', shape: `M=${M} R=${V} K=${C}`, flops: 2 * M * V * C, bytes: V * C * 4, run: () => matvecT(x, wte, logits, M, V, C),
      cleanup: M === 8 ? () => [w, b, wte, x, out, logits].forEach((t) => t.release()) : undefined,
    });
  }
  // the same products with f16 weights (--dtype f16): half the bytes
  const zeros = (n: number) => new Float32Array(n);
  const w16 = gpu.fromArray(zeros(C * 4 * C), [C, 4 * C], 'c_fc weight f16', 'f16'), wte16 = gpu.fromArray(zeros(V * C), [V, C], 'wte f16', 'f16');
  const b16 = gpu.zeros([4 * C], 'c_fc bias'), x16 = gpu.zeros([8, C], 'x'), out16 = gpu.zeros([8, 4 * C], 'out'), logits16 = gpu.zeros([8, V], 'logits');
  for (const M of [1, 4, 8]) {
    cases.push({ name: 'matvec f16 weights (c_fc)', shape: `M=${M} K=${C} N=${4 * C}`, flops: 2 * M * C * 4 * C, bytes: C * 4 * C * 2, run: () => matvec(x16, w16, out16, M, C, 4 * C, b16) });
  }
  for (const M of [1, 4, 8]) {
    cases.push({
      name: 'matvecT f16 weights (lm_head)', shape: `M=${M} R=${V} K=${C}`, flops: 2 * M * V * C, bytes: V * C * 2, run: () => matvecT(x16, wte16, logits16, M, V, C),
      cleanup: M === 8 ? () => [w16, b16, wte16, x16, out16, logits16].forEach((t) => t.release()) : undefined,
    });
  }
  return cases;
});
