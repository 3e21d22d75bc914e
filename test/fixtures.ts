// Shared test fixtures: a tiny GPT-2 config and random weights for it.
import { GPT2 } from '../src/model/gpt2.ts';
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


/** three short conversations, one with a recall question: enough for a tiny model to overfit */
export const SMALL_CHAT = [
  'Human: Hi, my name is Ada.\nBot: Hello Ada! Nice to meet you.\nHuman: What is my name?\nBot: Your name is Ada.',
  'Human: What is two plus two?\nBot: Two plus two is four.',
  'Human: Tell me a colour.\nBot: Green, like fresh grass.',
].join('\n\n') + '\n';
