// GELU (tanh approximation, GPT-2's `gelu_new`): forward, backward, CPU reference.
import { kernel, type Tensor } from '../gpu/index.ts';
import { elementwise } from './elementwise.ts';
import fwdCode from '../../kernels/gelu_forward.wgsl';
import bwdCode from '../../kernels/gelu_backward.wgsl';
import fwd4Code from '../../kernels/gelu_forward_vec4.wgsl';
import bwd4Code from '../../kernels/gelu_backward_vec4.wgsl';

const fwd = kernel('gelu_forward', fwdCode);
const bwd = kernel('gelu_backward', bwdCode);
const fwd4 = kernel('gelu_forward_vec4', fwd4Code);
const bwd4 = kernel('gelu_backward_vec4', bwd4Code);

// (the tensors of a big batch's MLP exceed one binding: elementwise() splits them into chunks)
export function geluForward(inp: Tensor, out: Tensor): void {
  elementwise(inp.gpu, inp.size, fwd4, fwd, (s, c) => [inp.binding(s, c), out.binding(s, c)]);
}

/** dinp += gelu'(inp) * dout (backward ops accumulate into input gradients) */
export function geluBackward(inp: Tensor, dout: Tensor, dinp: Tensor): void {
  elementwise(inp.gpu, inp.size, bwd4, bwd, (s, c) => [inp.binding(s, c), dout.binding(s, c), dinp.binding(s, c)]);
}

// ---- CPU reference (float64) ----
const S = Math.sqrt(2 / Math.PI);

export function geluForwardCpu(inp: ArrayLike<number>): Float64Array {
  const out = new Float64Array(inp.length);
  for (let i = 0; i < inp.length; i++) {
    const x = inp[i];
    out[i] = 0.5 * x * (1 + Math.tanh(S * (x + 0.044715 * x ** 3)));
  }
  return out;
}

export function geluBackwardCpu(inp: ArrayLike<number>, dout: ArrayLike<number>): Float64Array {
  const dinp = new Float64Array(inp.length);
  for (let i = 0; i < inp.length; i++) {
    const x = inp[i];
    const t = Math.tanh(S * (x + 0.044715 * x ** 3));
    const dt = (1 - t * t) * S * (1 + 3 * 0.044715 * x * x);
    dinp[i] = (0.5 * (1 + t) + 0.5 * x * dt) * dout[i];
  }
  return dinp;
}
