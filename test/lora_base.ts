// What the LoRA tests (adapter.test.ts, peft.test.ts) share: a scratch directory with a chat file
// and a small random base model with GPT-2's vocabulary (so that train.js and chat.js can
// tokenize for it), and the one-line UserError an adapter that cannot be applied gets.
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GPT2Config } from '../src/model/config.ts';
import { saveGPT2Weights } from '../src/node/weights.ts';
import { UserError } from '../src/util/errors.ts';
import { SMALL_CHAT, tinyArrays } from './fixtures.ts';

export const LORA_BASE_CONFIG: GPT2Config = { n_layer: 2, n_head: 2, n_embd: 32, n_positions: 64, vocab_size: 50257, layer_norm_epsilon: 1e-5 };

/** a new temporary directory (`prefix`) holding chat.txt and base/ (seed 1), and a path helper into it */
export function loraScratch(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const path = (name: string) => join(dir, name);
  const chat = path('chat.txt');
  writeFileSync(chat, SMALL_CHAT);
  const base = path('base');
  const baseArrays = tinyArrays(LORA_BASE_CONFIG, 1);
  saveGPT2Weights(base, LORA_BASE_CONFIG, baseArrays);
  return { dir, path, chat, base, baseArrays };
}

/** the message of the UserError `f` throws, checked to be one line */
export function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.instance(e, UserError, `a UserError, not ${(e as Error).stack}`);
    assert.not.match((e as Error).message, /\n/, 'one line');
    return (e as Error).message;
  }
  return assert.unreachable('expected an error') as never;
}
