// A GPT-2 model directory on disk (config.json + model.safetensors, or the shards of a sharded
// save), the Node edge of src/model/weights.ts: read the config, load the weights lazily, save atomically.
import { existsSync, mkdirSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { shellWord } from '../util/words.ts';
import { readTextFile } from './fs_errors.ts';
import { replaceAtomic, writeFileAtomic } from './checkpoint_files.ts';
import { type GPT2Config, memoryProblem, parseConfig } from '../model/config.ts';
import { configText, GPT2_METADATA, gpt2Params, gpt2Tensors } from '../model/weights.ts';
import { parseConfigSpeakers } from '../model/config_speakers.ts';
import type { Speakers } from '../data/format.ts';
import { readSafetensors, writeSafetensors } from './safetensors.ts';
import { joinShards, parseShardIndex, SHARD_INDEX, WEIGHTS, type SafetensorsFile } from '../model/safetensors.ts';

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

export { WEIGHTS };

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

/**
 * Which weights DIR holds, chosen as transformers' from_pretrained chooses: 'single'
 * (model.safetensors, which wins when both are there), else 'sharded' (model.safetensors.index.json
 * and the shards it names), else null.
 */
export const weightsLayout = (dir: string): 'single' | 'sharded' | null =>
  existsSync(join(dir, WEIGHTS)) ? 'single' : existsSync(join(dir, SHARD_INDEX)) ? 'sharded' : null;

/** does DIR hold a model's weights (model.safetensors, or a sharded save's index)? */
export const hasWeights = (dir: string) => weightsLayout(dir) !== null;

/** what holds DIR's weights, in words for messages: 'model.safetensors', or the index and its shards */
export const weightsWords = (dir: string) => (weightsLayout(dir) === 'sharded' ? `${SHARD_INDEX} and its shards` : WEIGHTS);

/**
 * DIR's weights as one safetensors file, chosen as transformers' from_pretrained chooses:
 * model.safetensors, else model.safetensors.index.json and the shards it names (joinShards).
 * Close it when done. A UserError when neither is there (foreignWeights says what to do with other formats).
 */
function openWeights(dir: string): SafetensorsFile {
  const single = join(dir, WEIGHTS), index = join(dir, SHARD_INDEX);
  const layout = weightsLayout(dir);
  if (layout === null) throw new UserError(foreignWeights(dir) ?? `${single}: no such file (a model directory holds config.json and model.safetensors, or a sharded save's ${SHARD_INDEX} and the shards it names)`);
  if (layout === 'single') return readSafetensors(single);
  return joinShards(readTextFile(index, 'the index of a sharded save'), index, (file) => {
    const path = join(dir, file);
    if (!existsSync(path)) throw new UserError(`${path}: no such file, but ${index} names it as a shard of the model (a download cut short? get every shard the index names)`);
    return readSafetensors(path);
  });
}

/** the files DIR's weights are read from (openWeights): model.safetensors, or the index and its shards; [] when there are none */
export function weightFiles(dir: string): string[] {
  const layout = weightsLayout(dir), index = join(dir, SHARD_INDEX);
  if (layout !== 'sharded') return layout === 'single' ? [join(dir, WEIGHTS)] : [];
  return [index, ...parseShardIndex(readTextFile(index, 'the index of a sharded save'), index).files.map((f) => join(dir, f))];
}

// weights transformers wrote in formats not read here (file, format, from_pretrained's argument to
// read it, what that needs): converting them is one line of Python
const FOREIGN: [string, string, string, string][] = [
  ['pytorch_model.bin', "PyTorch's pickle format", '', ''],
  ['pytorch_model.bin.index.json', "PyTorch's pickle format, sharded", '', ''],
  ['tf_model.h5', "TensorFlow's format", ', from_tf=True', ' (with TensorFlow, and transformers 4.x: version 5 reads no TensorFlow weights)'],
  ['flax_model.msgpack', "Flax's format", ', from_flax=True', ' (with Flax, and transformers 4.x: version 5 reads no Flax weights)'],
];

/** for a directory without safetensors weights that has another format's: what it holds and the command that converts it; else null */
export function foreignWeights(dir: string): string | null {
  const found = FOREIGN.find(([file]) => existsSync(join(dir, file)));
  if (!found) return null;
  const [file, format, from, needs] = found;
  return `${dir} holds ${file} (${format}), which is not read here, and no model.safetensors: convert it with ` +
    `${convertCommand(dir, from, dir)}${needs}, which writes safetensors weights beside it (model.safetensors, or past max_shard_size its shards and their index, read here too)`;
}

/** the shell command that re-saves the model in DIR to OUT with transformers (`args`: from_pretrained's further arguments); paths quoted for Python and the shell */
const convertCommand = (dir: string, args: string, out: string) =>
  `python -c ${shellWord(`from transformers import GPT2LMHeadModel as M; M.from_pretrained(${JSON.stringify(dir)}${args}).save_pretrained(${JSON.stringify(out)})`)}`;

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
