// GPT-2 parameters by canonical name, loaded from and saved as a Hugging Face model directory
// (config.json + model.safetensors) with the key names of OpenAI's gpt2 repo.
import { existsSync, mkdirSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { countNonFinite } from '../util/finite.ts';
import { readTextFile } from '../util/fs-errors.ts';
import { replaceAtomic, writeFileAtomic } from './checkpoint.ts';
import { type GPT2Config, hfConfigJson, memoryProblem, parameterShapes, parseConfig } from './config.ts';
import { readSafetensors, writeSafetensors } from './safetensors.ts';

const fmtShape = (s: number[]) => `[${s.join(', ')}]`;
const sameShape = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Reads DIR/config.json (HF GPT2Config): n_positions falls back to n_ctx, layer_norm_epsilon
 * to 1e-5. Throws a UserError naming the file and the field for a missing file, bad JSON, a
 * missing or invalid field, a head size the engine cannot run (shapeProblem), or an option this engine does not
 * implement (another activation, n_inner != 4 n_embd, untied lm_head, other attention scaling).
 */
export function readConfig(dir: string): GPT2Config {
  const path = join(dir, 'config.json');
  return parseConfig(readTextFile(path, 'a GPT-2 model directory holds config.json and model.safetensors'), path);
}

/**
 * Loads DIR/config.json and DIR/model.safetensors. Keys may carry the 'transformer.' prefix or
 * not; 'lm_head.weight' is ignored (tied to wte) when its shape is [vocab, n_embd]; the causal-mask
 * buffers 'h.N.attn.bias' / 'h.N.attn.masked_bias' are skipped; F16/BF16 become f32; other extra
 * tensors are skipped with a one-line warning; NaN or infinite values get one too, naming the tensors.
 * The model's size is checked against memory, and shapes are all checked, before any data is read.
 * Throws a UserError naming the missing tensor and its expected shape, or the wrongly shaped one.
 * Returns f32 data per canonical name, in parameterShapes order.
 */
export function loadGPT2Weights(dir: string): { config: GPT2Config; params: Map<string, Float32Array> } {
  const config = readConfig(dir);
  const tooBig = memoryProblem(config, totalmem(), 1);
  if (tooBig) throw new UserError(`${join(dir, 'config.json')}: ${tooBig}`);
  const path = join(dir, 'model.safetensors');
  if (!existsSync(path) && existsSync(join(dir, 'pytorch_model.bin'))) {
    throw new UserError(`${path}: no such file (only safetensors weights are read; this directory has pytorch_model.bin)`);
  }
  const f = readSafetensors(path);
  const expected = new Map(parameterShapes(config).map((p) => [p.name, p.shape]));
  const keyOf = new Map<string, string>();
  const extra: string[] = [];
  for (const key of f.names) {
    const name = key.startsWith('transformer.') ? key.slice('transformer.'.length) : key;
    const shape = f.info(key).shape;
    if (/^h\.\d+\.attn\.(bias|masked_bias)$/.test(name)) continue;
    if (name === 'lm_head.weight') {
      const want = [config.vocab_size, config.n_embd];
      if (!sameShape(shape, want)) throw new UserError(`${path}: tensor '${key}' has shape ${fmtShape(shape)}, expected ${fmtShape(want)}`);
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
        `${path}: tensor '${key}' has shape ${fmtShape(shape)}, expected ${fmtShape(want)}` +
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
  return { config, params };
}

/**
 * Saves DIR/model.safetensors (F32, keys exactly as OpenAI's gpt2 repo names them, metadata
 * {format: 'pt'}) and DIR/config.json, each atomically, so a crash mid-save leaves the previous
 * checkpoint loadable. `params` must hold exactly the parameterShapes names with matching sizes.
 */
export function saveGPT2Weights(dir: string, config: GPT2Config, params: Map<string, Float32Array>): void {
  const shapes = parameterShapes(config);
  const tensors = shapes.map(({ name, shape }) => {
    const data = params.get(name);
    const n = shape.reduce((a, b) => a * b, 1);
    if (!data) throw new Error(`saveGPT2Weights: parameter '${name}' is missing`);
    if (data.length !== n) throw new Error(`saveGPT2Weights: '${name}' has ${data.length} values, shape ${fmtShape(shape)} needs ${n}`);
    return { name, shape, data };
  });
  if (params.size !== shapes.length) {
    const known = new Set(shapes.map((s) => s.name));
    throw new Error(`saveGPT2Weights: unknown parameters ${[...params.keys()].filter((k) => !known.has(k)).join(', ')}`);
  }
  mkdirSync(dir, { recursive: true });
  replaceAtomic(join(dir, 'model.safetensors'), (tmp) => writeSafetensors(tmp, tensors, { format: 'pt' }));
  writeFileAtomic(join(dir, 'config.json'), JSON.stringify(hfConfigJson(config), null, 2) + '\n');
}
