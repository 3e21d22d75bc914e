// Where a model's weights come from: OpenAI's GPT-2 (local cache or hub download), a
// checkpoint/HF directory, or a fresh initialization.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import type { GPT2Config } from './config.ts';
import { loadGPT2Weights } from './weights.ts';
import { ensureGPT2 } from './hub.ts';
import { GPT2 } from './gpt2.ts';

export interface LoadedWeights {
  config: GPT2Config;
  arrays: Map<string, Float32Array>;
  /** where they came from, for the console */
  source: string;
}

/** `init` is 'gpt2' (or 'gpt2-medium', ...), or a directory with config.json + model.safetensors. */
export async function loadWeights(init: string): Promise<LoadedWeights> {
  if (/^gpt2(-medium|-large|-xl)?$/.test(init) && !existsSync(init)) {
    const dir = await ensureGPT2(init);
    const { config, params } = loadGPT2Weights(dir);
    return { config, arrays: params, source: `${init} (${dir})` };
  }
  if (!existsSync(init)) {
    throw new UserError(`--init ${init}: no such directory. Pass 'gpt2', 'scratch', or a directory holding config.json and model.safetensors.`);
  }
  if (!existsSync(join(init, 'model.safetensors'))) {
    throw new UserError(`--init ${init}: ${join(init, 'model.safetensors')} is missing (a checkpoint directory holds config.json and model.safetensors).`);
  }
  const { config, params } = loadGPT2Weights(init);
  return { config, arrays: params, source: init };
}

export { GPT2 };
