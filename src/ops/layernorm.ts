// LayerNorm over rows of C channels (GPT-2's ln_1, ln_2, ln_f): forward, backward, CPU reference.
import { kernel, type Tensor } from '../gpu/index.ts';
import { grid1d, rowChunks } from './fit.ts';
import fwdCode from '../../kernels/layernorm_forward_vec4.wgsl';
import bwdCode from '../../kernels/layernorm_backward_vec4.wgsl';
import partialsCode from '../../kernels/layernorm_backward_partials.wgsl';
import reduceCode from '../../kernels/layernorm_backward_reduce.wgsl';

const fwd = kernel('layernorm_forward_vec4', fwdCode);
const bwd = kernel('layernorm_backward_vec4', bwdCode);
const partials = kernel('layernorm_backward_partials', partialsCode);
const reduce = kernel('layernorm_backward_reduce', reduceCode);
// 8 lanes (one AVX2 vector on lavapipe) per row keeps the barrier cost to one slice per row
const LANES = 8;
const ROWS = 8;
const WG = 64; // columns per workgroup in the weight/bias gradient passes

// The kernels read rows as vec4s (about half the time of scalar loads on lavapipe). GPT-2's C is
// always a multiple of 4: attention already needs head size % 4 == 0.
function checkC(what: string, C: number): void {
  if (!Number.isInteger(C) || C < 4 || C % 4 !== 0) throw new Error(`${what}: C=${C} must be a multiple of 4 (n_embd = n_head * head size, head size a multiple of 4)`);
}

/** out = (inp - mean) * rstd * weight + bias per row; saves mean[N], rstd[N] for backward */
export function layernormForward(inp: Tensor, weight: Tensor, bias: Tensor, out: Tensor, mean: Tensor, rstd: Tensor, N: number, C: number, eps: number): void {
  checkC('layernormForward', C);
  for (const [r0, n] of rowChunks(N, C, inp.gpu.bindingLimit)) {
    inp.gpu.dispatch(fwd, {
      params: { N: n, C, eps },
      bindings: [inp.binding(r0 * C, n * C), weight.binding(0, C), bias.binding(0, C), out.binding(r0 * C, n * C), mean.binding(r0, n), rstd.binding(r0, n)],
      workgroups: grid1d(n, ROWS),
      constants: { LANES, ROWS },
    });
  }
}

/**
 * dinp += ..., dweight += ..., dbias += ... (deterministic: no atomics; weight/bias grads via
 * per-row-block partial sums then a second reduction pass in a fixed order). dweight and dbias
 * both null (a frozen layernorm): only dinp.
 */
export function layernormBackward(dout: Tensor, inp: Tensor, weight: Tensor, mean: Tensor, rstd: Tensor, dinp: Tensor, dweight: Tensor | null, dbias: Tensor | null, N: number, C: number): void {
  checkC('layernormBackward', C);
  if (!dweight !== !dbias) throw new Error('layernormBackward: dweight and dbias go together (both tensors or both null)');
  const gpu = inp.gpu;
  const chunks = rowChunks(N, C, gpu.bindingLimit);
  // rows per partial block: enough blocks to keep every thread busy, few enough that the partials stay small
  const RB = Math.max(32, Math.ceil(N / 4096));
  const blocks = chunks.reduce((s, [, n]) => s + Math.ceil(n / RB), 0);
  const partial = dweight ? gpu.tensor([blocks, 2, C], 'layernorm dweight/dbias partials') : null;
  let blockBase = 0;
  for (const [r0, n] of chunks) {
    const rows = { dout: dout.binding(r0 * C, n * C), inp: inp.binding(r0 * C, n * C), mean: mean.binding(r0, n), rstd: rstd.binding(r0, n) };
    gpu.dispatch(bwd, {
      params: { N: n, C },
      bindings: [rows.dout, rows.inp, weight.binding(0, C), rows.mean, rows.rstd, dinp.binding(r0 * C, n * C)],
      workgroups: grid1d(n, ROWS),
      constants: { LANES, ROWS },
    });
    if (!partial) continue;
    const nb = Math.ceil(n / RB);
    gpu.dispatch(partials, {
      params: { N: n, C, RB, blockBase },
      bindings: [rows.dout, rows.inp, rows.mean, rows.rstd, partial],
      workgroups: [Math.ceil(C / WG), nb],
      constants: { WG },
    });
    blockBase += nb;
  }
  if (!partial || !dweight || !dbias) return;
  gpu.dispatch(reduce, {
    params: { C, blocks },
    bindings: [partial, dweight.binding(0, C), dbias.binding(0, C)],
    workgroups: grid1d(C, WG),
    constants: { WG },
  });
  partial.release();
}

// ---- CPU reference (float64) ----
export function layernormForwardCpu(inp: ArrayLike<number>, weight: ArrayLike<number>, bias: ArrayLike<number>, N: number, C: number, eps: number): { out: Float64Array; mean: Float64Array; rstd: Float64Array } {
  const out = new Float64Array(N * C), mean = new Float64Array(N), rstd = new Float64Array(N);
  for (let r = 0; r < N; r++) {
    let m = 0;
    for (let c = 0; c < C; c++) m += inp[r * C + c];
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (inp[r * C + c] - m) ** 2;
    const s = 1 / Math.sqrt(v / C + eps);
    for (let c = 0; c < C; c++) out[r * C + c] = (inp[r * C + c] - m) * s * weight[c] + bias[c];
    mean[r] = m;
    rstd[r] = s;
  }
  return { out, mean, rstd };
}

export function layernormBackwardCpu(dout: ArrayLike<number>, inp: ArrayLike<number>, weight: ArrayLike<number>, N: number, C: number, eps: number): { dinp: Float64Array; dweight: Float64Array; dbias: Float64Array } {
  const dinp = new Float64Array(N * C), dweight = new Float64Array(C), dbias = new Float64Array(C);
  const { mean, rstd } = layernormForwardCpu(inp, weight, new Float64Array(C), N, C, eps);
  const xhat = new Float64Array(C);
  for (let r = 0; r < N; r++) {
    // y = xhat * w + b with xhat = (x - mean) * rstd;  dL/dxhat = dy * w
    let sumG = 0, sumGX = 0;
    for (let c = 0; c < C; c++) {
      xhat[c] = (inp[r * C + c] - mean[r]) * rstd[r];
      const g = dout[r * C + c] * weight[c];
      sumG += g;
      sumGX += g * xhat[c];
      dweight[c] += dout[r * C + c] * xhat[c];
      dbias[c] += dout[r * C + c];
    }
    for (let c = 0; c < C; c++) {
      const g = dout[r * C + c] * weight[c];
      dinp[r * C + c] = rstd[r] * (g - sumG / C - xhat[c] * sumGX / C);
    }
  }
  return { dinp, dweight, dbias };
}
