// Where a model's weights come from: OpenAI's GPT-2 (local cache or hub download) or a
// checkpoint/HF directory, with a LoRA adapter merged in when one is given (or when the
// directory is an adapter: it stands for its base plus itself). The one load path for every
// reader (chat, eval, train --init, --resume): generation and the server see plain weights.
import { existsSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { Gpu } from '../gpu/index.ts';
import { getGpu } from './gpu.ts';
import { UserError } from '../util/errors.ts';
import { count } from '../util/words.ts';
import type { FlagSpec } from '../util/args.ts';
import { describeConfig, type GPT2Config } from '../model/config.ts';
import { GPT2Generator } from '../model/generate.ts';
import { GPT2, type WeightsDtype } from '../model/gpt2.ts';
import { foreignWeights, hasWeights, loadGPT2Weights, WEIGHTS, weightFiles } from './weights.ts';
import { hashFileEnds, hashTensorStarts } from './fingerprint.ts';
import { ensureGPT2, withoutHubOwner } from './hub.ts';
import { readTrainStateJson, recoverCheckpoint } from './checkpoint_files.ts';
import { ADAPTER_CONFIG, adapterBase, isAdapterDir, readAdapter } from './adapter_dir.ts';
import { describeRank, mergeAdapter } from '../model/peft.ts';
import { VOCAB_SIZE } from '../data/tokenizer.ts';

/** --init as chat.js and eval.js default it: as given; else the base that `adapter` names; else `out` if it exists; else gpt2 */
export function chooseInit(init: string | undefined, adapter: string | undefined, out: string): string {
  return init ?? (adapter ? adapterBaseThere(adapter) : existsSync(out) ? out : 'gpt2');
}

/**
 * The base model adapter directory `dir` names (adapterBase), when it is there; a UserError when it
 * moved or was deleted, which says how to give its new place (`how`: the command's way).
 */
export function adapterBaseThere(dir: string, how = `chat.js, eval.js and serve.js also take --init BASE --adapter ${dir}`): string {
  const base = adapterBase(dir);
  if (!existsSync(base) && !isHubModel(base)) {
    throw new UserError(`${dir} is a LoRA adapter of ${base}, which is not there: if it moved, write its new place into ${join(dir, ADAPTER_CONFIG)}'s base_model_name_or_path (${how})`);
  }
  return base;
}

export interface LoadedWeights {
  config: GPT2Config;
  arrays: Map<string, Float32Array>;
  /** where they came from, for the console */
  source: string;
  /** the files that hold exactly these weights: a directory's config.json + model.safetensors (or a sharded save's index and shards), and the adapter directory merged into them if any (none after two adapters) */
  files?: ModelFiles;
  /** why there are no `files` (serve.js says so: its page then uses the server only) */
  noFiles?: string;
}

export interface ModelFiles {
  /** config.json + model.safetensors, or a sharded save's model.safetensors.index.json and the shards it names */
  dir: string;
  /** adapter_config.json + adapter_model.safetensors, merged into dir's weights */
  adapter?: string;
}

/**
 * `init` is 'gpt2' (or 'gpt2-medium', ...), a directory with config.json + model.safetensors
 * (or a sharded save's index and shards), or a LoRA adapter directory (its base_model_name_or_path is loaded and the adapter merged).
 * `adapter`: a LoRA adapter directory to merge into the weights (W += alpha/r · Aᵀ·Bᵀ).
 * A save that a crash interrupted after it was complete is finished first, as --resume does.
 * `alternatives` names what else the caller's --init accepts, for the error message.
 */
export async function loadWeights(init: string, { alternatives = '', adapter = undefined as string | undefined, depth = 0, merged = [] as string[] } = {}): Promise<LoadedWeights> {
  if (depth > 3) throw new UserError(`${init}: a chain of more than 3 LoRA adapters is not supported; merge some into their base (train.js --merge-adapter)`);
  if (depth === 0) weightDirs(init); // a loop of adapters is named as one, not as an adapter merged twice
  // an adapter given as --init is merged into its base already: giving it again as --adapter would add its change twice
  if (adapter && merged.includes(resolve(adapter))) throw new UserError(`the LoRA adapter ${adapter} would be merged twice: --init already loads it (an adapter given as --init is merged into its base); pass it once`);
  const chain = adapter ? [...merged, resolve(adapter)] : merged;
  let w: LoadedWeights;
  if (existsSync(init) && isAdapterDir(init)) {
    w = await loadWeights(adapterBaseThere(init), { alternatives, adapter: init, depth: depth + 1, merged: chain });
  } else w = await loadBase(init, alternatives);
  if (!adapter) return w;
  const a = readAdapter(adapter, w.config);
  warnIfOtherBase(adapter, init);
  mergeAdapter(w.arrays, a);
  const files = w.files && !w.files.adapter ? { dir: w.files.dir, adapter } : undefined;
  const noFiles = w.noFiles ?? (files ? undefined : 'a model made of two adapters has no files to download: merge one into its base with train.js --merge-adapter');
  return { ...w, files, noFiles, source: `${w.source} + LoRA adapter ${adapter} (${describeRank(a)}, ${count(a.sites.length, 'projection')}, merged)` };
}

/**
 * A base retrained in place (or another model of the same shape) takes an adapter without a word,
 * and the adapter then means little: train.js recorded its base's fingerprint, so say when `base` differs.
 */
function warnIfOtherBase(adapter: string, base: string): void {
  let trainedOn: unknown;
  try {
    trainedOn = readTrainStateJson(adapter)?.state.baseFingerprint;
  } catch {
    return; // a corrupt train_state.json is --resume's to report, not a reason to refuse the adapter
  }
  if (typeof trainedOn !== 'string') return; // not made by train.js, or on a hub model by name
  const now = weightsFingerprint(base);
  if (now !== null && !sameWeights(trainedOn, now)) {
    console.warn(`warning: ${base} is not the base the LoRA adapter ${adapter} was trained on (its weight files differ: retrained or replaced since, or the adapter already merged into it?); the adapter is applied, but its replies will not be the ones it learned: pass the base it was trained on, or train it again on this one`);
  }
}

/** the names the hub download takes, also as Hugging Face spells them (openai-community/gpt2) */
const HUB_MODEL = /^(openai-community\/)?gpt2(-medium|-large|-xl)?$/;
/** is `init` one of OpenAI's models by name (downloaded or cached) rather than a directory? */
export const isHubModel = (init: string) => HUB_MODEL.test(init) && !existsSync(init);

/**
 * The directories whose files `init` reads: init itself, and for a LoRA adapter the base it
 * names, and that one's base, ... (a run must not write into any of them). A loop is a UserError.
 */
export function weightDirs(init: string): string[] {
  const dirs: string[] = [];
  for (let d = init; existsSync(d); ) {
    const r = resolve(d);
    if (dirs.includes(r)) throw new UserError(`${init}: the adapters' base_model_name_or_path go round in a loop (${[...dirs, r].join(' -> ')}); point one at a whole model`);
    dirs.push(r);
    if (!isAdapterDir(d)) break;
    try {
      d = adapterBase(d);
    } catch {
      break; // no base named: loading it says so
    }
  }
  return dirs;
}

async function loadBase(init: string, alternatives: string): Promise<LoadedWeights> {
  if (isHubModel(init)) {
    const dir = await ensureGPT2(withoutHubOwner(init));
    const { config, params } = loadGPT2Weights(dir);
    return { config, arrays: params, source: `${init} (${dir})`, files: { dir } };
  }
  const choices = `Pass 'gpt2' (or gpt2-medium, gpt2-large, gpt2-xl), ${alternatives ? `${alternatives}, ` : ''}or a directory holding config.json and model.safetensors (or a LoRA adapter's adapter_config.json and adapter_model.safetensors).`;
  // '' (an unset shell variable) is no path: 'no such directory' would name nothing
  if (init.trim() === '') throw new UserError(`--init is empty: ${choices.replace(/^Pass/, 'pass')}`);
  if (!existsSync(init)) throw new UserError(`--init ${init}: no such directory. ${choices}`);
  if (!statSync(init).isDirectory()) throw new UserError(`--init ${init} is a file: pass the directory that holds it (config.json + model.safetensors)`);
  recoverCheckpoint(init, { reader: true });
  if (!hasWeights(init)) {
    const foreign = foreignWeights(init);
    throw new UserError(`--init ${init}: ${foreign ?? `${join(init, WEIGHTS)} is missing (a checkpoint directory holds config.json and model.safetensors, or a sharded save's model.safetensors.index.json and its shards). ${choices}`}`);
  }
  const { config, params } = loadGPT2Weights(init);
  return { config, arrays: params, source: init, files: { dir: init } };
}

/** --dtype, as chat.js, eval.js and serve.js take it */
export const DTYPE_FLAG: FlagSpec = {
  name: 'dtype', type: 'string', default: 'f32', choices: ['f32', 'f16'],
  help: 'weight matrices on the GPU in f32, or f16 (half the memory and half the bytes read per token, f32 arithmetic)',
};

export interface OpenOptions {
  /** default: the process's device */
  gpu?: Gpu;
  /** a LoRA adapter directory, merged into the weights as they load */
  adapter?: string;
  /** default f32 */
  dtype?: WeightsDtype;
}

/** The KV-cached generator of `init`'s weights (openModel's options). */
export async function openGenerator(init: string, opts: OpenOptions = {}): Promise<{ generator: GPT2Generator; loadMs: number; describe: string }> {
  const { model, loadMs, describe } = await openModel(init, opts);
  return { generator: new GPT2Generator(model), loadMs, describe };
}

/** `init`'s weights on the GPU (the server batches its own generator over them); `files`: the files they came from (LoadedWeights.files), or null and why (`noFiles`) */
export async function openModel(init: string, opts: OpenOptions = {}): Promise<{ model: GPT2; loadMs: number; describe: string; files: ModelFiles | null; noFiles?: string }> {
  const t0 = performance.now();
  const dtype = opts.dtype ?? 'f32';
  const gpu = opts.gpu ?? (await getGpu());
  const w = await loadWeights(init, { adapter: opts.adapter });
  // text is encoded with GPT-2's tokenizer: a smaller vocabulary would fail at the first message
  if (w.config.vocab_size < VOCAB_SIZE) {
    throw new UserError(`${w.files ? join(w.files.dir, 'config.json') : w.source}: vocab_size ${w.config.vocab_size} is smaller than the GPT-2 tokenizer's ${VOCAB_SIZE} tokens, so text cannot be given to this model; pass a model with vocab_size ${VOCAB_SIZE} or more`);
  }
  const model = GPT2.fromArrays(gpu, w.config, w.arrays, undefined, dtype);
  await gpu.sync();
  const describe = `${w.source}: ${describeConfig(w.config)}${dtype === 'f16' ? ', f16 weights' : ''} on ${gpu.adapterName}`;
  return { model, loadMs: performance.now() - t0, describe, files: w.files ?? null, noFiles: w.noFiles };
}

/**
 * A short hash of the weight files `init` reads, so a LoRA run can tell when its base changed
 * under it; null for a hub model by name (its files do not change). Two halves: the size and first
 * MiB of each file (a retrained model differs there), then the start of every tensor (a model with
 * a LoRA adapter merged in differs only in its projections).
 */
export function weightsFingerprint(init: string): string | null {
  if (isHubModel(init)) return null;
  const ends = createHash('sha256'), starts = createHash('sha256');
  for (const dir of weightDirs(init)) {
    const files = weightFiles(dir);
    if (!files.length && existsSync(join(dir, 'adapter_model.safetensors'))) files.push(join(dir, 'adapter_model.safetensors'));
    for (const file of files) {
      hashFileEnds(ends, file);
      if (file.endsWith('.safetensors')) hashTensorStarts(starts, file);
    }
  }
  return ends.digest('hex').slice(0, 16) + starts.digest('hex').slice(0, 16);
}

/** are the weights whose fingerprint is `now` the ones `saved` was taken of? (a run saved before tensors' starts were hashed kept the first half only) */
export const sameWeights = (saved: string, now: string) => saved === now.slice(0, Math.max(saved.length, 16));
