// A LoRA adapter directory as Hugging Face PEFT writes and reads it: adapter_config.json and
// adapter_model.safetensors (keys base_model.model.transformer.h.N.MODULE.lora_A.weight [r, in]
// and .lora_B.weight [out, r]). PeftModel.from_pretrained(GPT2LMHeadModel, DIR) loads what
// saveAdapter writes; readAdapter reads PEFT's own GPT-2 LoRA adapters and checks them against
// the base model they are applied to.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { countNonFinite } from '../util/finite.ts';
import { readTextFile } from '../util/fs-errors.ts';
import { recoverCheckpoint, replaceAtomic, writeFileAtomic } from './checkpoint.ts';
import type { GPT2Config } from './config.ts';
import {
  adapterConfigJson, canonicalLoraName, LORA_MODULES, loraShapes, moduleShape, parseAdapterConfig, peftKey,
  type AdapterConfig, type LoraSettings, type LoraSite,
} from './lora.ts';
import { readSafetensors, writeSafetensors } from '../node/safetensors.ts';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

/** a directory that holds a PEFT adapter (and no full model): what chat.js --init and --adapter accept */
export const isAdapterDir = (dir: string) =>
  (existsSync(join(dir, ADAPTER_CONFIG)) || existsSync(join(dir, ADAPTER_WEIGHTS))) && !existsSync(join(dir, 'model.safetensors'));

/**
 * Writes DIR/adapter_model.safetensors (F32, PEFT's keys, metadata {format: 'pt'}) and
 * DIR/adapter_config.json, each atomically. `arrays` holds the canonical names of `sites`;
 * `base` is what base_model_name_or_path records ('gpt2' or the base's directory).
 */
export function saveAdapter(dir: string, settings: LoraSettings, sites: LoraSite[], base: string, arrays: Map<string, Float32Array>): void {
  const tensors = loraShapes(sites, settings.r).map(({ name, shape }) => {
    const data = arrays.get(name);
    if (!data || data.length !== shape[0] * shape[1]) throw new Error(`saveAdapter: '${name}' is ${data ? `${data.length} long, [${shape}] needs ${shape[0] * shape[1]}` : 'missing'}`);
    return { name: peftKey(name), shape, data };
  });
  if (arrays.size !== tensors.length) throw new Error(`saveAdapter: ${arrays.size} arrays for ${tensors.length} tensors`);
  mkdirSync(dir, { recursive: true });
  replaceAtomic(join(dir, ADAPTER_WEIGHTS), (tmp) => writeSafetensors(tmp, tensors, { format: 'pt' }));
  writeFileAtomic(join(dir, ADAPTER_CONFIG), JSON.stringify(adapterConfigJson(settings, base), null, 2) + '\n');
}

/** the adapter_config.json of DIR, parsed; a UserError when it is missing or not a LoRA config */
export function readAdapterConfig(dir: string): AdapterConfig {
  const path = join(dir, ADAPTER_CONFIG);
  const text = readTextFile(path, `a LoRA adapter directory holds ${ADAPTER_CONFIG} and ${ADAPTER_WEIGHTS}, as PEFT's save_pretrained writes them`);
  return parseAdapterConfig(text, path);
}

export interface Adapter {
  dir: string;
  config: AdapterConfig;
  sites: LoraSite[];
  /** lora_A / lora_B of each site by canonical name */
  arrays: Map<string, Float32Array>;
}

/**
 * Reads the adapter in DIR for a base model of shape `base`. Every tensor must be a LoRA weight
 * of one of GPT-2's projections, of that base's layers and widths, with both A and B and the
 * config's rank; a UserError says which is not and what to do (an adapter trained on another
 * base: pass that base). A save that a crash interrupted after it was complete is finished first.
 */
export function readAdapter(dir: string, base: GPT2Config): Adapter {
  if (!existsSync(dir)) throw new UserError(`--adapter ${dir}: no such directory`);
  recoverCheckpoint(dir, { reader: true });
  const config = readAdapterConfig(dir);
  const path = join(dir, ADAPTER_WEIGHTS);
  if (!existsSync(path)) {
    const bin = existsSync(join(dir, 'adapter_model.bin'));
    throw new UserError(`${path}: no such file${bin ? ' (only safetensors adapters are read; this directory has adapter_model.bin)' : ''}`);
  }
  const f = readSafetensors(path);
  const trainedOn = config.base ? `'${config.base}' (adapter_config.json's base_model_name_or_path)` : 'its base model';
  const otherBase = (what: string) =>
    new UserError(`${path}: ${what}: the adapter was trained on another base model; pass ${trainedOn} with --init`);
  const found = new Map<string, { layer: number; module: (typeof LORA_MODULES)[number]; A?: string; B?: string }>();
  for (const key of f.names) {
    const c = canonicalLoraName(key);
    if (!c) {
      throw new UserError(
        `${path}: tensor '${key}' is not a LoRA weight of GPT-2's c_attn, attn.c_proj, mlp.c_fc or mlp.c_proj ` +
          '(adapters of embeddings, lm_head, modules_to_save or other architectures cannot be applied)',
      );
    }
    if (c.layer >= base.n_layer) throw otherBase(`'${key}' is for layer ${c.layer}, but this base model has ${base.n_layer} layers`);
    const [inF, outF] = moduleShape(base, c.module);
    const shape = f.info(key).shape;
    const want = c.which === 'A' ? [config.r, inF] : [outF, config.r];
    if (shape.length !== 2 || shape[0] !== want[0] || shape[1] !== want[1]) {
      const rankOk = shape.length === 2 && shape[c.which === 'A' ? 0 : 1] === config.r;
      if (!rankOk) throw new UserError(`${path}: '${key}' has shape [${shape.join(', ')}], but adapter_config.json says r = ${config.r}`);
      throw otherBase(`'${key}' has shape [${shape.join(', ')}], but this base's ${c.module} needs [${want.join(', ')}] (n_embd ${base.n_embd})`);
    }
    const siteName = `h.${c.layer}.${c.module}`;
    const s = found.get(siteName) ?? { layer: c.layer, module: c.module };
    s[c.which] = key;
    found.set(siteName, s);
  }
  if (!found.size) throw new UserError(`${path}: holds no LoRA weights`);
  const sites: LoraSite[] = [];
  const arrays = new Map<string, Float32Array>();
  const ordered = [...found.entries()].sort(([, a], [, b]) => a.layer - b.layer || LORA_MODULES.indexOf(a.module) - LORA_MODULES.indexOf(b.module));
  for (const [name, s] of ordered) {
    if (!s.A || !s.B) throw new UserError(`${path}: ${name} has lora_${s.A ? 'A' : 'B'} but no lora_${s.A ? 'B' : 'A'} (an incomplete adapter)`);
    const [inF, outF] = moduleShape(base, s.module);
    sites.push({ name, layer: s.layer, module: s.module, in: inF, out: outF });
    for (const [which, key] of [['A', s.A], ['B', s.B]] as const) {
      const a = f.get(key);
      if (countNonFinite(a)) throw new UserError(`${path}: '${key}' holds NaN or infinite values`);
      arrays.set(`${name}.lora_${which}.weight`, a);
    }
  }
  return { dir, config, sites, arrays };
}

/**
 * The base model an adapter names (base_model_name_or_path), as --init takes it: 'gpt2' for
 * OpenAI's (also when written 'openai-community/gpt2'), else the directory. A UserError when none.
 */
export function adapterBase(dir: string): string {
  const base = readAdapterConfig(dir).base;
  if (!base) throw new UserError(`${join(dir, ADAPTER_CONFIG)} names no base model (base_model_name_or_path); pass the base with --init`);
  return base.replace(/^openai-community\//, '');
}
