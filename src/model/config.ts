// GPT-2 hyperparameters as Hugging Face's config.json (GPT2Config) holds them: parsed, checked
// against what the engine runs, written back; and the parameter shapes they imply.
import { UserError } from '../util/errors.ts';
import { parseJsonObject } from '../util/json.ts';
import { gigabytes } from '../util/words.ts';
import type { Speakers } from '../data/format.ts';
import { configSpeakers, speakersEntry } from './config_speakers.ts';

export interface GPT2Config {
  n_layer: number;
  n_head: number;
  n_embd: number;
  /** context length (HF also calls it n_ctx) */
  n_positions: number;
  vocab_size: number;
  layer_norm_epsilon: number;
}

export const GPT2_124M: GPT2Config = {
  n_layer: 12, n_head: 12, n_embd: 768, n_positions: 1024, vocab_size: 50257, layer_norm_epsilon: 1e-5,
};

const TANH_GELUS = ['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast'];

/** parses config.json text as readConfig does; errors start with `source` */
export function parseConfig(text: string, source: string): GPT2Config {
  const fail = (what: string): never => {
    throw new UserError(`${source}: ${what}`);
  };
  const j = parseJsonObject(text, source);

  const int = (key: string, fallback?: string): number => {
    const k = j[key] === undefined && fallback !== undefined ? fallback : key;
    const v = j[k];
    if (v === undefined) fail(`field '${key}'${fallback ? ` (or ${fallback})` : ''} is missing`);
    if (!Number.isSafeInteger(v) || (v as number) <= 0) fail(`field '${k}' must be a positive integer, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const c: GPT2Config = {
    n_layer: int('n_layer'),
    n_head: int('n_head'),
    n_embd: int('n_embd'),
    n_positions: int('n_positions', 'n_ctx'),
    vocab_size: int('vocab_size'),
    layer_norm_epsilon: 1e-5,
  };
  const eps = j.layer_norm_epsilon;
  if (eps !== undefined) {
    if (typeof eps !== 'number' || !(eps > 0) || !Number.isFinite(eps)) fail(`field 'layer_norm_epsilon' must be a positive number, got ${JSON.stringify(eps)}`);
    c.layer_norm_epsilon = eps as number;
  }
  const shape = shapeProblem(c);
  if (shape) fail(shape);

  // options that change the math of the model this engine runs
  const unsupported = (what: string) => fail(`${what} is not supported (this engine runs the standard GPT-2 architecture)`);
  if (j.model_type !== undefined && j.model_type !== 'gpt2') unsupported(`model_type ${JSON.stringify(j.model_type)}`);
  if (j.activation_function !== undefined && !TANH_GELUS.includes(j.activation_function as string)) {
    unsupported(`activation_function ${JSON.stringify(j.activation_function)}`);
  }
  if (j.n_inner != null && j.n_inner !== 4 * c.n_embd) unsupported(`n_inner ${JSON.stringify(j.n_inner)} (!= 4 * n_embd)`);
  if (j.tie_word_embeddings === false) unsupported('tie_word_embeddings false (a separate lm_head)');
  if (j.scale_attn_weights === false) unsupported('scale_attn_weights false');
  if (j.scale_attn_by_inverse_layer_idx === true) unsupported('scale_attn_by_inverse_layer_idx true');
  configSpeakers(j, source); // bad tags are the file's error wherever it loads, not only where a chat reads them
  return c;
}

/**
 * The full HF config.json object for `c`, as in openai-community/gpt2, so GPT2LMHeadModel.from_pretrained loads it;
 * with `speakers`, the tags the model was trained with, when they are not Human/Bot (config_speakers.ts).
 */
export function hfConfigJson(c: GPT2Config, speakers?: Speakers): object {
  // GPT-2's <|endoftext|>; smaller (test) vocabularies use their last token
  const eot = Math.min(50256, c.vocab_size - 1);
  return {
    activation_function: 'gelu_new',
    architectures: ['GPT2LMHeadModel'],
    attn_pdrop: 0.1,
    bos_token_id: eot,
    ...speakersEntry(speakers),
    embd_pdrop: 0.1,
    eos_token_id: eot,
    initializer_range: 0.02,
    layer_norm_epsilon: c.layer_norm_epsilon,
    model_type: 'gpt2',
    n_ctx: c.n_positions,
    n_embd: c.n_embd,
    n_head: c.n_head,
    n_inner: null,
    n_layer: c.n_layer,
    n_positions: c.n_positions,
    reorder_and_upcast_attn: false,
    resid_pdrop: 0.1,
    scale_attn_by_inverse_layer_idx: false,
    scale_attn_weights: true,
    summary_activation: null,
    summary_first_dropout: 0.1,
    summary_proj_to_labels: true,
    summary_type: 'cls_index',
    summary_use_proj: true,
    task_specific_params: { 'text-generation': { do_sample: true, max_length: 50 } },
    tie_word_embeddings: true,
    torch_dtype: 'float32',
    use_cache: true,
    vocab_size: c.vocab_size,
  };
}

/**
 * Why the engine cannot run a model of this width and head count, or null. n_embd splits into
 * n_head heads whose size must be a multiple of 4 (the attention and layernorm kernels read
 * four floats at a time) and at most 128 (attention keeps a head's row in registers). Every
 * config goes through here: config.json (parseConfig) and the from-scratch flags.
 */
export function shapeProblem(c: Pick<GPT2Config, 'n_embd' | 'n_head'>): string | null {
  const { n_embd: C, n_head: NH } = c;
  if (C % NH !== 0) return `n_embd ${C} is not a multiple of n_head ${NH}`;
  const hs = C / NH;
  if (hs % 4 !== 0) return `head size n_embd/n_head = ${C}/${NH} = ${hs} is not a multiple of 4 (the kernels read 4 floats at a time)`;
  if (hs > 128) return `head size n_embd/n_head = ${C}/${NH} = ${hs} is over 128 (the attention kernels hold a head's row in registers)`;
  return null;
}

/**
 * Canonical parameter names and shapes, in the order the model creates them. Linear weights use
 * HF's Conv1D layout [in, out], as OpenAI's GPT-2 safetensors store them.
 */
export function parameterShapes(c: GPT2Config): { name: string; shape: number[] }[] {
  const C = c.n_embd;
  const out = [
    { name: 'wte.weight', shape: [c.vocab_size, C] },
    { name: 'wpe.weight', shape: [c.n_positions, C] },
  ];
  for (let i = 0; i < c.n_layer; i++) {
    const h = `h.${i}.`;
    out.push(
      { name: h + 'ln_1.weight', shape: [C] },
      { name: h + 'ln_1.bias', shape: [C] },
      { name: h + 'attn.c_attn.weight', shape: [C, 3 * C] },
      { name: h + 'attn.c_attn.bias', shape: [3 * C] },
      { name: h + 'attn.c_proj.weight', shape: [C, C] },
      { name: h + 'attn.c_proj.bias', shape: [C] },
      { name: h + 'ln_2.weight', shape: [C] },
      { name: h + 'ln_2.bias', shape: [C] },
      { name: h + 'mlp.c_fc.weight', shape: [C, 4 * C] },
      { name: h + 'mlp.c_fc.bias', shape: [4 * C] },
      { name: h + 'mlp.c_proj.weight', shape: [4 * C, C] },
      { name: h + 'mlp.c_proj.bias', shape: [C] },
    );
  }
  out.push({ name: 'ln_f.weight', shape: [C] }, { name: 'ln_f.bias', shape: [C] });
  return out;
}

/** The largest weight tensor and its float32 bytes (each tensor is one GPU buffer: it must fit the adapter's maxBufferSize). */
export function largestTensor(c: GPT2Config): { name: string; shape: number[]; bytes: number } {
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const big = parameterShapes(c).reduce((a, b) => (size(b.shape) > size(a.shape) ? b : a));
  return { ...big, bytes: size(big.shape) * 4 };
}

/** number of parameters (the lm_head is tied to wte) */
export function parameterCount(c: GPT2Config): number {
  const C = c.n_embd;
  return c.vocab_size * C + c.n_positions * C + c.n_layer * (12 * C * C + 13 * C) + 2 * C;
}

/**
 * A message when `copies` float32 copies of the parameters cannot fit in `memoryBytes` (1 to
 * load the weights; 4 to train: weights, gradients and AdamW's two moments), else null.
 * Checked before anything is allocated: a config with n_layer 1e9 would otherwise end in an
 * out-of-memory abort minutes later.
 */
export function memoryProblem(c: GPT2Config, memoryBytes: number, copies: number): string | null {
  const need = parameterCount(c) * 4 * copies;
  if (need <= memoryBytes) return null;
  return `a GPT-2 with n_layer ${c.n_layer}, n_embd ${c.n_embd}, n_positions ${c.n_positions} has ${(parameterCount(c) / 1e6).toFixed(0)}M parameters ` +
    `and needs ${gigabytes(need)}${copies > 1 ? ` to train (${copies} float32 copies)` : ''}, more than this machine's ${gigabytes(memoryBytes)} of memory`;
}

/** one line for the console: size and shape */
export function describeConfig(c: GPT2Config): string {
  const C = c.n_embd;
  const n = parameterCount(c);
  return `${(n / 1e6).toFixed(1)}M params (n_layer ${c.n_layer}, n_head ${c.n_head}, n_embd ${C}, context ${c.n_positions})`;
}
