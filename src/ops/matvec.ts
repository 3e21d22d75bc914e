// Single-token (decode) matrix-vector products. The training matmul works on 32-row tiles, so
// with one row it would do 32x the arithmetic; these kernels read each weight once instead.
import { kernel, type Tensor } from '../gpu/index.ts';
import { grid1d, rowChunks } from './fit.ts';
import mvCode from '../../kernels/matvec.wgsl';
import mvtCode from '../../kernels/matvec_t.wgsl';

const mv = kernel('matvec', mvCode);
const mvt = kernel('matvec_t', mvtCode);
const WG = 64;

/** Whether matvec/matvecT handle these sizes (vec4 loads need multiples of 4). */
export const matvecFits = (K: number, N: number) => K % 4 === 0 && N % 4 === 0;

/** out[N] = x[K] · w[K,N] (+ bias[N]) */
export function matvec(x: Tensor, w: Tensor, out: Tensor, K: number, N: number, bias?: Tensor): void {
  if (!matvecFits(K, N)) throw new Error(`matvec: K=${K} and N=${N} must be multiples of 4`);
  if (w.bytes > w.gpu.bindingLimit) throw new Error(`matvec: weight [${K},${N}] exceeds the binding limit`);
  x.gpu.dispatch(mv, {
    params: { K, N4: N / 4, has_bias: bias ? 1 : 0 }, bindings: [x, w, bias ?? x, out], workgroups: Math.ceil(N / 4 / WG), constants: { WG },
  });
}

/** out[R] = w[R,K] · x[K]; w may exceed the binding limit (split into row chunks) */
export function matvecT(x: Tensor, w: Tensor, out: Tensor, R: number, K: number): void {
  if (K % 4) throw new Error(`matvecT: K=${K} must be a multiple of 4`);
  const gpu = x.gpu;
  for (const [r0, rc] of rowChunks(R, K, gpu.bindingLimit, 64, 'matvecT')) {
    gpu.dispatch(mvt, {
      params: { K4: K / 4, R: rc }, bindings: [x, w.view(r0 * K, [rc, K]), out.view(r0, [rc])], workgroups: grid1d(rc, WG), constants: { WG },
    });
  }
}

// ---- CPU reference (float64) ----
export function matvecCpu(x: ArrayLike<number>, w: ArrayLike<number>, K: number, N: number, bias?: ArrayLike<number>): Float64Array {
  const out = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let s = bias ? bias[n] : 0;
    for (let k = 0; k < K; k++) s += x[k] * w[k * N + n];
    out[n] = s;
  }
  return out;
}

export function matvecTCpu(x: ArrayLike<number>, w: ArrayLike<number>, R: number, K: number): Float64Array {
  const out = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += w[r * K + k] * x[k];
    out[r] = s;
  }
  return out;
}
