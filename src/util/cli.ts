// What the CLIs share: how they report the error that ended them, and which model they load.
import { existsSync } from 'node:fs';
import { GpuValidationError } from '../gpu/index.ts';
import type { FlagSpec } from './args.ts';
import { UserError } from './errors.ts';

/**
 * UserErrors, GPU validation errors and file-system errors (a bad path) are the user's to
 * fix: one line, no stack (unless DEBUG is set); anything else prints its stack. Exit code 1.
 */
export function reportError(e: unknown): void {
  const err = e as Error & { code?: string };
  const oneLine = err instanceof UserError || err instanceof GpuValidationError || (typeof err?.code === 'string' && /^E[A-Z]+$/.test(err.code));
  console.error(`error: ${oneLine && !process.env.DEBUG ? err.message : (err?.stack ?? String(e))}`);
  process.exitCode = 1;
}

/** where `node dist/train.js` writes its checkpoint: what chat.js, eval.js and serve.js load by default */
export const DEFAULT_OUT = 'out/chat';

/** the --init flag of the commands that load a trained model */
export const initFlag: FlagSpec = {
  name: 'init', type: 'string', help: `gpt2 | DIR (config.json + model.safetensors) (default: ${DEFAULT_OUT} if it exists, else gpt2)`,
};

/** --init's value, or the default checkpoint when there is one, else OpenAI's gpt2 */
export const initOrDefault = (init: unknown): string => (init as string | undefined) ?? (existsSync(DEFAULT_OUT) ? DEFAULT_OUT : 'gpt2');
