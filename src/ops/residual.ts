// Residual add (out = a + b), gradient accumulation (dst += src), CPU reference.
import { kernel, type Tensor } from '../gpu/index.ts';
import { elementwise } from './elementwise.ts';
import fwdCode from '../../kernels/residual_forward.wgsl';
import accCode from '../../kernels/residual_accumulate.wgsl';
import fwd4Code from '../../kernels/residual_forward_vec4.wgsl';
import acc4Code from '../../kernels/residual_accumulate_vec4.wgsl';

const fwd = kernel('residual_forward', fwdCode);
const acc = kernel('residual_accumulate', accCode);
const fwd4 = kernel('residual_forward_vec4', fwd4Code);
const acc4 = kernel('residual_accumulate_vec4', acc4Code);

function checkSame(x: Tensor, y: Tensor, what: string): void {
  if (x.size !== y.size) throw new Error(`${what}: '${x.label}' has ${x.size} elements, '${y.label}' ${y.size}`);
}

/** out = a + b (elementwise) */
export function residualForward(a: Tensor, b: Tensor, out: Tensor): void {
  checkSame(a, b, 'residualForward');
  checkSame(a, out, 'residualForward');
  elementwise(a.gpu, a.size, fwd4, fwd, (s, c) => [a.binding(s, c), b.binding(s, c), out.binding(s, c)]);
}

/** dst += src (elementwise): used to accumulate gradients, e.g. the residual branch */
export function addInto(dst: Tensor, src: Tensor): void {
  checkSame(dst, src, 'addInto');
  elementwise(dst.gpu, dst.size, acc4, acc, (s, c) => [dst.binding(s, c), src.binding(s, c)]);
}

// ---- CPU reference (float64) ----
export function residualForwardCpu(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}
