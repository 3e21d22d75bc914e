// GPT-2 forward and backward composed only of the ops' plain-TypeScript CPU references
// (float64). Used by tests as the ground truth for the GPU model's logits and gradients, so it
// shares no code with the GPU model (src/model/gpt2.ts): it is the independent check of it.
// Same order and names as GPT2.hidden. With `lora` (no dropout), the projections that have an
// adapter add scale · (x·Aᵀ)·Bᵀ, and the gradients include their lora_A and lora_B.
import { matmulCpu, biasBackwardCpu } from '../src/ops/matmul.ts';
import { layernormForwardCpu, layernormBackwardCpu } from '../src/ops/layernorm.ts';
import { geluForwardCpu, geluBackwardCpu } from '../src/ops/gelu.ts';
import { attentionForwardCpu, attentionBackwardCpu } from '../src/ops/attention.ts';
import { residualForwardCpu } from '../src/ops/residual.ts';
import { embeddingForwardCpu, embeddingBackwardCpu } from '../src/ops/embedding.ts';
import { crossEntropyCpu } from '../src/ops/crossentropy.ts';
import type { GPT2Config } from '../src/model/config.ts';

type Params = Map<string, ArrayLike<number>>;

function add(a: Float64Array, b: ArrayLike<number>): Float64Array {
  for (let i = 0; i < a.length; i++) a[i] += b[i];
  return a;
}

/** an adapter: lora_A / lora_B by canonical name ('h.0.attn.c_attn.lora_A.weight'), rank and scale */
export interface CpuLora { weights: Params; r: number; scale: number }

/**
 * logits [B*T, V] and (with targets) the mean loss over targets >= 0 plus every parameter's
 * gradient. `outputVocab`: the loss's softmax covers these token ids only, each logit plus its
 * bias (the other logits count as -Infinity there), as GPT2.outputVocab trains.
 */
export function gpt2Cpu(
  c: GPT2Config, P: Params, tokens: ArrayLike<number>, B: number, T: number, targets?: ArrayLike<number>, lora?: CpuLora, outputVocab?: { ids: ArrayLike<number>; bias?: ArrayLike<number> | null },
): { logits: Float64Array; loss?: number; grads?: Map<string, Float64Array> } {
  const { n_layer: L, n_head: NH, n_embd: C, vocab_size: V, layer_norm_epsilon: eps } = c;
  const N = B * T;
  const p = (n: string) => P.get(n)!;
  const ad = (name: string) => {
    const A = lora?.weights.get(`${name}.lora_A.weight`), Bw = lora?.weights.get(`${name}.lora_B.weight`);
    return A && Bw ? { A, B: Bw, r: lora!.r, s: lora!.scale } : null;
  };
  // x[M,K]·W + b (+ s·(x·Aᵀ)·Bᵀ)
  const linear = (name: string, inp: Float64Array, M: number, K: number, Nn: number) => {
    const out = matmulCpu(inp, p(`${name}.weight`), M, Nn, K, { bias: p(`${name}.bias`) });
    const a = ad(name);
    if (!a) return out;
    const lo = matmulCpu(matmulCpu(inp, a.A, M, a.r, K, { transB: true }), a.B, M, Nn, a.r, { transB: true });
    for (let i = 0; i < out.length; i++) out[i] += a.s * lo[i];
    return out;
  };
  const acts: Record<string, Float64Array>[] = [];
  let x = embeddingForwardCpu(tokens, p('wte.weight'), p('wpe.weight'), N, T, C);
  for (let l = 0; l < L; l++) {
    const h = (n: string) => p(`h.${l}.${n}`);
    // x1 = x + attn(ln_1(x))
    const a1 = layernormForwardCpu(x, h('ln_1.weight'), h('ln_1.bias'), N, C, eps).out;
    const qkv = linear(`h.${l}.attn.c_attn`, a1, N, C, 3 * C);
    const att = attentionForwardCpu(qkv, B, T, C, NH).out;
    const ap = linear(`h.${l}.attn.c_proj`, att, N, C, C);
    const x1 = residualForwardCpu(x, ap);
    // x2 = x1 + mlp(ln_2(x1))
    const a2 = layernormForwardCpu(x1, h('ln_2.weight'), h('ln_2.bias'), N, C, eps).out;
    const fc = linear(`h.${l}.mlp.c_fc`, a2, N, C, 4 * C);
    const g = geluForwardCpu(fc);
    const mp = linear(`h.${l}.mlp.c_proj`, g, N, 4 * C, C);
    const x2 = residualForwardCpu(x1, mp);
    acts.push({ x, a1, qkv, att, x1, a2, fc, g });
    x = x2;
  }
  const lnf = layernormForwardCpu(x, p('ln_f.weight'), p('ln_f.bias'), N, C, eps).out;
  const logits = matmulCpu(lnf, p('wte.weight'), N, V, C, { transB: true });
  if (!targets) return { logits };

  let scored: Float64Array = logits;
  if (outputVocab) {
    const offset = new Map<number, number>();
    for (let i = 0; i < outputVocab.ids.length; i++) offset.set(outputVocab.ids[i], outputVocab.bias?.[i] ?? 0);
    scored = logits.map((v, i) => (offset.has(i % V) ? v + offset.get(i % V)! : -Infinity));
  }
  const ce = crossEntropyCpu(scored, targets, N, V);
  let count = 0, loss = 0;
  for (let i = 0; i < N; i++) if (targets[i] >= 0) { count++; loss += ce.losses[i]; }
  loss /= count;
  const grads = new Map<string, Float64Array>();
  const acc = (n: string, g: Float64Array) => grads.set(n, grads.has(n) ? add(grads.get(n)!, g) : g);
  const dlogits = ce.dlogits.map((v) => v / count);
  acc('wte.weight', matmulCpu(dlogits, lnf, V, C, N, { transA: true }));
  const dlnf = matmulCpu(dlogits, p('wte.weight'), N, C, V);
  const lf = layernormBackwardCpu(dlnf, x, p('ln_f.weight'), N, C, eps);
  acc('ln_f.weight', lf.dweight);
  acc('ln_f.bias', lf.dbias);
  let dx = lf.dinp;
  const linearBack = (name: string, inp: Float64Array, dout: Float64Array, M: number, K: number, Nn: number) => {
    acc(`${name}.weight`, matmulCpu(inp, dout, K, Nn, M, { transA: true }));
    acc(`${name}.bias`, biasBackwardCpu(dout, M, Nn));
    const dinp = matmulCpu(dout, p(`${name}.weight`), M, K, Nn, { transB: true });
    const a = ad(name);
    if (!a) return dinp;
    // u = x·Aᵀ; dB = s·doutᵀ·u; du = s·dout·B; dA = duᵀ·x; dx += du·A
    const u = matmulCpu(inp, a.A, M, a.r, K, { transB: true });
    acc(`${name}.lora_B.weight`, matmulCpu(dout, u, Nn, a.r, M, { transA: true }).map((v) => v * a.s));
    const du = matmulCpu(dout, a.B, M, a.r, Nn).map((v) => v * a.s);
    acc(`${name}.lora_A.weight`, matmulCpu(du, inp, a.r, K, M, { transA: true }));
    return add(dinp, matmulCpu(du, a.A, M, K, a.r));
  };
  for (let l = L - 1; l >= 0; l--) {
    const a = acts[l];
    const pre = `h.${l}`;
    // x2 = x1 + mlp(ln2(x1))
    const dg = linearBack(`${pre}.mlp.c_proj`, a.g, dx, N, 4 * C, C);
    const dfc = geluBackwardCpu(a.fc, dg);
    const dln2 = linearBack(`${pre}.mlp.c_fc`, a.a2, dfc, N, C, 4 * C);
    const l2 = layernormBackwardCpu(dln2, a.x1, p(`${pre}.ln_2.weight`), N, C, eps);
    acc(`${pre}.ln_2.weight`, l2.dweight);
    acc(`${pre}.ln_2.bias`, l2.dbias);
    const dx1 = add(Float64Array.from(dx), l2.dinp);
    // x1 = x + attn(ln1(x))
    const datt = linearBack(`${pre}.attn.c_proj`, a.att, dx1, N, C, C);
    const dqkv = attentionBackwardCpu(a.qkv, datt, B, T, C, NH);
    const dln1 = linearBack(`${pre}.attn.c_attn`, a.a1, dqkv, N, C, 3 * C);
    const l1 = layernormBackwardCpu(dln1, a.x, p(`${pre}.ln_1.weight`), N, C, eps);
    acc(`${pre}.ln_1.weight`, l1.dweight);
    acc(`${pre}.ln_1.bias`, l1.dbias);
    dx = add(Float64Array.from(dx1), l1.dinp);
  }
  const e = embeddingBackwardCpu(dx, tokens, N, T, C, V);
  acc('wte.weight', e.dwte);
  const dwpe = new Float64Array(c.n_positions * C); // positions >= T get no gradient
  dwpe.set(e.dwpe.subarray(0, T * C));
  acc('wpe.weight', dwpe);
  return { logits, loss, grads };
}
