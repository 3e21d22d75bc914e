// Decode-time products at GPT-2 124M shapes for 1, 4 and 8 rows (sequences decoding together):
// the MLP's first layer and the tied lm_head. bytes = the weights, read once per dispatch group.
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
  return cases;
});
