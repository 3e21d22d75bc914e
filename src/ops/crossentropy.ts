// Fused softmax cross-entropy (loss and dlogits in one pass, in place) and its CPU reference.
import { kernel, type Tensor } from '../gpu/index.ts';
import { grid1d } from './fit.ts';
import fusedCode from '../../kernels/crossentropy_forward_backward.wgsl';

const fused = kernel('crossentropy_forward_backward', fusedCode);
// One workgroup per row; rows give the parallelism, lanes give the SIMD width.
const WG = 64;

/**
 * Fused softmax + cross-entropy over rows of logits[R, V].
 * targets: i32 [R]; a target < 0 ignores the row (loss 0, dlogits row 0); so does a target >= V.
 * losses[R] = logsumexp(row) - row[target]. logits is overwritten in place by
 * dlogits = (softmax(row) - onehot(target)) * gradScale. R*V*4 bytes must fit gpu.bindingLimit.
 */
export function crossEntropyForwardBackward(logits: Tensor, targets: Tensor, losses: Tensor, R: number, V: number, gradScale: number): void {
  checkShapes('crossEntropyForwardBackward', logits, R, V);
  if (targets.size < R || losses.size < R) throw new Error(`crossEntropyForwardBackward: targets/losses hold fewer than ${R} rows`);
  if (targets.dtype !== 'i32') throw new Error(`crossEntropyForwardBackward: targets '${targets.label}' must be i32`);
  // read as vec4s: the binding runs on to the end of the last vec4 (room checked in checkShapes)
  const rows = { ...logits.binding(0, R * V), size: Math.ceil((R * V) / 4) * 16 };
  logits.gpu.dispatch(fused, {
    params: { R, V, gradScale },
    bindings: [rows, targets.binding(0, R), losses.binding(0, R)],
    workgroups: grid1d(R, 1),
    constants: { WG },
  });
}

function checkShapes(what: string, logits: Tensor, R: number, V: number): void {
  if (!(R > 0 && V > 0)) throw new Error(`${what}: bad shape R=${R} V=${V}`);
  if (logits.size < R * V) throw new Error(`${what}: logits '${logits.label}' holds fewer than ${R}x${V} values`);
  if (logits.offset % 4 || logits.offset + Math.ceil((R * V) / 4) * 4 > logits.bufferElements) {
    throw new Error(`${what}: logits '${logits.label}' must start on a vec4 and have room for the last vec4 of its ${R}x${V} values`);
  }
}

// ---- CPU reference (float64) ----

/** losses per row and unscaled dlogits = softmax - onehot(target); ignored rows (target < 0) are 0. */
export function crossEntropyCpu(logits: ArrayLike<number>, targets: ArrayLike<number>, R: number, V: number): { losses: Float64Array; dlogits: Float64Array } {
  const losses = new Float64Array(R);
  const dlogits = new Float64Array(R * V);
  for (let r = 0; r < R; r++) {
    const t = targets[r];
    if (t < 0) continue;
    if (t >= V) throw new Error(`crossEntropyCpu: target ${t} out of range for V=${V}`);
    let max = -Infinity;
    for (let i = 0; i < V; i++) max = Math.max(max, logits[r * V + i]);
    let sum = 0;
    for (let i = 0; i < V; i++) sum += Math.exp(logits[r * V + i] - max);
    losses[r] = Math.log(sum) + max - logits[r * V + t];
    for (let i = 0; i < V; i++) dlogits[r * V + i] = Math.exp(logits[r * V + i] - max) / sum - (i === t ? 1 : 0);
  }
  return { losses, dlogits };
}
