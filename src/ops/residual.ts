// Residual add (out = a + b), gradient accumulation (dst += src), CPU reference.
import { kernel, type Tensor } from '../gpu/index.ts';
import { elementChunks, grid1d } from './fit.ts';
import fwdCode from '../../kernels/residual_forward.wgsl';
import accCode from '../../kernels/residual_accumulate.wgsl';

const fwd = kernel('residual_forward', fwdCode);
const acc = kernel('residual_accumulate', accCode);
const WG = 256;
const K = 8; // elements per invocation

function checkSame(x: Tensor, y: Tensor, what: string): void {
  if (x.size !== y.size) throw new Error(`${what}: '${x.label}' has ${x.size} elements, '${y.label}' ${y.size}`);
}

/** out = a + b (elementwise) */
export function residualForward(a: Tensor, b: Tensor, out: Tensor): void {
  checkSame(a, b, 'residualForward');
  checkSame(a, out, 'residualForward');
  for (const [s, n] of elementChunks(a.size, a.gpu.bindingLimit)) {
    a.gpu.dispatch(fwd, {
      params: { n }, bindings: [a.binding(s, n), b.binding(s, n), out.binding(s, n)], workgroups: grid1d(n, WG * K), constants: { WG, K },
    });
  }
}

/** dst += src (elementwise): used to accumulate gradients, e.g. the residual branch */
export function addInto(dst: Tensor, src: Tensor): void {
  checkSame(dst, src, 'addInto');
  for (const [s, n] of elementChunks(dst.size, dst.gpu.bindingLimit)) {
    dst.gpu.dispatch(acc, { params: { n }, bindings: [dst.binding(s, n), src.binding(s, n)], workgroups: grid1d(n, WG * K), constants: { WG, K } });
  }
}

// ---- CPU reference (float64) ----
export function residualForwardCpu(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}
