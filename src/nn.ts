// Tape-level layers: each runs its forward kernel now and records the matching backward.
// The model (src/model/gpt2.ts) is written in terms of these.
import type { Tensor } from './gpu/index.ts';
import type { Tape } from './tape.ts';
import { matmul, matmulBiasBackward } from './ops/matmul.ts';
import { layernormBackward, layernormForward } from './ops/layernorm.ts';
import { geluBackward, geluForward } from './ops/gelu.ts';
import { attentionBackward, attentionForward } from './ops/attention.ts';
import { addInto, residualForward } from './ops/residual.ts';
import { embeddingBackward, embeddingBuckets, embeddingForward } from './ops/embedding.ts';
import { dropout } from './ops/dropout.ts';

const act = (tape: Tape, like: Tensor, shape: readonly number[], label: string): Tensor =>
  tape.track(like.gpu.tensor(shape, label));

/**
 * A LoRA adapter beside a linear layer: A [r, K] and B [N, r] add scale · (drop(x)·Aᵀ)·Bᵀ to its
 * output. drop is dropout with probability p (training only), its mask a hash of `seed`.
 */
export interface LoraWeights { A: Tensor; B: Tensor; r: number; scale: number; dropout: number; seed: number }

/**
 * x[M,K] · w[K,N] + b  (HF Conv1D layout), plus `lora`'s low-rank term when given. Frozen
 * weights (tape.freeze) get no weight gradient; the input gradient always flows. w may be f16
 * when frozen (a LoRA run's base kept in f16: --dtype f16; the model refuses to train f16 weights).
 */
export function linear(tape: Tape, x: Tensor, w: Tensor, b: Tensor | null, M: number, K: number, N: number, label: string, lora?: LoraWeights): Tensor {
  const out = act(tape, x, [M, N], label);
  matmul(x, w, out, M, N, K, { bias: b ?? undefined });
  const adapter = lora ? loraForward(tape, x, out, lora, M, K, N, label) : null;
  tape.record([out], [x, ...(adapter?.saved ?? [])], () => {
    const dout = out.grad;
    if (!dout) return;
    matmul(dout, w, tape.grad(x), M, K, N, { transB: true, accumulate: true });
    if (tape.needsGrad(w)) matmul(x, dout, tape.grad(w), K, N, M, { transA: true, accumulate: true });
    if (b && tape.needsGrad(b)) matmulBiasBackward(dout, tape.grad(b), M, N);
    adapter?.backward(dout);
  });
  return out;
}

/**
 * out += scale · (drop(x)·Aᵀ)·Bᵀ, and its backward. Two small matmuls each way through the
 * [M, r] bottleneck u. The scale rides on the dropout pass over x when there is one, else on u
 * (and on du in the backward), whichever tensor is already being written.
 */
function loraForward(tape: Tape, x: Tensor, out: Tensor, l: LoraWeights, M: number, K: number, N: number, label: string) {
  const { A, B, r, scale } = l;
  const p = tape.enabled ? l.dropout : 0; // no dropout when evaluating
  // xin = scale · drop(x) with dropout, else x; u = xin · Aᵀ, scaled here when xin is not
  const xin = p > 0 ? act(tape, x, [M, K], `${label}.lora_in`) : x;
  if (p > 0) dropout(x, xin, p, l.seed, scale);
  const u = act(tape, x, [M, r], `${label}.lora_u`);
  if (p > 0) matmul(xin, A, u, M, r, K, { transB: true });
  else {
    const xa = x.gpu.tensor([M, r], `${label}.x·Aᵀ`);
    matmul(x, A, xa, M, r, K, { transB: true });
    dropout(xa, u, 0, 0, scale);
    xa.release();
  }
  matmul(u, B, out, M, N, r, { transB: true, accumulate: true });
  const backward = (dout: Tensor) => {
    const gpu = x.gpu;
    // dB[N,r] += doutᵀ · u ; du = scale · dout · B (the scale is in xin with dropout)
    if (tape.needsGrad(B)) matmul(dout, u, tape.grad(B), N, r, M, { transA: true, accumulate: true });
    const du = gpu.tensor([M, r], `d(${label}.lora_u)`);
    if (p > 0) matmul(dout, B, du, M, r, N);
    else {
      const unscaled = gpu.tensor([M, r], `d(${label}.lora_u) / scale`);
      matmul(dout, B, unscaled, M, r, N);
      dropout(unscaled, du, 0, 0, scale);
      unscaled.release();
    }
    // dA[r,K] += duᵀ · xin ; dx += du · A, through the same dropout mask and scale
    if (tape.needsGrad(A)) matmul(du, xin, tape.grad(A), r, K, M, { transA: true, accumulate: true });
    if (p > 0) {
      const dxin = gpu.tensor([M, K], `d(${label}.lora_in)`);
      matmul(du, A, dxin, M, K, r);
      dropout(dxin, tape.grad(x), p, l.seed, scale, true);
      dxin.release();
    } else matmul(du, A, tape.grad(x), M, K, r, { accumulate: true });
    du.release();
  };
  return { saved: p > 0 ? [xin, u] : [u], backward };
}

export function layernorm(tape: Tape, x: Tensor, w: Tensor, b: Tensor, N: number, C: number, eps: number, label: string): Tensor {
  const out = act(tape, x, [N, C], label);
  const mean = act(tape, x, [N], `${label}.mean`);
  const rstd = act(tape, x, [N], `${label}.rstd`);
  layernormForward(x, w, b, out, mean, rstd, N, C, eps);
  tape.record([out, mean, rstd], [x], () => {
    if (!out.grad) return;
    const train = tape.needsGrad(w) || tape.needsGrad(b); // frozen (LoRA): only the input gradient
    layernormBackward(out.grad, x, w, mean, rstd, tape.grad(x), train ? tape.grad(w) : null, train ? tape.grad(b) : null, N, C);
  });
  return out;
}

export function gelu(tape: Tape, x: Tensor, label: string): Tensor {
  const out = act(tape, x, x.shape, label);
  geluForward(x, out);
  tape.record([out], [x], () => {
    if (out.grad) geluBackward(x, out.grad, tape.grad(x));
  });
  return out;
}

/** causal self-attention on packed qkv[B,T,3C] -> [B,T,C] */
export function attention(tape: Tape, qkv: Tensor, B: number, T: number, C: number, NH: number, label: string): Tensor {
  const out = act(tape, qkv, [B * T, C], label);
  const lse = act(tape, qkv, [B * NH * T], `${label}.lse`);
  attentionForward(qkv, out, lse, B, T, C, NH);
  tape.record([out, lse], [qkv], () => {
    if (out.grad) attentionBackward(qkv, out, lse, out.grad, tape.grad(qkv), B, T, C, NH);
  });
  return out;
}

/** a + b; the gradient flows unchanged to both */
export function residual(tape: Tape, a: Tensor, b: Tensor, label: string): Tensor {
  const out = act(tape, a, a.shape, label);
  residualForward(a, b, out);
  tape.record([out], [], () => {
    if (!out.grad) return;
    // both inputs receive dout; reuse the buffer for one of them when it has no gradient yet
    for (const x of [a, b]) {
      if (!x.grad) {
        x.grad = x.gpu.tensor(x.shape, `d(${x.label})`);
        x.gpu.copy(out.grad, x.grad);
      } else addInto(x.grad, out.grad);
    }
  });
  return out;
}

/**
 * wte[tokens] + wpe[position] (wpe null: wte's rows alone, as the sampled softmax gathers them);
 * tokens as a u32 tensor plus the same ids on the CPU for the backward bucketing
 */
export function embedding(
  tape: Tape, tokens: Tensor, tokenIds: Uint32Array, wte: Tensor, wpe: Tensor | null, B: number, T: number, C: number, V: number,
): Tensor {
  const out = act(tape, wte, [B * T, C], 'embedding');
  // frozen tables (LoRA) need no backward at all: nothing below them learns
  const train = tape.enabled && (tape.needsGrad(wte) || (wpe !== null && tape.needsGrad(wpe)));
  // the backward's bucketing is uploaded now, before any dispatch of the step is recorded, so the step stays one submit
  const buckets = train ? embeddingBuckets(wte.gpu, tokenIds, B * T, C, V) : null;
  buckets?.chunks.forEach((c) => tape.track(c.bucket)); // freed by tape.clear() even if no backward runs
  embeddingForward(tokens, wte, wpe, out, B * T, T, C, V);
  if (!train) return out;
  tape.record([out], [], () => {
    if (out.grad) embeddingBackward(out.grad, buckets!, tape.grad(wte), wpe && tape.grad(wpe), B * T, T, C, V);
    buckets!.release();
  });
  return out;
}
