// f16 -> f32 copy of a tensor (exact): prefill multiplies many rows with matmul, which reads f32,
// so an f16 weight is widened into a temporary just before (the generator's f16 path). No backward:
// f16 weights are for inference only. CPU reference: f16Value of each stored value (src/util/f16.ts).
import { kernel, type Tensor } from '../gpu/index.ts';
import { grid1d, rowChunks } from './fit.ts';
import code from '../../kernels/widen_f16.wgsl';

const widen = kernel('widen_f16', code);
const WG = 256;

/** out[i] = inp[i] for an f16 `inp` and an f32 `out` of the same size */
export function widenF16(inp: Tensor, out: Tensor): void {
  if (inp.dtype !== 'f16' || out.dtype !== 'f32') throw new Error(`widenF16: '${inp.label}' (${inp.dtype}) -> '${out.label}' (${out.dtype}) must be f16 -> f32`);
  if (out.size < inp.size) throw new Error(`widenF16: '${out.label}' has ${out.size} elements, needs ${inp.size}`);
  // chunks start on multiples of 128 elements: 256-byte offsets in the f16 input as well as the f32 output
  for (const [s, n] of rowChunks(inp.size, 1, inp.gpu.bindingLimit, 128)) {
    inp.gpu.dispatch(widen, { params: { n }, bindings: [inp.binding(s, n), out.binding(s, n)], workgroups: grid1d(n, WG), constants: { WG } });
  }
}
