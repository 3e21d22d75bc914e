// KV-cached GPT-2 inference, batched: `slots` sequences, each with its own cache and length.
// A prompt is prefilled into one slot (one forward over all its tokens, matmul path); a decode
// step runs one token of any set of slots through ONE forward whose matrix products read each
// weight once for all of them (matvec.ts), each sequence attending over its own cache
// (attention_decode.ts). The chat REPL's and the page's Generator is one slot of it
// (GPT2Generator; src/node/load_model.ts opens one from a directory in Node).
// The cache of a layer for one slot is simply the qkv rows of its tokens, [n_positions, 3C];
// the slots of a layer sit in cache tensors that each fit one storage binding. No tape.
// The block is written again here, not shared with the tape model (gpt2.ts): this one runs at
// positions of caches, writes each layer's qkv rows into them, attends over the caches, uses
// matrix-vector kernels for a few rows and reuses its activation buffers across layers; the
// tape model records a backward for every op. Same order and names as GPT2.hidden: keep them parallel.
// With f16 weights (GPT2.fromArrays' `weights`) the matrix-vector kernels, the embedding and the
// lm_head read the f16 matrices directly, and so does prefill's matmul on a CPU adapter (its
// packing reads f16); elsewhere matmul widens each into a pooled f32 temporary released right after.
import type { Tensor } from '../gpu/index.ts';
import { UserError } from '../util/errors.ts';
import { matmul } from '../ops/matmul.ts';
import { MATVEC_ROWS, matvec, matvecFits, matvecPanelCopies, matvecT, prepareMatvec, prepareMatvecT } from '../ops/matvec.ts';
import { layernormForward } from '../ops/layernorm.ts';
import { geluForward } from '../ops/gelu.ts';
import { attentionCached } from '../ops/attention.ts';
import { attentionDecode, DecodeEntries, kvAppend, type DecodeEntry } from '../ops/attention_decode.ts';
import { residualForward } from '../ops/residual.ts';
import { embeddingForward } from '../ops/embedding.ts';
import { rowsPerBinding } from '../ops/fit.ts';
import { isF16Weight, type GPT2 } from './gpt2.ts';
import type { GPT2Config } from './config.ts';
import { SlotGenerator, type BatchGenerator, type DecodeStep } from './generator.ts';

/** floats from one slot's cache to the next: its [n_positions, 3C], rounded up to whole 256-byte blocks so it can be bound as a view */
const kvStride = (c: GPT2Config) => Math.ceil((c.n_positions * 3 * c.n_embd) / 64) * 64;
/** bytes of one slot's KV caches, all layers: what GPT2BatchGenerator allocates per slot, up front */
export const kvBytesPerSlot = (c: GPT2Config) => c.n_layer * kvStride(c) * 4;

export class GPT2BatchGenerator implements BatchGenerator {
  /** floats from one slot's cache to the next (kvStride) */
  readonly stride: number;
  /** slots per cache tensor (as many as fit one binding) */
  readonly slotsPerTensor: number;
  /** caches[layer][t]: slots t*slotsPerTensor.. of that layer */
  private caches: Tensor[][];
  private lengths: number[];

  constructor(readonly model: GPT2, readonly slots: number) {
    const { n_layer } = model.config;
    const gpu = model.gpu;
    if (!(Number.isInteger(slots) && slots >= 1)) throw new Error(`GPT2BatchGenerator: slots=${slots} must be a positive integer`);
    this.stride = kvStride(model.config);
    this.slotsPerTensor = Math.min(slots, rowsPerBinding(this.stride * 4, gpu.bindingLimit, 1, 'KV cache of one sequence'));
    const tensors = Math.ceil(slots / this.slotsPerTensor);
    this.caches = Array.from({ length: n_layer }, (_, l) => Array.from({ length: tensors }, (_, t) => {
      const n = Math.min(this.slotsPerTensor, slots - t * this.slotsPerTensor);
      return gpu.zeros([n, this.stride], `kv cache h${l} slots ${t * this.slotsPerTensor}..${t * this.slotsPerTensor + n - 1}`);
    }));
    this.lengths = new Array(slots).fill(0);
    this.prepare();
  }

  /**
   * Make the weights' decode copies now (matvec.ts: packed copies on CPU adapters) and submit
   * that work, so it runs while the caller waits for a first prompt, not in the first steps.
   */
  private prepare(): void {
    const { n_embd: C, vocab_size: V } = this.model.config;
    // the matrices decode multiplies by: each block's projections [K, N], and wte as the lm_head
    for (const [name, w] of this.model.params) {
      if (name === 'wte.weight') {
        if (C % 4 === 0) prepareMatvecT(w, V, C);
      } else if (isF16Weight(name)) {
        const [K, N] = w.shape;
        if (matvecFits(K, N)) prepareMatvec(w, K, N);
      }
    }
    // the packing's staging buffers (the largest as big as wte's copy) are not needed again
    if (matvecPanelCopies(this.model.gpu)) this.model.gpu.trim();
    else this.model.gpu.flush();
  }

  get contextLength(): number {
    return this.model.config.n_positions;
  }
  get vocabSize(): number {
    return this.model.config.vocab_size;
  }
  private checkSlot(slot: number): void {
    if (!(Number.isInteger(slot) && slot >= 0 && slot < this.slots)) throw new Error(`slot ${slot} outside 0..${this.slots - 1}`);
  }
  cached(slot: number): number {
    this.checkSlot(slot);
    return this.lengths[slot];
  }
  truncate(slot: number, n: number): void {
    this.checkSlot(slot);
    this.lengths[slot] = Math.max(0, Math.min(n, this.lengths[slot]));
  }

  /** Run `tokens` through the model at positions cached(slot).. of the slot and return the next token's logits. */
  async prefill(slot: number, tokens: number[]): Promise<Float32Array> {
    this.checkSlot(slot);
    const n = tokens.length;
    if (!n) throw new Error('prefill: no tokens');
    if (n === 1) return (await this.decode([{ slot, token: tokens[0] }]))[0];
    const t0 = this.lengths[slot];
    if (t0 + n > this.contextLength) throw new UserError(`context overflow: ${t0 + n} tokens > ${this.contextLength}`);
    const { n_embd: C, n_head: NH } = this.model.config;
    const t = Math.floor(slot / this.slotsPerTensor), local = slot % this.slotsPerTensor;
    const logits = await this.forward(tokens, tokens.map((_, i) => t0 + i), n - 1, (l, qkv, att) => {
      const cache = this.caches[l][t];
      this.model.gpu.copy(qkv, cache, n * 3 * C, 0, local * this.stride + t0 * 3 * C);
      attentionCached(cache.view(local * this.stride, [this.contextLength, 3 * C]), att, t0, n, C, NH);
    });
    this.lengths[slot] = t0 + n;
    return logits;
  }

  /** One token for each of `steps` (distinct slots), one forward; the logits of each, in order. */
  async decode(steps: readonly DecodeStep[]): Promise<Float32Array[]> {
    const B = steps.length;
    if (!B) throw new Error('decode: no sequences');
    const seen = new Set<number>();
    for (const { slot } of steps) {
      this.checkSlot(slot);
      if (seen.has(slot)) throw new Error(`decode: slot ${slot} given twice`);
      seen.add(slot);
      if (this.lengths[slot] >= this.contextLength) throw new UserError(`context overflow: ${this.lengths[slot] + 1} tokens > ${this.contextLength}`);
    }
    const { n_embd: C, n_head: NH } = this.model.config;
    // entries grouped by cache tensor: group t is entries [first[t], first[t+1])
    const groups = this.caches[0].map(() => [] as DecodeEntry[]);
    steps.forEach(({ slot }, row) => groups[Math.floor(slot / this.slotsPerTensor)].push({ row, slot: slot % this.slotsPerTensor, pos: this.lengths[slot] }));
    const first: number[] = [];
    let e = 0;
    for (const g of groups) { first.push(e); e += g.length; }
    const entries = new DecodeEntries(this.model.gpu, groups.flat());
    let logits: Float32Array;
    try {
      logits = await this.forward(steps.map((s) => s.token), steps.map((s) => this.lengths[s.slot]), 0, (l, qkv, att) => {
        groups.forEach((g, t) => {
          if (!g.length) return;
          kvAppend(qkv, this.caches[l][t], entries, first[t], g.length, C, this.stride);
          attentionDecode(this.caches[l][t], entries, first[t], g.length, att, C, NH, this.stride);
        });
      });
    } finally {
      entries.release();
    }
    for (const { slot } of steps) this.lengths[slot]++;
    const V = this.vocabSize;
    return steps.map((_, i) => logits.subarray(i * V, (i + 1) * V));
  }

  /**
   * The block stack over n rows (token tokens[i] at position positions[i]); `attend` writes the
   * attention output att[n, C] of layer l from its qkv[n, 3C] (and the caches). Returns the
   * logits of rows logitsFrom..n-1, [n - logitsFrom, V].
   */
  private async forward(tokens: number[], positions: number[], logitsFrom: number,
    attend: (l: number, qkv: Tensor, att: Tensor) => void): Promise<Float32Array> {
    const n = tokens.length;
    const { n_layer: L, n_embd: C, vocab_size: V, layer_norm_epsilon: eps } = this.model.config;
    for (const tok of tokens) if (!(Number.isInteger(tok) && tok >= 0 && tok < V)) throw new Error(`token ${tok} outside the vocabulary of ${V}`);
    const gpu = this.model.gpu;
    const p = (name: string) => this.model.p(name);
    const tmp: Tensor[] = [];
    // x[n,K] · w[K,N] + b: matrix-vector products (each weight read once) for a few rows
    const linear = (inp: Tensor, w: Tensor, b: Tensor, out: Tensor, K: number, N: number) => {
      if (n <= MATVEC_ROWS && matvecFits(K, N)) return matvec(inp, w, out, n, K, N, b);
      matmul(inp, w, out, n, N, K, { bias: b }); // reads an f16 w as it is (or widens it first)
    };
    const T = (shape: number[], label: string) => {
      const t = gpu.tensor(shape, label);
      tmp.push(t);
      return t;
    };
    const tok = gpu.fromArray(Uint32Array.from(tokens), [n], 'tokens');
    tmp.push(tok);
    // position rows are copied rather than bound as views: a view's byte offset must be a multiple
    // of 256, which positions of a narrow model do not satisfy; runs of consecutive positions go in one copy
    const pos = T([n, C], 'wpe rows');
    for (let i = 0; i < n; ) {
      let j = i + 1;
      while (j < n && positions[j] === positions[j - 1] + 1) j++;
      gpu.copy(p('wpe.weight'), pos, (j - i) * C, positions[i] * C, i * C);
      i = j;
    }
    let x = T([n, C], 'x');
    embeddingForward(tok, p('wte.weight'), pos, x, n, n, C, V);
    // one set of activation buffers serves every layer; the residual stream alternates between x and x2
    const mean = T([n], 'mean'), rstd = T([n], 'rstd');
    const a1 = T([n, C], 'ln_1'), qkv = T([n, 3 * C], 'qkv'), att = T([n, C], 'att'), ap = T([n, C], 'attn_proj');
    const a2 = T([n, C], 'ln_2'), fc = T([n, 4 * C], 'fc'), g = T([n, 4 * C], 'gelu'), mp = T([n, C], 'mlp_proj');
    let x2 = T([n, C], 'x2');
    for (let l = 0; l < L; l++) {
      const h = (s: string) => p(`h.${l}.${s}`);
      // x = x + attn(ln_1(x)), keys and values from the caches
      layernormForward(x, h('ln_1.weight'), h('ln_1.bias'), a1, mean, rstd, n, C, eps);
      linear(a1, h('attn.c_attn.weight'), h('attn.c_attn.bias'), qkv, C, 3 * C);
      attend(l, qkv, att);
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
    const m = n - logitsFrom;
    let xl = x;
    if (m < n) {
      xl = T([m, C], 'last rows');
      gpu.copy(x, xl, m * C, logitsFrom * C, 0);
    }
    const last = T([m, C], 'ln_f');
    layernormForward(xl, p('ln_f.weight'), p('ln_f.bias'), last, T([m], 'mean'), T([m], 'rstd'), m, C, eps);
    const logits = T([m, V], 'logits');
    matvecT(last, p('wte.weight'), logits, m, V, C);
    const out = await logits.read();
    for (const t of tmp) t.release();
    return out;
  }

  /** give the caches back to the pool */
  release(): void {
    for (const layer of this.caches) for (const t of layer) t.release();
  }
}

/** GPT-2 for one conversation at a time (the chat REPL, the eval): one slot of a GPT2BatchGenerator. */
export class GPT2Generator extends SlotGenerator {
  constructor(readonly model: GPT2) {
    super(new GPT2BatchGenerator(model, 1), 0);
  }
}
