// Shared test fixtures: a tiny GPT-2 config and random weights for it; a model re-saved as shards.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GPT2 } from '../src/model/gpt2.ts';
import type { NamedTensor } from '../src/model/safetensors.ts';
import { readSafetensors, writeSafetensors } from '../src/node/safetensors.ts';
import type { GPT2Config } from '../src/model/config.ts';
import { Rng } from '../src/util/rng.ts';

export const TINY: GPT2Config = { n_layer: 2, n_head: 2, n_embd: 16, n_positions: 16, vocab_size: 37, layer_norm_epsilon: 1e-5 };

/** random (not GPT-2-init) weights so every parameter, biases and LN included, matters */
export function tinyArrays(c: GPT2Config, seed: number): Map<string, Float32Array> {
  const a = GPT2.initArrays(c, seed);
  const rng = new Rng(seed + 1);
  for (const [name, v] of a) {
    const std = name.includes('ln_') ? 0.3 : 0.2;
    for (let i = 0; i < v.length; i++) v[i] += rng.normal() * std;
  }
  return a;
}

export const shardName = (i: number, n: number) => `model-${String(i).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;

/**
 * `dir`'s model re-saved in `out` (made if needed) as transformers saves a model bigger than
 * max_shard_size: its tensors in order over `n` files model-0000i-of-0000n.safetensors, and
 * model.safetensors.index.json {"metadata": {"total_size"}, "weight_map": {tensor: shard file}}.
 * `extra[i]`: tensors written into shard i+1 beside its own, not in the index.
 */
export function shardedCopy(dir: string, out: string, n: number, extra: NamedTensor[][] = []): string {
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'config.json'), readFileSync(join(dir, 'config.json')));
  const f = readSafetensors(join(dir, 'model.safetensors'));
  const tensors = f.names.map((name) => ({ name, shape: f.info(name).shape, data: f.get(name) }));
  f.close();
  const per = Math.ceil(tensors.length / n), weightMap: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    const part = tensors.slice(i * per, (i + 1) * per);
    for (const { name } of part) weightMap[name] = shardName(i + 1, n);
    writeSafetensors(join(out, shardName(i + 1, n)), [...part, ...(extra[i] ?? [])], { format: 'pt' });
  }
  const total_size = tensors.reduce((a, x) => a + x.data.byteLength, 0);
  writeFileSync(join(out, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size }, weight_map: weightMap }, null, 2) + '\n');
  return out;
}


/** three short conversations, one with a recall question: enough for a tiny model to overfit */
export const SMALL_CHAT = [
  'Human: Hi, my name is Ada.\nBot: Hello Ada! Nice to meet you.\nHuman: What is my name?\nBot: Your name is Ada.',
  'Human: What is two plus two?\nBot: Two plus two is four.',
  'Human: Tell me a colour.\nBot: Green, like fresh grass.',
].join('\n\n') + '\n';
