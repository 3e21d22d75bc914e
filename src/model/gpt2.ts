// GPT-2 on the tape, read it next to nanoGPT's model.py. Weights use Hugging Face's layout
// (Conv1D [in, out]); the lm_head is tied to wte. The same block is written twice more, on
// purpose: KV-cached generation (generate.ts, no tape, in place over a cache) and the float64
// CPU reference the tests check this model against (test/gpt2_cpu.ts). Keep the three parallel.
import type { Gpu, Tensor } from '../gpu/index.ts';
import { Tape } from '../tape.ts';
import { attention, embedding, gelu, layernorm, linear, residual } from '../nn.ts';
import { classifierLoss, classifierTargets } from './classifier.ts';
import { matmul } from '../ops/matmul.ts';
import { parameterShapes, type GPT2Config } from './config.ts';
import { Rng } from '../util/rng.ts';

export class GPT2 {
  readonly tape = new Tape();

  constructor(
    readonly gpu: Gpu,
    readonly config: GPT2Config,
    readonly params: Map<string, Tensor>,
  ) {
    for (const t of params.values()) this.tape.markParam(t);
  }

  /** Upload f32 arrays (one per canonical parameter name) to the GPU. */
  static fromArrays(gpu: Gpu, config: GPT2Config, arrays: Map<string, Float32Array>): GPT2 {
    const params = new Map<string, Tensor>();
    for (const { name, shape } of parameterShapes(config)) {
      const a = arrays.get(name);
      if (!a) throw new Error(`missing parameter ${name} [${shape}]`);
      params.set(name, gpu.fromArray(a, shape, name));
    }
    return new GPT2(gpu, config, params);
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

  /** Final hidden states ln_f(h_L(...h_1(wte[x] + wpe))) for tokens [B,T]: [B*T, C]. */
  hidden(tokens: Uint32Array, B: number, T: number): Tensor {
    const { n_layer: L, n_head: NH, n_embd: C, vocab_size: V, layer_norm_epsilon: eps } = this.config;
    const tape = this.tape;
    const N = B * T;
    if (T > this.config.n_positions) throw new Error(`sequence of ${T} tokens is longer than the context (${this.config.n_positions})`);
    const tok = tape.track(this.gpu.fromArray(tokens, [N], 'tokens'));
    let x = embedding(tape, tok, tokens, this.p('wte.weight'), this.p('wpe.weight'), B, T, C, V);
    for (let l = 0; l < L; l++) {
      const h = (n: string) => this.p(`h.${l}.${n}`);
      // x = x + attn(ln_1(x))
      const a1 = layernorm(tape, x, h('ln_1.weight'), h('ln_1.bias'), N, C, eps, `h${l}.ln_1`);
      const qkv = linear(tape, a1, h('attn.c_attn.weight'), h('attn.c_attn.bias'), N, C, 3 * C, `h${l}.qkv`);
      const att = attention(tape, qkv, B, T, C, NH, `h${l}.attn`);
      const ap = linear(tape, att, h('attn.c_proj.weight'), h('attn.c_proj.bias'), N, C, C, `h${l}.attn_proj`);
      x = residual(tape, x, ap, `h${l}.res1`);
      // x = x + mlp(ln_2(x))
      const a2 = layernorm(tape, x, h('ln_2.weight'), h('ln_2.bias'), N, C, eps, `h${l}.ln_2`);
      const fc = linear(tape, a2, h('mlp.c_fc.weight'), h('mlp.c_fc.bias'), N, C, 4 * C, `h${l}.fc`);
      const g = gelu(tape, fc, `h${l}.gelu`);
      const mp = linear(tape, g, h('mlp.c_proj.weight'), h('mlp.c_proj.bias'), N, 4 * C, C, `h${l}.mlp_proj`);
      x = residual(tape, x, mp, `h${l}.res2`);
      if (!tape.enabled) tape.sweep([x]);
    }
    return layernorm(tape, x, this.p('ln_f.weight'), this.p('ln_f.bias'), N, C, eps, 'ln_f');
  }

  /**
   * Losses of the tokens that have a target (y >= 0; -1 = no loss), in order. With the tape on, the
   * backward is recorded with dLoss/dlossRow = gradScale (e.g. 1 / (unmasked targets · accumulation steps)).
   */
  lossPerToken(x: Uint32Array, y: Int32Array, B: number, T: number, gradScale: number): Tensor {
    const { n_embd: C, vocab_size: V } = this.config;
    const targets = classifierTargets(this.gpu, y); // uploads first: the step's work then goes in one submit
    const hid = this.hidden(x, B, T);
    return classifierLoss(this.tape, hid, this.p('wte.weight'), targets, B * T, C, V, gradScale);
  }

  /** Full logits [B*T, V] without gradients (tests and evaluation of small models; a [B*T, V] tensor must fit one binding). */
  logits(x: Uint32Array, B: number, T: number): Tensor {
    const { n_embd: C, vocab_size: V } = this.config;
    return this.tape.noGrad(() => {
      const hid = this.hidden(x, B, T);
      const out = this.gpu.tensor([B * T, V], 'logits');
      matmul(hid, this.p('wte.weight'), out, B * T, V, C, { transB: true });
      this.tape.clear();
      return out;
    });
  }

  /** All parameters back on the CPU, by canonical name. */
  async readParams(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const [name, t] of this.params) out.set(name, await t.read());
    return out;
  }
}
