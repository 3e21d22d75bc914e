// What the commands share: the model flags of chat.js, eval.js and serve.js, and how a CLI
// reports the error that ended it.
import { GpuValidationError } from '../gpu/index.ts';
import { existsSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { DEFAULT_SPEAKERS, speakerFlagsProblem, speakerTags, type Speakers } from '../data/format.ts';
import { readTrainStateJson } from './checkpoint_files.ts';
import { chooseInit, DTYPE_FLAG, weightDirs } from './load_model.ts';
import { isAdapterDir } from './adapter_dir.ts';
import { readConfigSpeakers } from './weights.ts';
import type { WeightsDtype } from '../model/gpt2.ts';
import { DEFAULTS } from '../train/run.ts';
import type { FlagSpec } from '../util/args.ts';
import { UserError } from '../util/errors.ts';
import { fsReason } from './fs_errors.ts';

/** where `node dist/train.js` writes its checkpoint: what chat.js, eval.js and serve.js load by default */
export const DEFAULT_CHECKPOINT = DEFAULTS.out;

/**
 * A shipped default file (train.js's data/chat.txt, eval.js's data/eval.txt) is a path relative
 * to the working directory: away from the repository, say so and the way out, not only that a
 * file is missing.
 */
export function checkShippedFile(path: string, what: string, command: string): void {
  if (!existsSync(path)) throw new UserError(`${what} ${path} is not in ${process.cwd()}: run ${command} from the repository's directory, or pass --data FILE`);
}

/** --init, --adapter and --dtype, as chat.js, eval.js and serve.js take them */
export const MODEL_FLAGS: FlagSpec[] = [
  { name: 'init', type: 'string', help: `gpt2 (or gpt2-medium, gpt2-large, gpt2-xl: OpenAI's, from the hub or its cache) | DIR (config.json + model.safetensors or a sharded save's shards, or a LoRA adapter directory) (default: ${DEFAULT_CHECKPOINT} if it exists, else gpt2)` },
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

/** --human and --bot, as chat.js, eval.js and serve.js take them */
export const SPEAKER_FLAGS: FlagSpec[] = [
  { name: 'human', type: 'string', help: "speaker tag of the user's turns (default: the tag the model was trained with, from its train_state.json or config.json, else Human)" },
  { name: 'bot', type: 'string', help: "speaker tag of the model's turns (default: the tag the model was trained with, else Bot)" },
];

/** the data files the train.js run that made the chosen model trained on (train_state.json of the adapter, else of --init), or undefined */
export function trainingDataOf(c: Pick<ModelChoice, 'init' | 'adapter'>): string[] | undefined {
  const data = runOptions(c.adapter ?? c.init)?.data;
  // one path: a train.js from before several --data files
  const files = typeof data === 'string' ? [data] : Array.isArray(data) ? data : [];
  return files.length && files.every((f) => typeof f === 'string' && f) ? files : undefined;
}

/** the options train_state.json in `dir` saved, or undefined (no such directory or file) */
function runOptions(dir: string): Record<string, unknown> | undefined {
  try {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) return undefined;
    const o = readTrainStateJson(dir)?.state.options;
    return o && typeof o === 'object' ? (o as Record<string, unknown>) : undefined;
  } catch {
    return undefined; // a corrupt train_state.json is --resume's to report, not a reason to refuse a chat
  }
}

/**
 * The speaker tags the chosen model was trained with, from the nearest record: the adapter's
 * train_state.json (its run's --human/--bot), then each directory its weights come from
 * (--init, and the base of an adapter given as --init), its train_state.json before its
 * config.json (chat_speakers, which a merged model, the page's download or a checkpoint without
 * its run state carries). train_state.json wins where both are: it is the run's own record,
 * which --resume continues. null: none recorded.
 */
export function recordedSpeakers(c: Pick<ModelChoice, 'init' | 'adapter'>): Speakers | null {
  for (const dir of [...(c.adapter ? [c.adapter] : []), ...weightDirs(c.init)]) {
    const o = runOptions(dir);
    const sp = (o && speakerTags(o.human, o.bot)) ?? (isAdapterDir(dir) ? null : readConfigSpeakers(dir));
    if (sp) return sp;
  }
  return null;
}

/**
 * The speaker tags to prompt the chosen model with: --human/--bot, else the ones it was trained
 * with (recordedSpeakers: `train.js --human User --bot Assistant` makes a model that answers
 * after "Assistant:"), else Human/Bot.
 */
export function speakersFromFlagsOrTraining(a: Record<string, unknown>, c: ModelChoice): Speakers {
  const trained = recordedSpeakers(c) ?? DEFAULT_SPEAKERS;
  const human = ((a.human as string | undefined) ?? trained.human).trim(), bot = ((a.bot as string | undefined) ?? trained.bot).trim();
  const why = speakerFlagsProblem({ human, bot });
  if (why) throw new UserError(why);
  return { human, bot };
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

/**
 * chat.js and eval.js on stdout: a reader that goes away (`| head`) ends the program quietly, as
 * it does other Unix tools, instead of an unhandled EPIPE stack trace; a full disk or device
 * (`> /dev/full`) is said in one line.
 */
export function exitOnStdoutError(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    console.error(`error: cannot write to stdout: ${fsReason(e)}`);
    process.exit(1);
  });
}

/**
 * train.js and serve.js on stdout: a reader that goes away (`| head`, a `| tee` killed by the
 * same Ctrl-C, a closed terminal after SIGHUP) must not end a run or a server: it goes on
 * without printing, and a signal still saves (train.js) or stops it cleanly (serve.js).
 */
export function carryOnWithoutStdout(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE' && e.code !== 'EIO') throw e;
  });
}

/** the signals that stop a command (Ctrl-C, `kill`/`timeout`/docker stop, a closed terminal) */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** the exit code of a command a signal stopped, as a shell reports it: 128 + its number (130 for Ctrl-C, 143 for SIGTERM) */
export const signalExitCode = (sig: NodeJS.Signals) => 128 + osConstants.signals[sig];
/** 'interrupt' for Ctrl-C, else the signal's name */
export const signalName = (sig: NodeJS.Signals) => (sig === 'SIGINT' ? 'interrupt' : sig);

/**
 * Let a signal that came during synchronous work reach its handler now: libuv reads it in its
 * poll phase, and two turns of the event loop have one between them. (Needed before a
 * listener is removed too: removing a signal's last listener would drop one still queued.)
 */
export async function deliverPendingSignals(): Promise<void> {
  for (let i = 0; i < 2; i++) await new Promise((r) => setImmediate(r));
}
