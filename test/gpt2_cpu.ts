// GPT-2 forward and backward composed only of the ops' plain-TypeScript CPU references
// (float64). Used by tests as the ground truth for the GPU model's logits and gradients, so it
// shares no code with the GPU model (src/model/gpt2.ts): it is the independent check of it.
// Same order and names as GPT2.hidden.
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

/** logits [B*T, V] and (with targets) the mean loss over targets >= 0 plus every parameter's gradient */
export function gpt2Cpu(
  c: GPT2Config, P: Params, tokens: ArrayLike<number>, B: number, T: number, targets?: ArrayLike<number>,
): { logits: Float64Array; loss?: number; grads?: Map<string, Float64Array> } {
  const { n_layer: L, n_head: NH, n_embd: C, vocab_size: V, layer_norm_epsilon: eps } = c;
  const N = B * T;
  const p = (n: string) => P.get(n)!;
  const acts: Record<string, Float64Array>[] = [];
  let x = embeddingForwardCpu(tokens, p('wte.weight'), p('wpe.weight'), N, T, C);
  for (let l = 0; l < L; l++) {
    const h = (n: string) => p(`h.${l}.${n}`);
    // x1 = x + attn(ln_1(x))
    const a1 = layernormForwardCpu(x, h('ln_1.weight'), h('ln_1.bias'), N, C, eps).out;
    const qkv = matmulCpu(a1, h('attn.c_attn.weight'), N, 3 * C, C, { bias: h('attn.c_attn.bias') });
    const att = attentionForwardCpu(qkv, B, T, C, NH).out;
    const ap = matmulCpu(att, h('attn.c_proj.weight'), N, C, C, { bias: h('attn.c_proj.bias') });
    const x1 = residualForwardCpu(x, ap);
    // x2 = x1 + mlp(ln_2(x1))
    const a2 = layernormForwardCpu(x1, h('ln_2.weight'), h('ln_2.bias'), N, C, eps).out;
    const fc = matmulCpu(a2, h('mlp.c_fc.weight'), N, 4 * C, C, { bias: h('mlp.c_fc.bias') });
    const g = geluForwardCpu(fc);
    const mp = matmulCpu(g, h('mlp.c_proj.weight'), N, C, 4 * C, { bias: h('mlp.c_proj.bias') });
    const x2 = residualForwardCpu(x1, mp);
    acts.push({ x, a1, qkv, att, x1, a2, fc, g });
    x = x2;
  }
  const lnf = layernormForwardCpu(x, p('ln_f.weight'), p('ln_f.bias'), N, C, eps).out;
  const logits = matmulCpu(lnf, p('wte.weight'), N, V, C, { transB: true });
  if (!targets) return { logits };

  const ce = crossEntropyCpu(logits, targets, N, V);
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
    return matmulCpu(dout, p(`${name}.weight`), M, K, Nn, { transB: true });
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
