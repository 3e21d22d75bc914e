// Decode-time products at GPT-2 124M shapes for 1, 4 and 8 rows (sequences decoding together):
// the MLP's first layer and the tied lm_head, with f32 and with f16 weights (--dtype f16), on
// each kernel family the adapter has, in the same run: on a CPU adapter with subgroups of 8 the
// panel kernel (the weight packed once into an f32 texture; the packing is outside the timing,
// in the warm-up) against the subgroup kernels reading the weights in place.
// bytes = the weights as the kernel reads them (the f32 panel copy, or W itself), once per dispatch group.
import { matvec, matvecOptions, matvecPanelCopies, matvecT } from '../src/ops/matvec.ts';
import { registerBench } from './harness.ts';

const C = 768, V = 50257;

registerBench('matvec', (gpu) => {
  const cases = [];
  const families = matvecPanelCopies(gpu) ? [true, false] : [false];
  for (const dtype of ['f32', 'f16'] as const) {
    const weights = (shape: number[], label: string) => gpu.fromArray(new Float32Array(shape[0] * shape[1]), shape, label, dtype === 'f16' ? 'f16' : undefined);
    const w = weights([C, 4 * C], 'c_fc weight'), wte = weights([V, C], 'wte');
    const b = gpu.zeros([4 * C], 'c_fc bias'), x = gpu.zeros([8, C], 'x'), out = gpu.zeros([8, 4 * C], 'out'), logits = gpu.zeros([8, V], 'logits');
    for (const panels of families) {
      const tag = `${dtype === 'f16' ? ' f16 weights' : ''}${families.length > 1 ? (panels ? ' [panels]' : ' [in place]') : ''}`;
      const eb = panels ? 4 : w.elementBytes;
      const on = (f: () => void) => () => {
        const saved = matvecOptions.panels;
        matvecOptions.panels = panels;
        try {
          f();
        } finally {
          matvecOptions.panels = saved;
        }
      };
      for (const M of [1, 4, 8]) {
        cases.push({ name: `matvec${tag} (c_fc)`, shape: `M=${M} K=${C} N=${4 * C}`, flops: 2 * M * C * 4 * C, bytes: C * 4 * C * eb, run: on(() => matvec(x, w, out, M, C, 4 * C, b)) });
      }
      for (const M of [1, 4, 8]) {
        cases.push({
          name: `matvecT${tag} (lm_head)`, shape: `M=${M} R=${V} K=${C}`, flops: 2 * M * V * C, bytes: V * C * eb, run: on(() => matvecT(x, wte, logits, M, V, C)),
          cleanup: M === 8 && panels === families[families.length - 1] ? () => [w, b, wte, x, out, logits].forEach((t) => t.release()) : undefined,
        });
      }
    }
  }
  return cases;
});
