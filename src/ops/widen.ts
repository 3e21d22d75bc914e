// f16 -> f32 copy of a tensor (exact): matmul's kernels other than the CPU panel path read f32,
// so an f16 operand is widened into a temporary just before the product and released after.
// No backward: f16 weights are never trained.
// CPU reference: f16Value of each stored value (src/util/f16.ts).
import { kernel, type Tensor } from '../gpu/index.ts';
import { grid1d, rowChunks } from './fit.ts';
import code from '../../kernels/widen_f16.wgsl';

const widen = kernel('widen_f16', code);
const WG = 256;

const roundUp4 = (n: number) => Math.ceil(n / 4) * 4;

/**
 * out[i] = inp[i] for an f16 `inp` and an f32 `out`; `out` has room for whole vec4s (at least
 * inp.size rounded up to 4 elements: past inp.size it gets values of no meaning).
 */
export function widenF16(inp: Tensor, out: Tensor): void {
  if (inp.dtype !== 'f16' || out.dtype !== 'f32') throw new Error(`widenF16: '${inp.label}' (${inp.dtype}) -> '${out.label}' (${out.dtype}) must be f16 -> f32`);
  if (out.size < roundUp4(inp.size)) throw new Error(`widenF16: '${out.label}' has ${out.size} elements, needs ${roundUp4(inp.size)} (${inp.size} rounded up to 4)`);
  if (inp.isReleased) throw new Error(`widenF16: tensor '${inp.label}' used after release`);
  // chunks start on multiples of 128 elements (512 bytes of the f32 output: 256-byte aligned); the
  // input's binding starts at the 256-byte boundary at or before its chunk, `off` elements earlier
  for (const [s, n] of rowChunks(inp.size, 1, inp.gpu.bindingLimit, 128)) {
    const abs = inp.offset + s, base = abs - (abs % 128), off = abs - base;
    const src = inp.bufferRange(base, abs + n);
    inp.gpu.dispatch(widen, { params: { n, off }, bindings: [src, out.binding(s, roundUp4(n))], workgroups: grid1d(roundUp4(n) / 4, WG), constants: { WG } });
  }
}

/**
 * use(w) with w as f32: an f16 w is widened into a temporary that is released right after `use`
 * has recorded its dispatches (the queue runs in order, so whatever reuses the buffer runs later).
 */
export function withF32(w: Tensor, use: (w32: Tensor) => void): void {
  if (w.dtype === 'f32') return use(w);
  const full = w.gpu.tensor([roundUp4(w.size)], `${w.label} (f32)`);
  try {
    widenF16(w, full);
    use(full.view(0, w.shape, full.label));
  } finally {
    full.release();
  }
}
