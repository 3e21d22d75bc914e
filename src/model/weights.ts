// GPT-2 parameters by canonical name, from and to a Hugging Face model's files (config.json +
// model.safetensors) with the key names of OpenAI's gpt2 repo. Host-neutral: a parsed
// safetensors file in, tensors to encode out; src/node/weights.ts reads and writes the
// directory, a page fetches and downloads the same two files.
import { UserError } from '../util/errors.ts';
import { countNonFinite } from '../util/finite.ts';
import { type GPT2Config, hfConfigJson, parameterShapes } from './config.ts';
import type { Speakers } from '../data/format.ts';
import { encodeSafetensors, fmtShape, type NamedTensor, type SafetensorsFile } from './safetensors.ts';

const sameShape = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const sameValues = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((x, i) => x === b[i] || (Number.isNaN(x) && Number.isNaN(b[i])));

/**
 * The parameters of a GPT-2 with `config` from its model.safetensors. Keys may carry the
 * 'transformer.' prefix or not; 'lm_head.weight' is skipped (GPT-2 ties it to wte), with a
 * warning when its values differ; the causal-mask buffers 'h.N.attn.bias' / 'h.N.attn.masked_bias' are
 * skipped; F16/BF16 become f32; other extra tensors are skipped with a one-line warning; NaN or
 * infinite values get one too, naming the tensors. Shapes are all checked before any data is
 * read. Throws a UserError naming the missing tensor and its expected shape, or the wrongly
 * shaped one. Returns f32 data per canonical name, in parameterShapes order.
 */
export function gpt2Params(f: SafetensorsFile, config: GPT2Config): Map<string, Float32Array> {
  const path = f.path;
  const expected = new Map(parameterShapes(config).map((p) => [p.name, p.shape]));
  const keyOf = new Map<string, string>();
  const extra: string[] = [];
  let lmHead: string | null = null;
  for (const key of f.names) {
    const name = key.startsWith('transformer.') ? key.slice('transformer.'.length) : key;
    const shape = f.info(key).shape;
    if (/^h\.\d+\.attn\.(bias|masked_bias)$/.test(name)) continue;
    if (name === 'lm_head.weight') {
      const want = [config.vocab_size, config.n_embd];
      if (!sameShape(shape, want)) throw new UserError(`${f.fileOf(key)}: tensor '${key}' has shape ${fmtShape(shape)}, expected ${fmtShape(want)}`);
      lmHead = key;
      continue;
    }
    const want = expected.get(name);
    if (!want) {
      extra.push(key);
      continue;
    }
    if (keyOf.has(name)) throw new UserError(`${path}: '${name}' is in the file twice, as '${keyOf.get(name)}' and as '${key}'`);
    if (!sameShape(shape, want)) {
      const transposed = shape.length === 2 && sameShape([shape[1], shape[0]], want);
      throw new UserError(
        `${f.fileOf(key)}: tensor '${key}' has shape ${fmtShape(shape)}, expected ${fmtShape(want)}` +
          (transposed ? ' (transposed: GPT-2 stores Conv1D weights as [in, out], not nn.Linear [out, in])' : ''),
      );
    }
    keyOf.set(name, key);
  }
  const missing = [...expected].filter(([name]) => !keyOf.has(name));
  if (missing.length) {
    const list = missing.slice(0, 4).map(([name, shape]) => `'${name}' (expected shape ${fmtShape(shape)})`).join(', ');
    throw new UserError(
      `${path}: missing ${missing.length === 1 ? 'tensor' : `${missing.length} tensors:`} ${list}${missing.length > 4 ? ', ...' : ''}` +
        ` for a GPT-2 with n_layer ${config.n_layer}, n_embd ${config.n_embd}`,
    );
  }
  if (extra.length) {
    console.warn(`warning: ${path}: ignoring ${extra.length} unexpected tensor(s): ${extra.slice(0, 8).join(', ')}${extra.length > 8 ? ', ...' : ''}`);
  }
  // GPT-2's output layer is its token embedding (tie_word_embeddings; an untied config is refused):
  // transformers loads such a file with the embedding as the head too, but say that a head trained
  // on its own (PEFT's modules_to_save merged in, an untied fine-tune) is not what runs
  if (lmHead && !sameValues(f.get(lmHead), f.get(keyOf.get('wte.weight')!))) {
    console.warn(
      `warning: ${path}: '${lmHead}' differs from the token embedding '${keyOf.get('wte.weight')}': GPT-2 ties its output layer to the embedding, ` +
        'so the embedding is the output layer here, as transformers loads it; an output layer trained on its own is not used',
    );
  }
  const params = new Map<string, Float32Array>();
  const broken: string[] = [];
  for (const name of expected.keys()) {
    const a = f.get(keyOf.get(name)!);
    const bad = countNonFinite(a);
    if (bad) broken.push(`'${keyOf.get(name)}' (${bad} of ${a.length})`);
    params.set(name, a);
  }
  if (broken.length) {
    console.warn(`warning: ${path}: non-finite values (NaN or Infinity) in ${broken.slice(0, 4).join(', ')}${broken.length > 4 ? `, and ${broken.length - 4} more tensors` : ''}; this model's output will be garbage`);
  }
  return params;
}

/** the metadata of the model.safetensors we write, as transformers' save_pretrained writes it */
export const GPT2_METADATA = { format: 'pt' };

/**
 * The tensors of model.safetensors (F32, keys exactly as OpenAI's gpt2 repo names them, in
 * parameterShapes order). `params` must hold exactly the parameterShapes names with matching sizes.
 */
export function gpt2Tensors(config: GPT2Config, params: Map<string, Float32Array>): NamedTensor[] {
  const shapes = parameterShapes(config);
  const tensors = shapes.map(({ name, shape }) => {
    const data = params.get(name);
    const n = shape.reduce((a, b) => a * b, 1);
    if (!data) throw new Error(`saving GPT-2 weights: parameter '${name}' is missing`);
    if (data.length !== n) throw new Error(`saving GPT-2 weights: '${name}' has ${data.length} values, shape ${fmtShape(shape)} needs ${n}`);
    return { name, shape, data };
  });
  if (params.size !== shapes.length) {
    const known = new Set(shapes.map((s) => s.name));
    throw new Error(`saving GPT-2 weights: unknown parameters ${[...params.keys()].filter((k) => !known.has(k)).join(', ')}`);
  }
  return tensors;
}

/** config.json's text (HF GPT2Config, and the speaker tags the model was trained with unless Human/Bot) */
export const configText = (config: GPT2Config, speakers?: Speakers): string => JSON.stringify(hfConfigJson(config, speakers), null, 2) + '\n';

/** A model directory's two files as bytes: what src/node/weights.ts writes and a page downloads; `speakers`: the tags it was trained with. */
export function encodeGPT2(config: GPT2Config, params: Map<string, Float32Array>, speakers?: Speakers): { safetensors: Uint8Array[]; config: string } {
  return { safetensors: encodeSafetensors(gpt2Tensors(config, params), GPT2_METADATA, 'model.safetensors'), config: configText(config, speakers) };
}
