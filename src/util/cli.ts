// What the commands share: the model flags of chat.js, eval.js and serve.js, and how a CLI
// reports the error that ended it.
import { GpuValidationError } from '../gpu/index.ts';
import { chooseInit, DTYPE_FLAG } from '../model/load.ts';
import type { WeightsDtype } from '../model/gpt2.ts';
import { DEFAULTS } from '../train/run.ts';
import type { FlagSpec } from './args.ts';
import { UserError } from './errors.ts';

/** where `node dist/train.js` writes its checkpoint: what chat.js, eval.js and serve.js load by default */
export const DEFAULT_CHECKPOINT = DEFAULTS.out;

/** --init, --adapter and --dtype, as chat.js, eval.js and serve.js take them */
export const MODEL_FLAGS: FlagSpec[] = [
  { name: 'init', type: 'string', help: `gpt2 | DIR (config.json + model.safetensors, or a LoRA adapter directory) (default: ${DEFAULT_CHECKPOINT} if it exists, else gpt2)` },
  { name: 'adapter', type: 'string', help: 'a LoRA adapter directory (adapter_config.json + adapter_model.safetensors, PEFT format) merged into --init (default --init: the base it names)' },
  DTYPE_FLAG,
];
export const FAST_FLAG: FlagSpec = { name: 'fast', type: 'boolean', help: 'Dawn speed toggles (no robustness checks, no validation)' };

export interface ModelChoice {
  init: string;
  adapter: string | undefined;
  dtype: WeightsDtype;
  /** nothing named a model and there is no out/chat: init is gpt2 by default */
  defaulted: boolean;
}

/** the model MODEL_FLAGS chose: --init (or its default), the adapter to merge into it, the weights' dtype on the GPU */
export function modelChoice(a: Record<string, unknown>): ModelChoice {
  const adapter = a.adapter as string | undefined;
  const init = chooseInit(a.init as string | undefined, adapter, DEFAULT_CHECKPOINT);
  return { init, adapter, dtype: a.dtype as WeightsDtype, defaulted: a.init === undefined && !adapter && init !== DEFAULT_CHECKPOINT };
}

/** `load()` of the chosen model; a failed load of the default gpt2 says why gpt2 was tried (a user who has not trained yet) */
export async function loadChosen<T>(c: ModelChoice, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    if (!c.defaulted || !(e instanceof UserError)) throw e;
    throw new UserError(`no --init given and no ${DEFAULT_CHECKPOINT} here (node dist/train.js writes it), so ${c.init} was tried: ${e.message}`);
  }
}

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
