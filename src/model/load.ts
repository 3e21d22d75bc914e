// Where a model's weights come from: OpenAI's GPT-2 (local cache or hub download) or a
// checkpoint/HF directory. The one load path for every Node reader (chat, eval, train --init, --resume).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Gpu } from '../gpu/index.ts';
import { getGpu } from '../node/gpu.ts';
import { UserError } from '../util/errors.ts';
import { describeConfig, type GPT2Config } from './config.ts';
import { GPT2Generator } from './generate.ts';
import { GPT2 } from './gpt2.ts';
import { loadGPT2Weights } from '../node/weights.ts';
import { ensureGPT2 } from './hub.ts';
import { recoverCheckpoint } from './checkpoint.ts';

export interface LoadedWeights {
  config: GPT2Config;
  arrays: Map<string, Float32Array>;
  /** where they came from, for the console */
  source: string;
}

/**
 * `init` is 'gpt2' (or 'gpt2-medium', ...), or a directory with config.json + model.safetensors.
 * A save that a crash interrupted after it was complete is finished first, as --resume does.
 * `alternatives` names what else the caller's --init accepts, for the error message.
 */
export async function loadWeights(init: string, { alternatives = '' } = {}): Promise<LoadedWeights> {
  if (/^gpt2(-medium|-large|-xl)?$/.test(init) && !existsSync(init)) {
    const dir = await ensureGPT2(init);
    const { config, params } = loadGPT2Weights(dir);
    return { config, arrays: params, source: `${init} (${dir})` };
  }
  const choices = `Pass 'gpt2' (or gpt2-medium, gpt2-large, gpt2-xl), ${alternatives ? `${alternatives}, ` : ''}or a directory holding config.json and model.safetensors.`;
  if (!existsSync(init)) throw new UserError(`--init ${init}: no such directory. ${choices}`);
  recoverCheckpoint(init, { reader: true });
  if (!existsSync(join(init, 'model.safetensors'))) {
    throw new UserError(`--init ${init}: ${join(init, 'model.safetensors')} is missing (a checkpoint directory holds config.json and model.safetensors). ${choices}`);
  }
  const { config, params } = loadGPT2Weights(init);
  return { config, arrays: params, source: init };
}

/** The KV-cached generator of `init`'s weights on `opts.gpu` (default: the process's device). */
export async function openGenerator(init: string, opts: { gpu?: Gpu } = {}): Promise<{ generator: GPT2Generator; loadMs: number; describe: string }> {
  const t0 = performance.now();
  const w = await loadWeights(init);
  const gpu = opts.gpu ?? (await getGpu());
  const model = GPT2.fromArrays(gpu, w.config, w.arrays);
  const generator = new GPT2Generator(model);
  await gpu.sync();
  const c = w.config;
  return { generator, loadMs: performance.now() - t0, describe: `${w.source}: ${describeConfig(c)} on ${gpu.adapterName}` };
}
