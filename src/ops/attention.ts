// Fused causal self-attention over GPT-2's packed qkv [B, T, 3C] (q | k | v, heads
// concatenated inside each): forward with saved log-sum-exp, FlashAttention-2 style
// backward, KV-cached prefill (batched decode: attention_decode.ts), and a float64 CPU reference.
// Two kernel families: the plain ones run anywhere; the *_sg ones (subgroups of >= 8) tile
// registers and share loads across a subgroup, which is what makes them fast on CPU adapters.
import { kernel, type Gpu, type Tensor } from '../gpu/index.ts';
import fwdCode from '../../kernels/attention_forward.wgsl';
import fwdSgCode from '../../kernels/attention_forward_sg.wgsl';
import bwdCode from '../../kernels/attention_backward.wgsl';
import bwdSgCode from '../../kernels/attention_backward_sg.wgsl';
import { alignedRows, rowChunks } from './fit.ts';

const plain = {
  fwd: kernel('attention_forward', fwdCode),
  dq: kernel('attention_backward', bwdCode, 'dq'),
  dkv: kernel('attention_backward', bwdCode, 'dkv'),
  WG: 32, // rows per workgroup, one per invocation
  fwdRows: 32,
  bwdRows: 32,
};
const sg = {
  fwd: kernel('attention_forward_sg', fwdSgCode),
  dq: kernel('attention_backward_sg', bwdSgCode, 'dq'),
  dkv: kernel('attention_backward_sg', bwdSgCode, 'dkv'),
  WG: 8, // invocations per workgroup: 4 rows each forward, 2 backward
  fwdRows: 32,
  bwdRows: 16,
};

/** Kernel choice; tests turn `subgroups` off to cover the plain kernels on adapters that have subgroups. */
export const attentionOptions = { subgroups: true };

/** the kernel family for this adapter and head size (the _sg kernels hold at most 16 vec4 per row) */
function family(gpu: Gpu, hs: number): typeof plain {
  return attentionOptions.subgroups && hs <= 64 && gpu.hasSubgroups8 ? sg : plain;
}

function headSize(what: string, C: number, NH: number): number {
  const hs = C / NH;
  // the kernels move q, k, v as vec4 and keep up to 32 of them per row in registers
  if (!Number.isInteger(hs) || hs % 4 !== 0 || hs > 128) throw new Error(`${what}: head size C/NH = ${C}/${NH} must be a multiple of 4 up to 128`);
  return hs;
}

function expectSize(t: Tensor, n: number, what: string): void {
  if (t.size !== n) throw new Error(`${what}: '${t.label}' has ${t.size} elements, expected ${n}`);
}

/**
 * Batches per dispatch, so that each batch chunk of the big [B, T, 3C] / [B, T, C] tensors fits
 * one storage binding (qkv and dqkv, 3C per row, are the largest). The chunks are bound as views,
 * so they start on a whole number of sequences whose [T, C] bytes keep the offset alignment.
 */
function batchChunks(gpu: Gpu, B: number, T: number, C: number, what: string): [number, number][] {
  return rowChunks(B, T * 3 * C, gpu.bindingLimit, alignedRows(T * C * 4, gpu.limits.minStorageBufferOffsetAlignment), what);
}

/** a view of batches [b0, b0+n) of a [B, T, W] tensor (the whole tensor when that is all of it) */
function batches(t: Tensor, b0: number, n: number, B: number): Tensor {
  if (n === B) return t;
  const per = t.size / B;
  return t.view(b0 * per, [n, per], `${t.label}[batch ${b0}..${b0 + n})`);
}

/** out[B,T,C] = causal softmax(Q·Kᵀ/√hs)·V per head; lse[B,NH,T] saves each row's log-sum-exp for backward. */
export function attentionForward(qkv: Tensor, out: Tensor, lse: Tensor, B: number, T: number, C: number, NH: number): void {
  const hs = headSize('attentionForward', C, NH);
  expectSize(qkv, B * T * 3 * C, 'attentionForward');
  expectSize(out, B * T * C, 'attentionForward');
  expectSize(lse, B * NH * T, 'attentionForward');
  const gpu = qkv.gpu;
  const k = family(gpu, hs);
  for (const [b0, n] of batchChunks(gpu, B, T, C, 'attentionForward')) {
    gpu.dispatch(k.fwd, {
      params: { Tq: T, t0: 0, rows: T, C4: C / 4, hs4: hs / 4, b0, scale: 1 / Math.sqrt(hs) },
      bindings: [batches(qkv, b0, n, B), batches(out, b0, n, B), lse],
      workgroups: [Math.ceil(T / k.fwdRows), NH, n],
      constants: { WG: k.WG },
    });
  }
}

/** dqkv[B,T,3C] += gradients w.r.t. q, k, v (recomputes from qkv, out and lse; FlashAttention-2 style, deterministic, no atomics) */
export function attentionBackward(qkv: Tensor, out: Tensor, lse: Tensor, dout: Tensor, dqkv: Tensor, B: number, T: number, C: number, NH: number): void {
  const hs = headSize('attentionBackward', C, NH);
  expectSize(qkv, B * T * 3 * C, 'attentionBackward');
  expectSize(dqkv, B * T * 3 * C, 'attentionBackward');
  expectSize(out, B * T * C, 'attentionBackward');
  expectSize(dout, B * T * C, 'attentionBackward');
  expectSize(lse, B * NH * T, 'attentionBackward');
  const gpu = qkv.gpu;
  const k = family(gpu, hs);
  const delta = gpu.tensor([B, NH, T], 'attention delta'); // rowsum(dout * out), written by dq, read by dkv
  for (const [b0, n] of batchChunks(gpu, B, T, C, 'attentionBackward')) {
    const o = {
      params: { T, C4: C / 4, hs4: hs / 4, b0, scale: 1 / Math.sqrt(hs) },
      bindings: [batches(qkv, b0, n, B), batches(out, b0, n, B), lse, batches(dout, b0, n, B), delta, batches(dqkv, b0, n, B)],
      workgroups: [Math.ceil(T / k.bwdRows), NH, n] as const,
      constants: { WG: k.WG },
    };
    gpu.dispatch(k.dq, o);
    gpu.dispatch(k.dkv, o);
  }
  delta.release();
}

/**
 * Prefill with a KV cache: the cache for one layer is simply the qkv rows of the sequence so far, qkvCache[Tmax, 3C] (B=1).
 * Queries are rows [t0, t0+Tq) of qkvCache (already written there), keys/values rows [0, t0+Tq), causal.
 * out[Tq, C]. Decoding a batch of sequences, one row each, is attentionDecode (attention_decode.ts).
 */
export function attentionCached(qkvCache: Tensor, out: Tensor, t0: number, Tq: number, C: number, NH: number): void {
  const hs = headSize('attentionCached', C, NH);
  const Tmax = qkvCache.size / (3 * C);
  if (!Number.isInteger(Tmax) || t0 < 0 || Tq < 1 || t0 + Tq > Tmax) {
    throw new Error(`attentionCached: rows [${t0}, ${t0 + Tq}) outside a cache of ${qkvCache.size / (3 * C)} rows`);
  }
  expectSize(out, Tq * C, 'attentionCached');
  const gpu = qkvCache.gpu;
  const scale = 1 / Math.sqrt(hs);
  const k = family(gpu, hs);
  const lse = gpu.tensor([NH, Tq], 'attention cached lse (unused)');
  gpu.dispatch(k.fwd, {
    params: { Tq, t0, rows: Tmax, C4: C / 4, hs4: hs / 4, b0: 0, scale },
    bindings: [qkvCache, out, lse],
    workgroups: [Math.ceil(Tq / k.fwdRows), NH, 1],
    constants: { WG: k.WG },
  });
  lse.release();
}

// ---- CPU reference (float64) ----

/** Reference forward: out[B,T,C] and lse[B,NH,T] (natural log of each row's softmax denominator, scores scaled). */
export function attentionForwardCpu(qkv: ArrayLike<number>, B: number, T: number, C: number, NH: number): { out: Float64Array; lse: Float64Array } {
  const hs = C / NH, scale = 1 / Math.sqrt(hs), C3 = 3 * C;
  const out = new Float64Array(B * T * C), lse = new Float64Array(B * NH * T);
  const s = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let i = 0; i < T; i++) {
        const qi = (b * T + i) * C3 + h * hs;
        let m = -Infinity;
        for (let j = 0; j <= i; j++) {
          const kj = (b * T + j) * C3 + C + h * hs;
          let dot = 0;
          for (let d = 0; d < hs; d++) dot += qkv[qi + d] * qkv[kj + d];
          s[j] = dot * scale;
          m = Math.max(m, s[j]);
        }
        let sum = 0;
        for (let j = 0; j <= i; j++) sum += (s[j] = Math.exp(s[j] - m));
        const oi = (b * T + i) * C + h * hs;
        for (let j = 0; j <= i; j++) {
          const vj = (b * T + j) * C3 + 2 * C + h * hs;
          for (let d = 0; d < hs; d++) out[oi + d] += (s[j] / sum) * qkv[vj + d];
        }
        lse[(b * NH + h) * T + i] = m + Math.log(sum);
      }
    }
  }
  return { out, lse };
}

/** Reference backward: dqkv[B,T,3C] (fresh, not accumulated) for L = sum(out * dout). */
export function attentionBackwardCpu(qkv: ArrayLike<number>, dout: ArrayLike<number>, B: number, T: number, C: number, NH: number): Float64Array {
  const hs = C / NH, scale = 1 / Math.sqrt(hs), C3 = 3 * C;
  const dqkv = new Float64Array(B * T * C3);
  const P = new Float64Array(T), dP = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      const q = (t: number) => (b * T + t) * C3 + h * hs;
      const k = (t: number) => q(t) + C;
      const v = (t: number) => q(t) + 2 * C;
      for (let i = 0; i < T; i++) {
        // probabilities of row i
        let m = -Infinity;
        for (let j = 0; j <= i; j++) {
          let dot = 0;
          for (let d = 0; d < hs; d++) dot += qkv[q(i) + d] * qkv[k(j) + d];
          P[j] = dot * scale;
          m = Math.max(m, P[j]);
        }
        let sum = 0;
        for (let j = 0; j <= i; j++) sum += (P[j] = Math.exp(P[j] - m));
        for (let j = 0; j <= i; j++) P[j] /= sum;
        // dP[j] = dout_i · v_j; out_i = sum_j P[j] v_j gives dv_j += P[j] dout_i
        const o = (b * T + i) * C + h * hs;
        for (let j = 0; j <= i; j++) {
          let dot = 0;
          for (let d = 0; d < hs; d++) {
            dot += dout[o + d] * qkv[v(j) + d];
            dqkv[v(j) + d] += P[j] * dout[o + d];
          }
          dP[j] = dot;
        }
        // softmax backward: dS[j] = P[j] (dP[j] - sum_k P[k] dP[k])
        let pdp = 0;
        for (let j = 0; j <= i; j++) pdp += P[j] * dP[j];
        for (let j = 0; j <= i; j++) {
          const dS = P[j] * (dP[j] - pdp) * scale;
          for (let d = 0; d < hs; d++) {
            dqkv[q(i) + d] += dS * qkv[k(j) + d];
            dqkv[k(j) + d] += dS * qkv[q(i) + d];
          }
        }
      }
    }
  }
  return dqkv;
}
