// f16 -> f32 copy of a tensor (exact): matmul reads f32, so an f16 weight is widened into a
// temporary just before each product that needs it (prefill, and a LoRA run's frozen base, forward
// and backward), one matrix at a time. No backward: f16 weights are never trained.
// CPU reference: f16Value of each stored value (src/util/f16.ts).
import { kernel, type Tensor } from '../gpu/index.ts';
import { grid1d, rowChunks } from './fit.ts';
import code from '../../kernels/widen_f16.wgsl';

const widen = kernel('widen_f16', code);
const WG = 256;

/** out[i] = inp[i] for an f16 `inp` and an f32 `out` of the same size (a multiple of 4: every weight matrix's is) */
export function widenF16(inp: Tensor, out: Tensor): void {
  if (inp.dtype !== 'f16' || out.dtype !== 'f32') throw new Error(`widenF16: '${inp.label}' (${inp.dtype}) -> '${out.label}' (${out.dtype}) must be f16 -> f32`);
  if (out.size < inp.size) throw new Error(`widenF16: '${out.label}' has ${out.size} elements, needs ${inp.size}`);
  if (inp.size % 4) throw new Error(`widenF16: '${inp.label}' has ${inp.size} elements, not a multiple of 4`);
  // chunks start on multiples of 128 elements: 256-byte offsets in the f16 input as well as the f32 output
  for (const [s, n] of rowChunks(inp.size, 1, inp.gpu.bindingLimit, 128)) {
    inp.gpu.dispatch(widen, { params: { n4: n / 4 }, bindings: [inp.binding(s, n), out.binding(s, n)], workgroups: grid1d(n / 4, WG), constants: { WG } });
  }
}

/**
 * use(w) with w as f32: an f16 w is widened into a temporary that is released right after `use`
 * has recorded its dispatches (the queue runs in order, so whatever reuses the buffer runs later).
 */
export function withF32(w: Tensor, use: (w32: Tensor) => void): void {
  if (w.dtype === 'f32') return use(w);
  const w32 = w.gpu.tensor(w.shape, `${w.label} (f32)`);
  try {
    widenF16(w, w32);
    use(w32);
  } finally {
    w32.release();
  }
}
