// A LoRA-wrapped linear layer as plain float64 loops, written from the formula and not from
// the GPU code (src/nn.ts composes matmuls and the dropout kernel): the tests' ground truth.
//   out = x·W + b + scale · (drop(x)·Aᵀ)·Bᵀ,   drop(x) = x ⊙ keep / (1 - p)
// W [K, N] (HF Conv1D), A [r, K], B [N, r]; keep is the dropout op's mask (src/ops/dropout.ts).
import { dropoutKeep } from '../src/ops/dropout.ts';

export interface LoraLinearCase {
  x: ArrayLike<number>; W: ArrayLike<number>; b: ArrayLike<number>; A: ArrayLike<number>; B: ArrayLike<number>;
  M: number; K: number; N: number; r: number; scale: number; p: number; seed: number;
}

function dropped(c: LoraLinearCase, v: ArrayLike<number>): Float64Array {
  const out = new Float64Array(c.M * c.K);
  for (let i = 0; i < out.length; i++) out[i] = c.p > 0 ? (dropoutKeep(c.seed, i, c.p) ? v[i] / (1 - c.p) : 0) : v[i];
  return out;
}

export function loraLinearCpu(c: LoraLinearCase): Float64Array {
  const { M, K, N, r, x, W, b, A, B, scale } = c;
  const xd = dropped(c, x);
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    const u = new Float64Array(r);
    for (let j = 0; j < r; j++) for (let k = 0; k < K; k++) u[j] += xd[m * K + k] * A[j * K + k];
    for (let n = 0; n < N; n++) {
      let s = b[n];
      for (let k = 0; k < K; k++) s += x[m * K + k] * W[k * N + n];
      for (let j = 0; j < r; j++) s += scale * u[j] * B[n * r + j];
      out[m * N + n] = s;
    }
  }
  return out;
}

/** gradients of sum(out ⊙ dout) with respect to x, W, b, A and B */
export function loraLinearBackwardCpu(c: LoraLinearCase, dout: ArrayLike<number>) {
  const { M, K, N, r, x, W, A, B, scale } = c;
  const xd = dropped(c, x);
  const dx = new Float64Array(M * K), dW = new Float64Array(K * N), db = new Float64Array(N);
  const dA = new Float64Array(r * K), dB = new Float64Array(N * r), dxd = new Float64Array(M * K);
  for (let m = 0; m < M; m++) {
    const u = new Float64Array(r), g = new Float64Array(r); // u = drop(x)·Aᵀ, g = dL/du = scale · dout·B
    for (let j = 0; j < r; j++) for (let k = 0; k < K; k++) u[j] += xd[m * K + k] * A[j * K + k];
    for (let n = 0; n < N; n++) {
      const d = dout[m * N + n];
      db[n] += d;
      for (let k = 0; k < K; k++) {
        dx[m * K + k] += d * W[k * N + n];
        dW[k * N + n] += x[m * K + k] * d;
      }
      for (let j = 0; j < r; j++) {
        dB[n * r + j] += scale * d * u[j];
        g[j] += scale * d * B[n * r + j];
      }
    }
    for (let j = 0; j < r; j++) {
      for (let k = 0; k < K; k++) {
        dA[j * K + k] += g[j] * xd[m * K + k];
        dxd[m * K + k] += g[j] * A[j * K + k];
      }
    }
  }
  const back = dropped(c, dxd); // the same mask and 1/(1-p) on the way back
  for (let i = 0; i < dx.length; i++) dx[i] += back[i];
  return { dx, dW, db, dA, dB };
}
