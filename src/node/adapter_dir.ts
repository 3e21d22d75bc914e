// A LoRA adapter directory as Hugging Face PEFT writes and reads it: adapter_config.json and
// adapter_model.safetensors (keys base_model.model.transformer.h.N.MODULE.lora_A.weight [r, in]
// and .lora_B.weight [out, r]). PeftModel.from_pretrained(GPT2LMHeadModel, DIR) loads what
// saveAdapter writes; readAdapter reads PEFT's own GPT-2 LoRA adapters and checks them against
// the base model they are applied to (with src/model/peft.ts, which the page shares).
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { readTextFile } from './fs_errors.ts';
import { recoverCheckpoint, replaceAtomic, writeFileAtomic } from './checkpoint_files.ts';
import type { GPT2Config } from '../model/config.ts';
import { adapterConfigJson, loraShapes, parseAdapterConfig, peftKey, type AdapterConfig, type LoraSettings, type LoraSite } from '../model/lora.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, parseAdapter, type ParsedAdapter } from '../model/peft.ts';
import { withSafetensors, writeSafetensors } from './safetensors.ts';
import { withoutHubOwner } from './hub.ts';
import { hasWeights, weightsWords } from './weights.ts';

export { ADAPTER_CONFIG, ADAPTER_WEIGHTS };

/** a directory that holds a PEFT adapter (and no full model): what chat.js --init and --adapter accept */
export const isAdapterDir = (dir: string) =>
  (existsSync(join(dir, ADAPTER_CONFIG)) || existsSync(join(dir, ADAPTER_WEIGHTS))) && !hasWeights(dir);

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
  writeFileAtomic(join(dir, ADAPTER_CONFIG), JSON.stringify(adapterConfigJson(settings, sites, base), null, 2) + '\n');
}

/** the adapter_config.json of DIR, parsed; a UserError when it is missing or not a LoRA config */
export function readAdapterConfig(dir: string): AdapterConfig {
  return parseAdapterConfig(readAdapterConfigText(dir), join(dir, ADAPTER_CONFIG));
}

const readAdapterConfigText = (dir: string) =>
  readTextFile(join(dir, ADAPTER_CONFIG), `a LoRA adapter directory holds ${ADAPTER_CONFIG} and ${ADAPTER_WEIGHTS}, as PEFT's save_pretrained writes them`);

export interface Adapter extends ParsedAdapter {
  dir: string;
}

/**
 * DIR given as an adapter (by `flag`) is a directory, and not a whole model's; a save a crash
 * interrupted after it was complete is finished.
 */
export function checkAdapterDir(dir: string, flag: '--adapter' | '--merge-adapter' = '--adapter'): void {
  if (!existsSync(dir)) throw new UserError(`${flag} ${dir}: no such directory (a LoRA adapter is a directory holding ${ADAPTER_CONFIG} and ${ADAPTER_WEIGHTS})`);
  if (!statSync(dir).isDirectory()) throw new UserError(`${flag} ${dir} is a file: a LoRA adapter is given as the directory that holds it (${ADAPTER_CONFIG} and ${ADAPTER_WEIGHTS})`);
  recoverCheckpoint(dir, { reader: true });
  if (!existsSync(join(dir, ADAPTER_CONFIG)) && hasWeights(dir)) {
    const instead = flag === '--merge-adapter' ? `there is nothing to merge: it is given as --init as it is` : 'a model is given as --init';
    throw new UserError(`${flag} ${dir} holds a whole model (${weightsWords(dir)}), not a LoRA adapter (${ADAPTER_CONFIG} + ${ADAPTER_WEIGHTS}): ${instead}`);
  }
}

/**
 * Reads the adapter in DIR for a base model of shape `base` and checks it against that base
 * (parseAdapter, which the page uses on the fetched files too). A save that a crash interrupted
 * after it was complete is finished first.
 */
export function readAdapter(dir: string, base: GPT2Config): Adapter {
  checkAdapterDir(dir);
  const configPath = join(dir, ADAPTER_CONFIG);
  const configText = readAdapterConfigText(dir);
  const path = join(dir, ADAPTER_WEIGHTS);
  if (!existsSync(path)) {
    const bin = existsSync(join(dir, 'adapter_model.bin'));
    throw new UserError(`${path}: no such file${bin ? ' (only safetensors adapters are read; this directory has adapter_model.bin)' : ''}`);
  }
  return { dir, ...withSafetensors(path, (f) => parseAdapter(configText, f, base, { config: configPath, weights: path })) };
}

/**
 * The base model an adapter names (base_model_name_or_path), as --init takes it: 'gpt2' for
 * OpenAI's (also when written 'openai-community/gpt2'), else the directory. A UserError when none.
 */
export function adapterBase(dir: string): string {
  checkAdapterDir(dir);
  const base = readAdapterConfig(dir).base;
  if (!base) throw new UserError(`${join(dir, ADAPTER_CONFIG)} names no base model (base_model_name_or_path); pass the base with --init`);
  return withoutHubOwner(base);
}
