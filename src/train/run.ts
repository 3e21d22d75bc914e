// What a training run is, decided in one place: the model (its config and where its weights
// come from), the schedule, batch and block size, and every other setting, from the flags the
// user gave plus, on --resume, the run's saved state. A flag given wins; on --resume a flag not
// given keeps the run's value; otherwise the default. No files, no Node APIs: the CLI and a
// browser page both call this.
import { UserError } from '../util/errors.ts';
import { gigabytes, shellWord } from '../util/words.ts';
import { isTokenFile } from '../data/token_bin.ts';
import { GPT2_124M, memoryProblem, shapeProblem, type GPT2Config } from '../model/config.ts';
import { speakerFlagProblem, speakerFlagsProblem, type Speakers } from '../data/format.ts';
import type { TokenDataset } from '../data/windows.ts';
import { checkLora, checkLoraValues, DEFAULT_LORA_TARGETS, loraSites, type LoraSettings } from '../model/lora.ts';
import type { WeightsDtype } from '../model/gpt2.ts';
import { learningRate, TimeSchedule } from './schedule.ts';

/** Every setting of a run; train_state.json keeps them all, so --resume continues the run exactly. */
export interface RunSettings {
  /** the dataset files (absolute, so a resume from another directory finds them), read one after another as one */
  data: string[];
  /** the validation file (--val-data, absolute); unset = a part of `data` is held out for validation */
  valData?: string;
  /** tokens per sequence (the model's context at most) */
  blockSize: number;
  batchSize: number;
  gradAccum: number;
  order: 'random' | 'sequential';
  mask: 'bot' | 'none';
  human: string;
  bot: string;
  seed: number;
  /** total optimizer steps; unset in a run with a time budget */
  steps?: number;
  /** wall-clock budget in seconds (--time); the schedule is laid out over the steps that fit */
  time?: number;
  lr: number;
  minLr: number;
  /** unset in a time-budget run without --warmup: 5% of the steps that fit, estimated as it goes */
  warmup?: number;
  schedule: 'cosine' | 'constant';
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  gradClip: number;
  evalInterval: number;
  evalSteps: number;
  saveInterval: number;
  /** append one JSON line per step here (absolute) */
  log?: string;
  /** a sampled softmax: the loss covers the data's tokens plus this many others drawn each step (output_vocab.ts); 0 or unset = the whole vocabulary */
  sampledSoftmax?: number;
  /** LoRA: the adapter trained beside the frozen base weights; unset = every weight trains */
  lora?: LoraSettings;
  /** LoRA: the base model ('gpt2' or an absolute directory), loaded again by --resume and named in adapter_config.json */
  base?: string;
  /** LoRA: the frozen base's weights in f16 (--dtype f16; unset = f32) */
  dtype?: WeightsDtype;
}

/** What the user asked for: any RunSettings (unset = keep or default), the model and where it goes. */
export interface TrainFlags extends Partial<Omit<RunSettings, 'data'>> {
  /** --data: one file, or several (the flag repeated) */
  data?: string | string[];
  /** 'auto' | 'gpt2' (or gpt2-medium, ...) | 'scratch' | a checkpoint directory */
  init?: string;
  out?: string;
  resume?: boolean;
  /** start a new run in an --out that holds a checkpoint (replaced at the first save) */
  overwrite?: boolean;
  /** resume without the optimizer moments (they restart from zero) */
  resetOptimizer?: boolean;
  /** from-scratch model shape */
  nLayer?: number;
  nHead?: number;
  nEmbd?: number;
  /** --lora R and its options (RunSettings.lora holds the resolved adapter) */
  loraR?: number;
  loraAlpha?: number;
  loraDropout?: number;
  loraTargets?: string[];
}

export const DEFAULTS = {
  init: 'auto', data: 'data/chat.txt', out: 'out/chat', gradAccum: 1, order: 'random', mask: 'bot', human: 'Human', bot: 'Bot',
  seed: 1337, schedule: 'cosine', weightDecay: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-8, gradClip: 1.0,
  evalInterval: 50, evalSteps: 8, saveInterval: 100, nLayer: 4, nHead: 4, nEmbd: 128,
} as const;

// Defaults sized for a few minutes on a CPU adapter (lavapipe) and a real run on a GPU.
export const defaultSteps = (fromScratch: boolean, isCpu: boolean) => (fromScratch ? (isCpu ? 450 : 2000) : isCpu ? 30 : 1000);
/**
 * From scratch, the loss's softmax covers the data's tokens plus this many others drawn each
 * step (output_vocab.ts): the default model's step takes about half the time (measured on
 * lavapipe: 503 vs 904 ms), and the same minutes train a better model. Fine-tuning keeps the
 * whole vocabulary: a pretrained model's lm_head is already what the user wants.
 */
export const DEFAULT_SAMPLED_SOFTMAX = 4096;
// LoRA's adapter starts at zero and stays small: it takes a larger step than whole-model fine-tuning
export const defaultLr = (fromScratch: boolean, lora = false) => (fromScratch ? 3e-3 : lora ? 1e-3 : 6e-5);
export const defaultBlockSize = (isCpu: boolean) => (isCpu ? 256 : 512);
/** sequences per batch: from scratch a fixed token budget (1024 on a CPU adapter, 4096 on a GPU); fine-tuning 124M+ is costlier per token */
export function defaultBatch(fromScratch: boolean, isCpu: boolean, T: number): number {
  if (!fromScratch) return isCpu ? 1 : 8;
  return Math.max(1, Math.round((isCpu ? 1024 : 4096) / T));
}

/** where the starting weights come from; only 'scratch' builds its config from the flags */
export type WeightsSource = 'scratch' | 'pretrained' | 'resume';

/** the part of train_state.json that defines the run (see savedRunState) */
export interface SavedRun {
  step: number;
  settings: Partial<RunSettings>;
  /** AdamW updates taken: fewer than `step` when batches without targets were skipped */
  adamSteps: number;
  /** wall-clock ms spent by the run's earlier sessions (a time budget counts them) */
  elapsedMs: number;
  /** the time-budget schedule's state (TimeSchedule) */
  schedule?: Record<string, number>;
  history: { train: [number, number][]; val: [number, number][] };
  /** LoRA: what the base's weight files hashed to when the adapter last trained on them (a resume says when they changed) */
  baseFingerprint?: string;
  /** what the training data's file hashed to at the last save (a resume says when it changed) */
  dataFingerprint?: string;
  /** the same for the --val-data file */
  valDataFingerprint?: string;
  /** rows of the data order trained (windows of the run's block size); absent before it was read back */
  dataPosition?: number;
  /** what the resumed run should be told about the state it read (an old format) */
  note?: string;
}

/** the adapter and machine a run is sized against */
export interface DeviceLimits {
  isCpu: boolean;
  /** largest GPUBuffer the adapter allows */
  maxBufferSize: number;
  /** host memory in bytes (the CPU adapter keeps its buffers there too) */
  memoryBytes: number;
  /** more copies of the trainable weights that the host keeps during the run (the page: the weights as they were, put back if the run fails) */
  keptCopies?: number;
}

export interface Run {
  source: WeightsSource;
  config: GPT2Config;
  settings: RunSettings;
  /** the step the loop starts at (the saved step on --resume) */
  startStep: number;
  saved: SavedRun | null;
  /** lines for the console (e.g. a capped block size) */
  notes: string[];
}

/** --data's files as a list: one file or several */
export const dataFiles = (data: string | string[]): string[] => (typeof data === 'string' ? [data] : data);
/** the files for messages, as the flags name them: `--data a.txt --data b.txt` */
export const dataFlags = (files: string[]): string => files.map((f) => `--data ${f}`).join(' ');

const flagName = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
/** the from-scratch shape flags and the config fields they set */
const SHAPE_FLAGS = [['nLayer', 'n_layer'], ['nHead', 'n_head'], ['nEmbd', 'n_embd']] as const;

/**
 * The run: `source` says where the weights come from; `config` is theirs (pretrained, resume)
 * and is built from the flags for 'scratch'; `saved` is the checkpoint's state on resume.
 * Throws a UserError naming the flag for any value that cannot work.
 */
export function resolveRun(
  flags: TrainFlags,
  from: { source: 'scratch' } | { source: 'pretrained'; config: GPT2Config; base?: string } | { source: 'resume'; config: GPT2Config; saved: SavedRun },
  device: DeviceLimits,
): Run {
  const saved = from.source === 'resume' ? from.saved : null;
  const keep: Partial<RunSettings> = saved?.settings ?? {};
  const fromScratch = from.source === 'scratch';
  const notes: string[] = [];
  const pick = <K extends keyof RunSettings & keyof typeof DEFAULTS>(k: K): RunSettings[K] =>
    (flags[k] ?? keep[k] ?? DEFAULTS[k]) as RunSettings[K];
  checkFlagsEarly(flags);

  const blockSize = flags.blockSize ?? keep.blockSize ?? defaultBlockSize(device.isCpu);
  let config: GPT2Config;
  if (from.source === 'scratch') {
    // a from-scratch model's context is what it is trained on
    config = { ...GPT2_124M, n_layer: flags.nLayer ?? DEFAULTS.nLayer, n_head: flags.nHead ?? DEFAULTS.nHead, n_embd: flags.nEmbd ?? DEFAULTS.nEmbd, n_positions: blockSize };
    const shape = shapeProblem(config);
    if (shape) throw new UserError(`--n-embd ${config.n_embd} --n-head ${config.n_head}: ${shape}`);
  } else {
    config = from.config;
    // the shape flags build a new model: weights that exist keep theirs (the first command with --resume added, same shape, is silent)
    const changed = SHAPE_FLAGS.filter(([f, c]) => flags[f] !== undefined && flags[f] !== config[c]);
    if (changed.length) {
      const auto = (flags.init ?? DEFAULTS.init) === 'auto'; // no --init given: it found GPT-2's weights
      const whose = from.source === 'resume' ? "the run's model in --out" : auto ? 'the GPT-2 that --init auto found' : "--init's model";
      notes.push(`${changed.map(([f]) => `${flagName(f)} ${flags[f]}`).join(' ')}: not used; ${whose} keeps its shape (${SHAPE_FLAGS.map(([, c]) => `${c} ${config[c]}`).join(', ')}); the shape flags are for a new model (--init scratch)`);
    }
  }
  const T = Math.min(blockSize, config.n_positions);
  if (T < blockSize) notes.push(`block size capped at the model's context: ${T}`);

  // the length of the run: a step count or a time budget (given again on resume, it replaces the saved one)
  let steps: number | undefined, time: number | undefined;
  if (flags.steps !== undefined) steps = flags.steps;
  else if (flags.time !== undefined) time = flags.time;
  else if (keep.steps !== undefined || keep.time !== undefined) ({ steps, time } = keep);
  else steps = defaultSteps(fromScratch, device.isCpu);

  const lora = resolveLora(flags, keep, from.source, config);
  const dtype = flags.dtype ?? keep.dtype;
  if (flags.dtype === 'f16' && !lora) {
    throw new UserError(from.source === 'resume' ? `--dtype f16 keeps the frozen base of a LoRA run in f16; the run in --out trains every weight, which needs them in f32: leave --dtype out` : F16_NEEDS_LORA);
  }
  const lr = flags.lr ?? keep.lr ?? defaultLr(fromScratch, !!lora);
  // a new --lr on resume brings its own default final lr
  const minLr = flags.minLr ?? (flags.lr === undefined ? keep.minLr : undefined) ?? lr / 10;
  const settledWarmup = saved?.schedule?.warmup; // a time-budget run's estimate, if it is continued by steps
  const warmup = flags.warmup ?? keep.warmup ?? (steps !== undefined ? (settledWarmup ?? Math.ceil(0.05 * steps)) : undefined);
  const data = flags.data !== undefined ? dataFiles(flags.data) : keep.data ?? [DEFAULTS.data];
  // --val-data '' (only on --resume: checkFlagsEarly) drops the run's file: part of --data is held out again
  const dropVal = flags.valData?.trim() === '';
  const valData = dropVal ? undefined : flags.valData ?? keep.valData;
  // the held-out tenth trained until now (all of --data did): its loss reads low, and the curve changes files here
  if (flags.log?.trim() === '' && keep.log) notes.push(`--log '': the run's step log ${keep.log} is no longer written (it keeps the steps up to here)`);
  if (dropVal && keep.valData) notes.push(`--val-data '': the run's validation file ${keep.valData} is dropped; a tenth of ${data.join(' + ')} is held out for validation from here on. The run has trained on those conversations so far, so its validation loss reads low and is not comparable with the earlier values`);
  const settings: RunSettings = {
    data,
    ...(valData ? { valData } : {}),
    blockSize: T,
    batchSize: flags.batchSize ?? keep.batchSize ?? defaultBatch(fromScratch, device.isCpu, T),
    gradAccum: pick('gradAccum'), order: pick('order'), mask: pick('mask'), human: pick('human').trim(), bot: pick('bot').trim(), seed: pick('seed'),
    steps, time, lr, minLr, warmup, schedule: pick('schedule'),
    weightDecay: pick('weightDecay'), beta1: pick('beta1'), beta2: pick('beta2'), eps: pick('eps'), gradClip: pick('gradClip'),
    evalInterval: pick('evalInterval'), evalSteps: pick('evalSteps'), saveInterval: pick('saveInterval'),
    // --log '' (only on --resume: checkFlagsEarly) stops the run's log
    ...(flags.log?.trim() === '' ? {} : { log: flags.log ?? keep.log }),
    sampledSoftmax: flags.sampledSoftmax ?? keep.sampledSoftmax ?? (fromScratch ? DEFAULT_SAMPLED_SOFTMAX : 0),
    ...(lora ? { lora, base: from.source === 'pretrained' ? from.base : keep.base, ...(dtype === 'f16' ? { dtype } : {}) } : {}),
  };
  checkSettings(settings);
  if (lora) checkLora(config, lora);
  if (lora && settings.sampledSoftmax) throw new UserError(SAMPLED_SOFTMAX_NOT_LORA);
  // weights, gradients and AdamW's two moments; with LoRA only the weights are of the model's size (half of it in f16)
  const copies = (lora ? (settings.dtype === 'f16' ? 0.5 : 1) : 4) + (device.keptCopies ?? 0);
  const tooBig = memoryProblem(config, device.memoryBytes, copies);
  if (tooBig) throw new UserError(`${tooBig}${fromScratch ? ': lower --n-layer or --n-embd' : ''}`);
  checkBatchFits(settings, config, device, copies);

  // a warmup given (now or by the run resumed), not the default's 5% (a one-step run's is its step)
  if (steps !== undefined && warmup !== undefined && warmup >= steps && (flags.warmup ?? keep.warmup) !== undefined) {
    notes.push(`--warmup ${warmup} is not shorter than --steps ${steps}: the whole run is warmup, the learning rate only rises (to ${Number((lr * steps / warmup).toPrecision(3))} at the last step, of --lr ${lr}) and never decays`);
  }
  const startStep = saved?.step ?? 0;
  if (saved && steps !== undefined && startStep >= steps) {
    throw new UserError(`--resume: the checkpoint is already at step ${startStep}; pass a larger --steps (the total, not the number of extra steps)`);
  }
  if (saved && time !== undefined && saved.elapsedMs >= time * 1000) {
    throw new UserError(`--resume: the run has used its --time budget (${formatDuration(saved.elapsedMs / 1000)} of ${formatDuration(time)}); pass a larger --time (the total) or --steps`);
  }
  const jump = relaidSchedule(flags, keep, settings, startStep, saved?.schedule);
  if (jump) notes.push(jump);
  return { source: from.source, config, settings, startStep, saved, notes };
}

/**
 * A new --steps on --resume lays the schedule out again over the new total, so the learning
 * rate jumps where the run goes on (back up, for a run that had decayed to --min-lr: nanoGPT's
 * lr_decay_iters would have kept it there). So does --steps on a --time run (which the used-up
 * budget's error offers): its cosine was where its saved `timeState` says. Said, with the way
 * to go on at the rate reached.
 */
function relaidSchedule(flags: TrainFlags, keep: Partial<RunSettings>, now: RunSettings, step: number, timeState?: Record<string, number>): string | null {
  if (flags.steps === undefined || now.steps === undefined || step === 0) return null;
  const { steps, time, lr, minLr, warmup, schedule = 'cosine' } = keep;
  if (steps === now.steps || lr === undefined || minLr === undefined) return null;
  let before: number;
  if (steps !== undefined && warmup !== undefined) before = learningRate({ steps, lr, minLr, warmup, schedule }, step - 1);
  else if (time !== undefined && timeState !== undefined) {
    // the lr the time-budget run had reached: its schedule from the saved state
    before = new TimeSchedule({ lr, minLr, warmup, schedule }, { deadline: 0, start: 0, startStep: step, priorSteps: step, saved: timeState }).lr(step - 1);
  } else return null;
  const after = learningRate({ ...now, steps: now.steps, warmup: now.warmup ?? warmup ?? 0 }, step);
  if (Math.abs(after - before) <= 0.05 * before) return null;
  const e = (x: number) => x.toExponential(2);
  const keepRate = after > before ? `; to go on at the rate it reached, pass --schedule constant --lr ${Number(before.toPrecision(3))}` : '';
  const had = steps !== undefined ? `${steps}` : `--time ${formatDuration(time!)}`;
  return `--steps ${now.steps} (the run had ${had}): the learning-rate schedule is laid out again over ${now.steps} steps, so the lr goes from ${e(before)} at step ${step} to ${e(after)} at step ${step + 1}${keepRate}`;
}

/**
 * The adapter of a LoRA run (--lora R, or the saved run's on --resume), or undefined for
 * whole-model training. On --resume the rank, alpha and targets are the run's (the adapter's
 * shape and meaning); dropout may change. Options without --lora, or --lora on a model from
 * scratch or on a whole-model run's --resume, are UserErrors.
 */
function resolveLora(flags: TrainFlags, keep: Partial<RunSettings>, source: WeightsSource, config: GPT2Config): LoraSettings | undefined {
  const options = (['loraAlpha', 'loraDropout', 'loraTargets'] as const).filter((k) => flags[k] !== undefined);
  const saved = source === 'resume' ? keep.lora : undefined;
  if (flags.loraR === undefined && !saved) {
    if (options.length) throw new UserError(`${flagName(options[0])} goes with --lora R (the adapter's rank)`);
    return undefined;
  }
  if (source === 'scratch') throw new UserError('--lora adapts pretrained weights: pass --init gpt2 or --init DIR (a model from scratch has nothing to adapt)');
  if (source === 'resume' && !saved) {
    throw new UserError('--resume: the run in --out trains every weight; --lora cannot join it (start a LoRA run from its weights with --init DIR --lora R and another --out)');
  }
  if (saved) {
    const changed = (flag: string, given: unknown, was: unknown) => {
      if (given !== undefined && JSON.stringify(given) !== JSON.stringify(was)) {
        throw new UserError(`--resume: the run's adapter has ${flag} ${JSON.stringify(was)}; ${flag} ${JSON.stringify(given)} would be another adapter (start a new run with another --out)`);
      }
    };
    changed('--lora', flags.loraR, saved.r);
    changed('--lora-alpha', flags.loraAlpha, saved.alpha);
    // targets are the projections they pick: 'attn.c_attn' or another order is the run's own 'c_attn'
    const picked = (targets: string[]) => loraSites(config, targets).map((s) => s.name);
    if (flags.loraTargets && picked(flags.loraTargets).join() !== picked(saved.targets).join()) changed('--lora-targets', flags.loraTargets, saved.targets);
    return { ...saved, dropout: flags.loraDropout ?? saved.dropout };
  }
  const r = flags.loraR!;
  return { r, alpha: flags.loraAlpha ?? 2 * r, dropout: flags.loraDropout ?? 0, targets: flags.loraTargets ?? DEFAULT_LORA_TARGETS };
}

const lrWorks = (lr: number) => lr > 0 && Number.isFinite(Math.fround(lr));
const LR_RULE = 'must be a positive number (below 3.4e38, float32)';
const timeWorks = (t: number) => t > 0 && Number.isFinite(t);
const TIME_RULE = 'must be a positive duration';

/** a new run's speaker tags from its flags, trimmed as the run's settings take them */
export const flagSpeakers = (flags: TrainFlags): Speakers => ({ human: (flags.human ?? DEFAULTS.human).trim(), bot: (flags.bot ?? DEFAULTS.bot).trim() });

/**
 * --mask, --human and --bot given for token files alone (`data` a .bin, `valData` none or a .bin):
 * a .bin has no speaker tags, so they change nothing in training, which a writer may not expect.
 * The note that says so, or null. (The tags still go into the checkpoint, for chat.js.)
 */
export function tokenFileFlagsNote(flags: TrainFlags, data: string[], valData: string | undefined): string | null {
  if (!data.every(isTokenFile) || (valData && !isTokenFile(valData))) return null;
  const given = (['mask', 'human', 'bot'] as const).filter((f) => flags[f] !== undefined).map((f) => `--${f} ${shellWord(flags[f]!)}`);
  if (!given.length) return null;
  const tags = flags.human !== undefined || flags.bot !== undefined;
  return `${given.join(' ')} ${given.length > 1 ? 'have' : 'has'} no effect on training on a .bin: it has no speaker tags, so the loss covers every token` +
    (tags ? ' (the run still records the tags, and chat.js prompts the checkpoint with them)' : '');
}

/** What is wrong with the flags whatever the weights: checked before any are loaded (or downloaded). */
export function checkFlagsEarly(flags: TrainFlags): void {
  checkCounts(flags, ['blockSize', 'batchSize', 'gradAccum', 'steps', 'nLayer', 'nHead', 'nEmbd']);
  if (flags.steps !== undefined && flags.time !== undefined) throw new UserError('pass either --steps or --time, not both');
  if (flags.time !== undefined && !timeWorks(flags.time)) throw new UserError(`--time ${TIME_RULE}, got ${flags.time}`);
  if (flags.lr !== undefined && !lrWorks(flags.lr)) throw new UserError(`--lr ${LR_RULE}, got ${flags.lr}`);
  checkLoraValues({ r: flags.loraR, alpha: flags.loraAlpha, dropout: flags.loraDropout });
  if (flags.loraR !== undefined && flags.sampledSoftmax) throw new UserError(SAMPLED_SOFTMAX_NOT_LORA);
  if (flags.dtype === 'f16' && flags.loraR === undefined && !flags.resume) throw new UserError(F16_NEEDS_LORA);
  // resolve('') is the current directory: "not a file: /home/me" would not say what went wrong
  const empty = (flag: string) => new UserError(`${flag} is empty: pass a chat text file (e.g. data/chat.txt) or a .bin token file`);
  const files = flags.data === undefined ? [] : dataFiles(flags.data);
  if (files.some((f) => f.trim() === '')) throw empty('--data');
  // on --resume, --val-data '' drops the run's file (resolveRun)
  if (!flags.resume && flags.valData?.trim() === '') throw empty('--val-data');
  // several files are read as one chat text; a .bin's token ids cannot join it
  if (files.length > 1 && files.some(isTokenFile)) throw new UserError(`${dataFlags(files)}: a .bin token file trains alone; pass one .bin, or only chat text files`);
  // resolve('') is the current directory: a checkpoint would land there (an unset shell variable)
  if (flags.out !== undefined && flags.out.trim() === '') throw new UserError(`--out is empty: pass a directory for the checkpoint (default ${DEFAULTS.out})`);
  if (flags.init !== undefined && flags.init.trim() === '') throw new UserError("--init is empty: pass gpt2, scratch or a checkpoint directory (or leave --init out: auto)");
  // on --resume, --log '' stops the run's log (resolveRun); a new run's would be the current directory
  if (!flags.resume && flags.log !== undefined && flags.log.trim() === '') throw new UserError("--log is empty: pass a file for the step log (e.g. --log train.jsonl), or leave --log out");
  // trimmed, as the run's settings take them (checkSettings checks those again)
  if (!flags.resume) checkSpeakers(flagSpeakers(flags));
  else {
    // the pair waits for the run's saved tags (checkSettings); a tag that can be none is said now
    for (const who of ['human', 'bot'] as const) {
      const why = flags[who] !== undefined && speakerFlagProblem(who, flags[who].trim());
      if (why) throw new UserError(why);
    }
  }
}

function checkSpeakers(sp: Speakers): void {
  const why = speakerFlagsProblem(sp);
  if (why) throw new UserError(why);
}

const F16_NEEDS_LORA = '--dtype f16 keeps the frozen base of a LoRA run in f16; training every weight needs them in f32: add --lora R (or leave --dtype out)';
const SAMPLED_SOFTMAX_NOT_LORA = '--sampled-softmax speeds up the lm_head of a run that trains wte; a LoRA run keeps it frozen: leave --sampled-softmax out';

function checkCounts(flags: TrainFlags, keys: (keyof TrainFlags)[]): void {
  for (const k of keys) {
    const v = flags[k];
    if (v !== undefined && !(Number.isSafeInteger(v) && (v as number) >= 1)) throw new UserError(`${flagName(k)} must be a whole number of at least 1, got ${v}`);
  }
}

/** Values that cannot train (a zero learning rate, betas >= 1, ...), each named by its flag. */
export function checkSettings(s: RunSettings): void {
  const bad = (key: keyof RunSettings, rule: string) => {
    throw new UserError(`${flagName(key)} ${rule}, got ${s[key]}`);
  };
  checkCounts(s as TrainFlags, ['blockSize', 'batchSize', 'gradAccum', 'steps', 'evalSteps']);
  if (!lrWorks(s.lr)) bad('lr', LR_RULE);
  if (!(s.minLr >= 0 && s.minLr <= s.lr)) bad('minLr', `must be between 0 and --lr (${s.lr})`);
  if (s.warmup !== undefined && !(Number.isSafeInteger(s.warmup) && s.warmup >= 0)) bad('warmup', 'must be a whole number of steps, 0 or more');
  // float32 flushes anything below its smallest normal number (1.2e-38) to 0, and 0/0 is NaN
  if (!(Math.fround(s.eps) >= 2 ** -126 && Number.isFinite(s.eps))) bad('eps', 'must be a positive number of at least 1.2e-38 (float32 rounds smaller ones to 0)');
  if (!(s.beta1 >= 0 && s.beta1 < 1)) bad('beta1', 'must be in [0, 1)');
  if (!(s.beta2 >= 0 && s.beta2 < 1)) bad('beta2', 'must be in [0, 1)');
  if (!(s.weightDecay >= 0 && Number.isFinite(s.weightDecay))) bad('weightDecay', 'must be 0 or more');
  if (!(s.gradClip >= 0 && Number.isFinite(s.gradClip))) bad('gradClip', 'must be 0 (off) or more');
  for (const k of ['evalInterval', 'saveInterval'] as const) if (!(Number.isSafeInteger(s[k]) && s[k] >= 0)) bad(k, 'must be a whole number of steps, 0 (off) or more');
  if (s.time !== undefined && !timeWorks(s.time)) bad('time', TIME_RULE);
  if (s.sampledSoftmax !== undefined && !(Number.isSafeInteger(s.sampledSoftmax) && s.sampledSoftmax >= 0)) bad('sampledSoftmax', 'must be a whole number of tokens, 0 (off) or more');
  checkSpeakers(s);
}

/**
 * Batch x block must fit the adapter: the largest activation of a step is the MLP's [B*T, 4C]
 * (one GPUBuffer), and on a CPU adapter all of a step's activations (at least 16 floats per
 * token per layer, kept for the backward) live in host memory beside `copies` copies of the weights.
 */
function checkBatchFits(s: RunSettings, c: GPT2Config, d: DeviceLimits, copies: number): void {
  const C = c.n_embd, T = s.blockSize;
  const perSeq = T * 4 * C * 4;
  const perToken = 16 * C * c.n_layer * 4;
  const weights = 4 * copies * (c.vocab_size + c.n_positions + 12 * c.n_layer * C) * C;
  const fitBuffer = Math.floor(d.maxBufferSize / perSeq);
  const fitMemory = d.isCpu ? Math.floor((d.memoryBytes - weights) / (T * perToken)) : Infinity;
  const fit = Math.min(fitBuffer, fitMemory);
  if (s.batchSize <= fit) return;
  const what = `--batch-size ${s.batchSize} x --block-size ${T}`;
  const why = s.batchSize > fitBuffer
    ? `needs an activation buffer of ${gigabytes(s.batchSize * perSeq)} [${s.batchSize * T}, ${4 * C}], over this adapter's ${gigabytes(d.maxBufferSize)} buffer limit`
    : `needs at least ${gigabytes(s.batchSize * T * perToken + weights)} of memory for one step, more than this machine's ${gigabytes(d.memoryBytes)}`;
  throw new UserError(`${what} ${why}: lower --batch-size to ${Math.max(1, fit)} or less${fit < 1 ? ' and --block-size' : ''} (--grad-accum keeps the tokens per step)`);
}

/**
 * Refuses data that cannot train (no target tokens at all, a window longer than the data,
 * token ids outside the vocabulary) and a --val-data file with nothing to score; returns the
 * validation set, or null when a held-out part of --data has no target tokens to score.
 * `cliFlags`: the caller takes --bot and --mask (train.js), so the advice may name them (the page has none).
 */
export function checkData(data: { train: TokenDataset; val: TokenDataset }, o: RunSettings, config: GPT2Config, { cliFlags = false }: { cliFlags?: boolean } = {}): TokenDataset | null {
  const T = o.blockSize;
  const dataFlag = dataFlags(o.data);
  if (data.train.tokens.length < T + 1) throw new UserError(`${dataFlag}: not enough tokens for one ${T}-token window`);
  const sources = [[data.train, dataFlag], [data.val, o.valData ? `--val-data ${o.valData}` : dataFlag]] as const;
  for (const [ds, flag] of sources) {
    for (let i = 0; i < ds.tokens.length; i++) {
      if (ds.tokens[i] >= config.vocab_size) {
        // only a .bin can hold one (chat text is tokenized here): written with another tokenizer, or not a token file
        throw new UserError(`${flag}: token id ${ds.tokens[i]} is outside the model's vocabulary (${config.vocab_size}): a .bin must hold GPT-2 token ids, as nanoGPT's prepare.py writes them with tiktoken's "gpt2" encoding`);
      }
    }
  }
  const fix = cliFlags ? `add "${o.bot}:" lines, check --bot, or pass --mask none to ${o.valData ? 'score' : 'train on'} every token` : `add "${o.bot}:" lines, each with a reply to learn`;
  if (!hasTargets(data.train)) throw new UserError(`${dataFlag}: no ${o.bot} replies to learn from (the loss covers only "${o.bot}:" turns); ${fix}`);
  const val = data.val.stats.windows > 0 && hasTargets(data.val) ? data.val : null;
  if (o.valData && !val) throw new UserError(`--val-data ${o.valData}: no ${o.bot} replies to score (the loss covers only "${o.bot}:" turns); ${fix}`);
  return val;
}

/** a token the loss covers, as a target of some window (window i's targets are tokens i*T+1 .. i*T+T) */
function hasTargets(ds: TokenDataset): boolean {
  const end = ds.stats.windows * ds.blockSize + 1;
  for (let i = 1; i < end; i++) if (ds.mask[i]) return true;
  return false;
}

/**
 * train_state.json as written by savedRunState, or by earlier versions (their schedule fields
 * sat at the top level and their options were a subset). A UserError names what is wrong.
 */
export function parseSavedRun(state: unknown, where: string): SavedRun {
  if (typeof state !== 'object' || state === null || Array.isArray(state)) throw new UserError(`${where}: not a JSON object (got ${JSON.stringify(state)})`);
  const j = state as Record<string, any>;
  if (!(Number.isSafeInteger(j.step) && j.step >= 0)) throw new UserError(`${where}: field 'step' must be a whole number, 0 or more, got ${JSON.stringify(j.step)}`);
  // train.js before 2026-11-25 kept only these, at the top level, and no 'options'
  const early = (['steps', 'lr', 'minLr', 'warmup', 'batchSize'] as const).filter((k) => typeof j[k] === 'number');
  const o = j.options ?? (early.length ? {} : undefined);
  // without any --resume would go on with defaults (another data file, schedule, no LoRA) as if they were the run's
  if (o === undefined) {
    throw new UserError(`${where}: no 'options' (hand-edited, or not written by train.js), so the run's settings (data, batch and block size, schedule, LoRA) are unknown and --resume cannot continue it; start a new run from its weights with --init DIR --out NEW`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new UserError(`${where}: field 'options' is not a JSON object`);
  const settings: Partial<RunSettings> = { ...o };
  // train.js before several --data files kept one path
  if (typeof o.data === 'string') settings.data = [o.data];
  for (const k of early) if (settings[k] === undefined) settings[k] = j[k];
  const note = j.options === undefined
    ? `${where} is from a train.js before 2026-11-25, which kept only ${early.map(flagName).join(', ')}: every other setting (--data, --block-size, ...) is this version's default unless given again`
    : undefined;
  const num = (v: unknown, fallback: number) => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);
  const curve = (v: unknown): [number, number][] =>
    Array.isArray(v) ? v.filter((p) => Array.isArray(p) && Number.isFinite(p[0]) && Number.isFinite(p[1])) : [];
  return {
    step: j.step, settings, adamSteps: num(j.adamSteps, j.step), elapsedMs: num(j.elapsedMs, 0),
    schedule: typeof j.schedule === 'object' && j.schedule !== null ? j.schedule : undefined,
    history: { train: curve(j.history?.train), val: curve(j.history?.val) },
    baseFingerprint: typeof j.baseFingerprint === 'string' ? j.baseFingerprint : undefined,
    dataFingerprint: typeof j.dataFingerprint === 'string' ? j.dataFingerprint : undefined,
    valDataFingerprint: typeof j.valDataFingerprint === 'string' ? j.valDataFingerprint : undefined,
    dataPosition: Number.isSafeInteger(j.dataPosition) && j.dataPosition >= 0 ? j.dataPosition : undefined,
    ...(note ? { note } : {}),
  };
}

/**
 * Where a resumed run's data order goes on: the row it had reached (also when --batch-size or
 * --grad-accum changed, so no window is skipped or repeated; rescaled to a new --block-size's
 * windows), or, `sameData` false, the start of another --data file (the next part of a split
 * one). undefined: a state that did not keep it, step * batch * accum as before.
 */
export function resumedDataPosition(saved: SavedRun, sameData: boolean, blockSize: number): number | undefined {
  if (!sameData) return 0;
  if (saved.dataPosition === undefined) return undefined;
  return Math.round((saved.dataPosition * (saved.settings.blockSize ?? blockSize)) / blockSize);
}

/** train_state.json for a checkpoint at `step` (parseSavedRun reads it back) */
export function savedRunState(s: SavedRun & { dataPosition: number }): object {
  return {
    step: s.step, adamSteps: s.adamSteps, elapsedMs: Math.round(s.elapsedMs), dataPosition: s.dataPosition, options: s.settings, schedule: s.schedule, history: s.history,
    ...(s.baseFingerprint ? { baseFingerprint: s.baseFingerprint } : {}),
    ...(s.dataFingerprint ? { dataFingerprint: s.dataFingerprint } : {}),
    ...(s.valDataFingerprint ? { valDataFingerprint: s.valDataFingerprint } : {}),
  };
}

/** seconds for the console: 42s, 1m30s, 1.5h */
export function formatDuration(s: number): string {
  const r = Math.round(s);
  if (s >= 3600) return `${(s / 3600).toFixed(1)}h`;
  if (r >= 60) return `${Math.floor(r / 60)}m${String(r % 60).padStart(2, '0')}s`;
  return `${r}s`;
}
