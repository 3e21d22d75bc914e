// GPT-2 on the tape, read it next to nanoGPT's model.py. Weights use Hugging Face's layout
// (Conv1D [in, out]); the lm_head is tied to wte. The same block is written twice more, on
// purpose: KV-cached generation (generate.ts, no tape, in place over a cache) and the float64
// CPU reference the tests check this model against (test/gpt2_cpu.ts). Keep the three parallel.
// With a LoRA adapter (model/lora.ts) the weights are frozen and the adapter's A and B, beside
// the projections it targets, are what trains; generation merges the adapter into the weights
// instead (src/node/load_model.ts), so only this model knows the unmerged form.
// The weight matrices may be f16 (fromArrays' `weights`) where nothing trains them: for inference,
// and as a LoRA run's frozen base (train.js --lora R --dtype f16). The kernels read them as they are
// (matvec, embedding, the CPU matmul's packing; other matmuls widen each into a temporary first).
import type { Gpu, Tensor } from '../gpu/index.ts';
import { Tape } from '../tape.ts';
import type { OutputVocab } from './output_vocab.ts';
import { attention, embedding, gelu, layernorm, linear, residual, type LoraWeights } from '../nn.ts';
import { checkLora, loraScale, loraShapes, type LoraModule, type LoraSettings, type LoraSite } from './lora.ts';
import { mixSeed } from '../ops/dropout.ts';
import { classifierLoss, classifierTargets } from './classifier.ts';
import { parameterShapes, type GPT2Config } from './config.ts';
import { Rng } from '../util/rng.ts';

/** How the weights sit on the GPU: f32, or the matrices (isF16Weight) in f16 (fromArrays' `weights`). */
export type WeightsDtype = 'f32' | 'f16';

/** What f16 weights hold in f16: the matrices (wte, the tied lm_head, and each block's four projections); biases, layernorms and wpe stay f32. */
export const isF16Weight = (name: string): boolean => name === 'wte.weight' || /\.(c_attn|c_proj|c_fc)\.weight$/.test(name);

/** A LoRA adapter on the GPU: its settings, the projections it adapts, and A and B of each by canonical name. */
export interface Lora {
  settings: LoraSettings;
  sites: LoraSite[];
  params: Map<string, Tensor>;
}

export class GPT2 {
  readonly tape = new Tape();
  /** Training only: the loss's softmax covers these tokens (with their logit offsets) instead of the whole vocabulary (see output_vocab.ts). */
  outputVocab: OutputVocab | null = null;
  private sites = new Map<string, number>();

  constructor(
    readonly gpu: Gpu,
    readonly config: GPT2Config,
    readonly params: Map<string, Tensor>,
    readonly lora: Lora | null = null,
  ) {
    // with an adapter the weights are frozen: no gradient buffers, no optimizer state
    for (const t of params.values()) lora ? this.tape.freeze(t) : this.tape.markParam(t);
    for (const t of lora?.params.values() ?? []) this.tape.markParam(t);
    lora?.sites.forEach((s, i) => this.sites.set(s.name, i));
  }

  /** What the optimizer updates: the adapter's tensors when there is one, else every weight. */
  get trainable(): Map<string, Tensor> {
    return this.lora?.params ?? this.params;
  }

  /**
   * Upload f32 arrays (one per canonical parameter name, and per adapter tensor with `lora`) to the GPU.
   * `weights` 'f16': the matrices (isF16Weight) stored as f16, never trained: for inference, or as the
   * frozen base of `lora` (the adapter itself is always f32).
   */
  static fromArrays(gpu: Gpu, config: GPT2Config, arrays: Map<string, Float32Array>, lora?: { settings: LoraSettings; arrays: Map<string, Float32Array> }, weights: WeightsDtype = 'f32'): GPT2 {
    const upload = (shapes: { name: string; shape: number[] }[], from: Map<string, Float32Array>, f16: (name: string) => boolean) => {
      const out = new Map<string, Tensor>();
      for (const { name, shape } of shapes) {
        const a = from.get(name);
        if (!a) throw new Error(`missing parameter ${name} [${shape}]`);
        out.set(name, gpu.fromArray(a, shape, name, f16(name) ? 'f16' : undefined));
      }
      return out;
    };
    const params = upload(parameterShapes(config), arrays, (name) => weights === 'f16' && isF16Weight(name));
    if (!lora) return new GPT2(gpu, config, params);
    const sites = checkLora(config, lora.settings);
    // the adapter is trained: always f32
    return new GPT2(gpu, config, params, { settings: lora.settings, sites, params: upload(loraShapes(sites, lora.settings.r), lora.arrays, () => false) });
  }

  /** GPT-2 / nanoGPT init: N(0, 0.02), residual projections scaled by 1/sqrt(2 n_layer), LN 1/0, biases 0. */
  static initArrays(config: GPT2Config, seed: number): Map<string, Float32Array> {
    const rng = new Rng(seed);
    const out = new Map<string, Float32Array>();
    for (const { name, shape } of parameterShapes(config)) {
      const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
      if (/ln_\d\.weight|ln_f\.weight/.test(name)) a.fill(1);
      else if (name.endsWith('.weight')) {
        const std = name.endsWith('c_proj.weight') ? 0.02 / Math.sqrt(2 * config.n_layer) : 0.02;
        rng.fillNormal(a, std);
      }
      out.set(name, a);
    }
    return out;
  }

  p(name: string): Tensor {
    const t = this.params.get(name);
    if (!t) throw new Error(`no parameter ${name}`);
    return t;
  }

  /** 'f16' when the matrices are f16 (inference, or a LoRA run's frozen base) */
  get weightsDtype(): WeightsDtype {
    return this.p('wte.weight').dtype === 'f16' ? 'f16' : 'f32';
  }

  /** f16 weights are never trained: refused before any work is recorded */
  private checkTrainable(): void {
    if (!this.tape.enabled) return;
    for (const [name, t] of this.params) {
      if (t.dtype === 'f16' && this.tape.needsGrad(t)) throw new Error(`${name} is f16, which is never trained: f16 weights train only as a LoRA run's frozen base`);
    }
  }

  /** The adapter beside layer l's `module`, if it has one; `seed` drives its dropout. */
  private adapter(l: number, module: LoraModule, seed: number): LoraWeights | undefined {
    const i = this.sites.get(`h.${l}.${module}`);
    if (!this.lora || i === undefined) return undefined;
    const { settings: s, params } = this.lora;
    const p = (n: string) => params.get(`h.${l}.${module}.${n}`)!;
    return { A: p('lora_A.weight'), B: p('lora_B.weight'), r: s.r, scale: loraScale(s), dropout: s.dropout, seed: mixSeed(seed, i) };
  }

  /**
   * Final hidden states ln_f(h_L(...h_1(wte[x] + wpe))) for tokens [B,T]: [B*T, C]. `seed`: the
   * adapter's dropout masks (training with an adapter that has dropout; one seed per micro-batch).
   */
  hidden(tokens: Uint32Array, B: number, T: number, seed = 0): Tensor {
    const { n_layer: L, n_head: NH, n_embd: C, vocab_size: V, layer_norm_epsilon: eps } = this.config;
    const tape = this.tape;
    const N = B * T;
    if (T > this.config.n_positions) throw new Error(`sequence of ${T} tokens is longer than the context (${this.config.n_positions})`);
    this.checkTrainable();
    const tok = tape.track(this.gpu.fromArray(tokens, [N], 'tokens'));
    let x = embedding(tape, tok, tokens, this.p('wte.weight'), this.p('wpe.weight'), B, T, C, V); // the lookup reads an f16 wte as it is
    for (let l = 0; l < L; l++) {
      const h = (n: string) => this.p(`h.${l}.${n}`); // f16 matrices go to matmul as they are
      const ad = (m: LoraModule) => this.adapter(l, m, seed);
      // x = x + attn(ln_1(x))
      const a1 = layernorm(tape, x, h('ln_1.weight'), h('ln_1.bias'), N, C, eps, `h${l}.ln_1`);
      const qkv = linear(tape, a1, h('attn.c_attn.weight'), h('attn.c_attn.bias'), N, C, 3 * C, `h${l}.qkv`, ad('attn.c_attn'));
      const att = attention(tape, qkv, B, T, C, NH, `h${l}.attn`);
      const ap = linear(tape, att, h('attn.c_proj.weight'), h('attn.c_proj.bias'), N, C, C, `h${l}.attn_proj`, ad('attn.c_proj'));
      x = residual(tape, x, ap, `h${l}.res1`);
      // x = x + mlp(ln_2(x))
      const a2 = layernorm(tape, x, h('ln_2.weight'), h('ln_2.bias'), N, C, eps, `h${l}.ln_2`);
      const fc = linear(tape, a2, h('mlp.c_fc.weight'), h('mlp.c_fc.bias'), N, C, 4 * C, `h${l}.fc`, ad('mlp.c_fc'));
      const g = gelu(tape, fc, `h${l}.gelu`);
      const mp = linear(tape, g, h('mlp.c_proj.weight'), h('mlp.c_proj.bias'), N, 4 * C, C, `h${l}.mlp_proj`, ad('mlp.c_proj'));
      x = residual(tape, x, mp, `h${l}.res2`);
      if (!tape.enabled) tape.sweep([x]);
    }
    return layernorm(tape, x, this.p('ln_f.weight'), this.p('ln_f.bias'), N, C, eps, 'ln_f');
  }

  /**
   * Losses of the tokens that have a target (y >= 0; -1 = no loss), in order. With the tape on, the
   * backward is recorded with dLoss/dlossRow = gradScale (trainStep: 1 / the target tokens of all the step's micro-batches).
   * `seed`: the adapter's dropout masks, as in hidden().
   */
  lossPerToken(x: Uint32Array, y: Int32Array, B: number, T: number, gradScale: number, seed = 0): Tensor {
    const { n_embd: C, vocab_size: V } = this.config;
    this.checkTrainable();
    const ov = this.outputVocab;
    const targets = classifierTargets(this.gpu, ov ? ov.remap(y) : y); // uploads first: the step's work then goes in one submit
    const hid = this.hidden(x, B, T, seed);
    if (!ov) return classifierLoss(this.tape, hid, this.p('wte.weight'), targets, B * T, C, V, gradScale);
    // the lm_head over the output vocabulary only: its rows of wte, gathered by the embedding op
    // without a position table (their gradient flows back into wte)
    const Vs = ov.ids.length;
    const tape = this.tape;
    const ids = tape.track(this.gpu.fromArray(ov.ids, [Vs], 'output vocabulary'));
    const bias = tape.track(this.gpu.fromArray(ov.logitBias, [Vs], 'output vocabulary logit bias'));
    const rows = embedding(tape, ids, ov.ids, this.p('wte.weight'), null, 1, Vs, C, V);
    return classifierLoss(tape, hid, rows, targets, B * T, C, Vs, gradScale, bias);
  }

  /** All parameters (or `which` of them) back on the CPU, by canonical name. */
  async readParams(which: Map<string, Tensor> = this.params): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const [name, t] of which) out.set(name, await t.read());
    return out;
  }
}
