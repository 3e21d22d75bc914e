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

const act = (tape: Tape, like: Tensor, shape: readonly number[], label: string): Tensor =>
  tape.track(like.gpu.tensor(shape, label));

/** x[M,K] · w[K,N] + b  (HF Conv1D layout) */
export function linear(tape: Tape, x: Tensor, w: Tensor, b: Tensor | null, M: number, K: number, N: number, label: string): Tensor {
  const out = act(tape, x, [M, N], label);
  matmul(x, w, out, M, N, K, { bias: b ?? undefined });
  tape.record([out], [x], () => {
    const dout = out.grad;
    if (!dout) return;
    matmul(dout, w, tape.grad(x), M, K, N, { transB: true, accumulate: true });
    matmul(x, dout, tape.grad(w), K, N, M, { transA: true, accumulate: true });
    if (b) matmulBiasBackward(dout, tape.grad(b), M, N);
  });
  return out;
}

export function layernorm(tape: Tape, x: Tensor, w: Tensor, b: Tensor, N: number, C: number, eps: number, label: string): Tensor {
  const out = act(tape, x, [N, C], label);
  const mean = act(tape, x, [N], `${label}.mean`);
  const rstd = act(tape, x, [N], `${label}.rstd`);
  layernormForward(x, w, b, out, mean, rstd, N, C, eps);
  tape.record([out, mean, rstd], [x], () => {
    if (!out.grad) return;
    layernormBackward(out.grad, x, w, mean, rstd, tape.grad(x), tape.grad(w), tape.grad(b), N, C);
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

/** wte[tokens] + wpe[position]; tokens as a u32 tensor plus the same ids on the CPU for the backward bucketing */
export function embedding(
  tape: Tape, tokens: Tensor, tokenIds: Uint32Array, wte: Tensor, wpe: Tensor, B: number, T: number, C: number, V: number,
): Tensor {
  const out = act(tape, wte, [B * T, C], 'embedding');
  // the backward's bucketing is uploaded now, before any dispatch of the step is recorded, so the step stays one submit
  const buckets = tape.enabled ? embeddingBuckets(wte.gpu, tokenIds, B * T, C, V) : null;
  buckets?.chunks.forEach((c) => tape.track(c.bucket)); // freed by tape.clear() even if no backward runs
  embeddingForward(tokens, wte, wpe, out, B * T, T, C, V);
  tape.record([out], [], () => {
    if (out.grad) embeddingBackward(out.grad, buckets!, tape.grad(wte), tape.grad(wpe), B * T, T, C, V);
    buckets!.release();
  });
  return out;
}
