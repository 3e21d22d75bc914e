// GELU (tanh approximation, GPT-2's `gelu_new`): forward, backward, CPU reference.
import { kernel, type Tensor } from '../gpu/index.ts';
import { elementChunks, grid1d } from './fit.ts';
import fwdCode from '../../kernels/gelu_forward.wgsl';
import bwdCode from '../../kernels/gelu_backward.wgsl';

const fwd = kernel('gelu_forward', fwdCode);
const bwd = kernel('gelu_backward', bwdCode);
const WG = 256;

// Tensors larger than one storage binding (e.g. the MLP activations of a big batch) go in chunks.
const chunks = (t: Tensor) => elementChunks(t.size, t.gpu.bindingLimit);

export function geluForward(inp: Tensor, out: Tensor): void {
  for (const [s, n] of chunks(inp)) {
    inp.gpu.dispatch(fwd, { params: { n }, bindings: [inp.binding(s, n), out.binding(s, n)], workgroups: grid1d(n, WG), constants: { WG } });
  }
}

/** dinp += gelu'(inp) * dout (backward ops accumulate into input gradients) */
export function geluBackward(inp: Tensor, dout: Tensor, dinp: Tensor): void {
  for (const [s, n] of chunks(inp)) {
    inp.gpu.dispatch(bwd, {
      params: { n }, bindings: [inp.binding(s, n), dout.binding(s, n), dinp.binding(s, n)], workgroups: grid1d(n, WG), constants: { WG },
    });
  }
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
