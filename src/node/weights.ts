// A GPT-2 model directory on disk (config.json + model.safetensors, or the shards of a sharded
// save), the Node edge of src/model/weights.ts: read the config, load the weights lazily, save atomically.
import { existsSync, mkdirSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { readTextFile } from './fs-errors.ts';
import { replaceAtomic, writeFileAtomic } from './checkpoint_files.ts';
import { type GPT2Config, memoryProblem, parseConfig } from '../model/config.ts';
import { configText, GPT2_METADATA, gpt2Params, gpt2Tensors } from '../model/weights.ts';
import { parseConfigSpeakers } from '../model/config_speakers.ts';
import type { Speakers } from '../data/format.ts';
import { readSafetensors, writeSafetensors } from './safetensors.ts';
import { joinShards, parseShardIndex, type SafetensorsFile } from '../model/safetensors.ts';

/**
 * Reads DIR/config.json (HF GPT2Config, parseConfig): n_positions falls back to n_ctx,
 * layer_norm_epsilon to 1e-5. Throws a UserError naming the file and the field for a missing
 * file, bad JSON, a missing or invalid field, a head size the engine cannot run, or an option
 * this engine does not implement.
 */
export function readConfig(dir: string): GPT2Config {
  const path = join(dir, 'config.json');
  return parseConfig(readTextFile(path, CONFIG_MISSING), path);
}
const CONFIG_MISSING = 'a GPT-2 model directory holds config.json and model.safetensors';

export const WEIGHTS = 'model.safetensors', WEIGHTS_INDEX = 'model.safetensors.index.json';

/** the speaker tags DIR/config.json records (chat_speakers), or null: none, or no config.json there */
export function readConfigSpeakers(dir: string): Speakers | null {
  const path = join(dir, 'config.json');
  return existsSync(path) ? parseConfigSpeakers(readTextFile(path, CONFIG_MISSING), path) : null;
}

/**
 * Loads DIR/config.json and DIR's weights (openWeights; gpt2Params says what is accepted). The
 * model's size is checked against memory before any data is read.
 */
export function loadGPT2Weights(dir: string): { config: GPT2Config; params: Map<string, Float32Array> } {
  const config = readConfig(dir);
  const tooBig = memoryProblem(config, totalmem(), 1);
  if (tooBig) throw new UserError(`${join(dir, 'config.json')}: ${tooBig}`);
  const f = openWeights(dir);
  try {
    return { config, params: gpt2Params(f, config) };
  } finally {
    f.close();
  }
}

/** does DIR hold a model's weights (model.safetensors, or a sharded save's index)? */
export const hasWeights = (dir: string) => existsSync(join(dir, WEIGHTS)) || existsSync(join(dir, WEIGHTS_INDEX));

/**
 * DIR's weights as one safetensors file, chosen as transformers' from_pretrained chooses:
 * model.safetensors, else model.safetensors.index.json and the shards it names (joinShards).
 * Close it when done. A UserError when neither is there.
 */
export function openWeights(dir: string): SafetensorsFile {
  const single = join(dir, WEIGHTS), index = join(dir, WEIGHTS_INDEX);
  if (existsSync(single) || !existsSync(index)) {
    if (!existsSync(single)) {
      const bin = existsSync(join(dir, 'pytorch_model.bin')) ? '; only safetensors weights are read, and this directory has pytorch_model.bin' : '';
      throw new UserError(`${single}: no such file (a model directory holds config.json and model.safetensors, or a sharded save's ${WEIGHTS_INDEX} and the shards it names${bin})`);
    }
    return readSafetensors(single);
  }
  return joinShards(readTextFile(index, 'the index of a sharded save'), index, (file) => {
    const path = join(dir, file);
    if (!existsSync(path)) throw new UserError(`${path}: no such file, but ${index} names it as a shard of the model (a download cut short? get every shard the index names)`);
    return readSafetensors(path);
  });
}

/** the files DIR's weights are read from (openWeights): model.safetensors, or the index and its shards; [] when there are none */
export function weightFiles(dir: string): string[] {
  const single = join(dir, WEIGHTS), index = join(dir, WEIGHTS_INDEX);
  if (existsSync(single) || !existsSync(index)) return existsSync(single) ? [single] : [];
  return [index, ...parseShardIndex(readTextFile(index, 'the index of a sharded save'), index).files.map((f) => join(dir, f))];
}

/**
 * Saves DIR/model.safetensors and DIR/config.json (gpt2Tensors, configText; `speakers`: the tags
 * the model was trained with), each atomically, so a crash mid-save leaves the previous checkpoint loadable.
 */
export function saveGPT2Weights(dir: string, config: GPT2Config, params: Map<string, Float32Array>, speakers?: Speakers): void {
  const tensors = gpt2Tensors(config, params);
  mkdirSync(dir, { recursive: true });
  replaceAtomic(join(dir, 'model.safetensors'), (tmp) => writeSafetensors(tmp, tensors, GPT2_METADATA));
  writeFileAtomic(join(dir, 'config.json'), configText(config, speakers));
}
