// KV-cached GPT-2 inference for the chat REPL (batch 1). The cache of a layer is simply the
// qkv rows of every token so far, [n_positions, 3C]: prefill writes many rows at once, decode
// one; attention reads keys and values from those rows. No tape, no gradients.
// The block is written again here, not shared with the tape model (gpt2.ts): this one runs at
// positions t0.. of a cache, writes each layer's qkv rows into it, attends over the cache, uses
// matrix-vector kernels for a single token and reuses its activation buffers across layers; the
// tape model records a backward for every op. Same order and names as GPT2.hidden: keep them parallel.
import type { Gpu, Tensor } from '../gpu/index.ts';
import { getGpu } from '../node/gpu.ts';
import { UserError } from '../util/errors.ts';
import { matmul } from '../ops/matmul.ts';
import { matvec, matvecFits, matvecT } from '../ops/matvec.ts';
import { layernormForward } from '../ops/layernorm.ts';
import { geluForward } from '../ops/gelu.ts';
import { attentionCached } from '../ops/attention.ts';
import { residualForward } from '../ops/residual.ts';
import { embeddingForward } from '../ops/embedding.ts';
import { GPT2 } from './gpt2.ts';
import { loadWeights } from './load.ts';
import type { Generator } from './generator.ts';
import { describeConfig } from './config.ts';

export class GPT2Generator implements Generator {
  private caches: Tensor[];
  cached = 0;

  constructor(readonly model: GPT2) {
    const { n_layer, n_positions, n_embd } = model.config;
    this.caches = Array.from({ length: n_layer }, (_, l) => model.gpu.zeros([n_positions, 3 * n_embd], `kv cache h${l}`));
  }

  get contextLength(): number {
    return this.model.config.n_positions;
  }
  get vocabSize(): number {
    return this.model.config.vocab_size;
  }
  reset(): void {
    this.cached = 0;
  }
  truncate(n: number): void {
    this.cached = Math.max(0, Math.min(n, this.cached));
  }

  /** Run `tokens` through the model at positions cached.. and return the next token's logits. */
  async append(tokens: number[]): Promise<Float32Array> {
    const n = tokens.length;
    if (!n) throw new Error('append: no tokens');
    const { n_layer: L, n_head: NH, n_embd: C, vocab_size: V, n_positions: P, layer_norm_epsilon: eps } = this.model.config;
    const t0 = this.cached;
    if (t0 + n > P) throw new UserError(`context overflow: ${t0 + n} tokens > ${P}`);
    const gpu = this.model.gpu;
    const p = (name: string) => this.model.p(name);
    const tmp: Tensor[] = [];
    // x[n,K] · w[K,N] + b: a matrix-vector product when decoding a single token
    const linear = (inp: Tensor, w: Tensor, b: Tensor, out: Tensor, K: number, N: number) =>
      n === 1 && matvecFits(K, N) && w.bytes <= gpu.bindingLimit ? matvec(inp, w, out, K, N, b) : matmul(inp, w, out, n, N, K, { bias: b });
    const T = (shape: number[], label: string) => {
      const t = gpu.tensor(shape, label);
      tmp.push(t);
      return t;
    };
    const tok = gpu.fromArray(Uint32Array.from(tokens), [n], 'tokens');
    tmp.push(tok);
    // Row ranges are copied rather than bound as views: a view's byte offset must be a multiple
    // of 256, which positions t0 of a narrow model do not satisfy.
    const pos = T([n, C], 'wpe rows');
    gpu.copy(p('wpe.weight'), pos, n * C, t0 * C, 0);
    let x = T([n, C], 'x');
    embeddingForward(tok, p('wte.weight'), pos, x, n, n, C, V);
    // one set of activation buffers serves every layer; the residual stream alternates between x and x2
    const mean = T([n], 'mean'), rstd = T([n], 'rstd');
    const a1 = T([n, C], 'ln_1'), qkv = T([n, 3 * C], 'qkv'), att = T([n, C], 'att'), ap = T([n, C], 'attn_proj');
    const a2 = T([n, C], 'ln_2'), fc = T([n, 4 * C], 'fc'), g = T([n, 4 * C], 'gelu'), mp = T([n, C], 'mlp_proj');
    let x2 = T([n, C], 'x2');
    for (let l = 0; l < L; l++) {
      const h = (s: string) => p(`h.${l}.${s}`);
      // x = x + attn(ln_1(x)), keys and values from the cache
      layernormForward(x, h('ln_1.weight'), h('ln_1.bias'), a1, mean, rstd, n, C, eps);
      linear(a1, h('attn.c_attn.weight'), h('attn.c_attn.bias'), qkv, C, 3 * C);
      gpu.copy(qkv, this.caches[l], n * 3 * C, 0, t0 * 3 * C);
      attentionCached(this.caches[l], att, t0, n, C, NH);
      linear(att, h('attn.c_proj.weight'), h('attn.c_proj.bias'), ap, C, C);
      residualForward(x, ap, x2);
      [x, x2] = [x2, x];
      // x = x + mlp(ln_2(x))
      layernormForward(x, h('ln_2.weight'), h('ln_2.bias'), a2, mean, rstd, n, C, eps);
      linear(a2, h('mlp.c_fc.weight'), h('mlp.c_fc.bias'), fc, C, 4 * C);
      geluForward(fc, g);
      linear(g, h('mlp.c_proj.weight'), h('mlp.c_proj.bias'), mp, 4 * C, C);
      residualForward(x, mp, x2);
      [x, x2] = [x2, x];
    }
    const xl = T([1, C], 'last row');
    gpu.copy(x, xl, C, (n - 1) * C, 0);
    const last = T([1, C], 'ln_f last');
    layernormForward(xl, p('ln_f.weight'), p('ln_f.bias'), last, T([1], 'mean'), T([1], 'rstd'), 1, C, eps);
    const logits = T([1, V], 'logits');
    matvecT(last, p('wte.weight'), logits, V, C);
    const out = await logits.read();
    for (const t of tmp) t.release();
    this.cached = t0 + n;
    return out;
  }
}

/** `adapter`: a LoRA adapter directory, merged into the weights as they load */
export async function openGenerator(init: string, opts: { gpu?: Gpu; adapter?: string } = {}): Promise<{ generator: GPT2Generator; loadMs: number; describe: string }> {
  const t0 = performance.now();
  const w = await loadWeights(init, { adapter: opts.adapter });
  const gpu = opts.gpu ?? (await getGpu());
  const model = GPT2.fromArrays(gpu, w.config, w.arrays);
  const generator = new GPT2Generator(model);
  await gpu.sync();
  const c = w.config;
  return { generator, loadMs: performance.now() - t0, describe: `${w.source}: ${describeConfig(c)} on ${gpu.adapterName}` };
}
