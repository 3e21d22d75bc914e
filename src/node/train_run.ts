// `node dist/train.js` behind the flags: starts the run (train_start.ts: weights, settings, --out),
// loads the data, and drives the training loop with Node's console, files and signals
// (Ctrl-C, SIGTERM and SIGHUP finish the step and save).
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { totalmem } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { Gpu } from '../gpu/index.ts';
import { UserError } from '../util/errors.ts';
import { SampledSoftmax } from '../model/output_vocab.ts';
import { GPT2 } from '../model/gpt2.ts';
import { sameWeights, weightsFingerprint } from './load_model.ts';
import { parameterCount, type GPT2Config } from '../model/config.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from './adapter_dir.ts';
import { loraParameterCount, type LoraSettings, type LoraSite } from '../model/lora.ts';
import { AdamW } from '../optim.ts';
import { loadChatData } from './dataset.ts';
import { formatStats } from '../data/windows.ts';
import { lossCurveSvg } from '../util/plot.ts';
import { hashFileEnds } from './fingerprint.ts';
import { count, shellWord } from '../util/words.ts';
import { deliverPendingSignals, signalExitCode, signalName, STOP_SIGNALS } from './cli.ts';
import { checkData, dataFlags, DEFAULTS, defaultSteps, formatDuration, resumedDataPosition, savedRunState, tokenFileFlagsNote, type TrainFlags } from '../train/run.ts';
import { makeSchedule } from '../train/schedule.ts';
import type { Checkpointer } from './checkpointer.ts';
import { trainLoop, type Checkpoint, type StepReport } from '../train/loop.ts';
import { startRun } from './train_start.ts';
import { StepLog } from './train_log.ts';

export interface TrainOptions extends TrainFlags {
  quiet?: boolean;
  /** stop (and checkpoint) after this step, as Ctrl-C would: for tests */
  stopAfter?: number;
}

export interface TrainResult {
  losses: number[];
  valLosses: [number, number][];
  steps: number;
  outDir: string;
  interrupted: boolean;
  /** training time per step and tokens per second of training time (evaluation and checkpoints left out) */
  msPerStep: number;
  tokensPerSec: number;
  /** wall time of the whole command, in seconds */
  wallSec: number;
  /** the learning rate of the last step */
  lastLr: number;
}


/** `now`: the clock in ms (tests give a fake one to run a --time budget deterministically) */
export async function runTraining(opts: TrainOptions, gpu: Gpu, now: () => number = () => performance.now()): Promise<TrainResult> {
  const started = now();
  const say = (s: string) => {
    if (!opts.quiet) console.log(s);
  };
  say(`adapter: ${gpu.adapterName}`);
  const shown = opts.out ?? DEFAULTS.out; // as the user wrote it, for the console
  const out = resolve(shown);
  const resumeCommand = nodeCommand('train', '--resume', ...(opts.out === undefined ? [] : ['--out', shown]));
  const device = { isCpu: gpu.isCpu, maxBufferSize: gpu.limits.maxBufferSize, memoryBytes: totalmem() };

  // One handler for the whole command. Before the first step there is nothing to finish: a signal
  // stops at once (a directory this run created goes again; a lock left in another is taken over
  // as stale). From then on it asks the loop to finish the step and save, and a second one quits.
  // (Not two handlers swapped: removing a signal's last listener closes it in libuv, and a signal
  // still queued there would be lost.)
  let training = false, stopRequested = false;
  let checkpointer: Checkpointer | null = null; // once startRun has opened --out
  let releaseLog = () => {}; // once startRun has locked --log
  const onSignal = (sig: NodeJS.Signals) => {
    if (!training) {
      checkpointer?.close();
      // a resumed run's checkpoint is untouched: "nothing saved" alone reads as if it were lost
      console.log(`\n${signalName(sig)} before the first step: nothing trained, ${opts.resume ? `the checkpoint in ${shown} stays as it was` : 'nothing saved'}`);
      process.exit(signalExitCode(sig));
    }
    if (stopRequested) {
      console.log(`quit without saving: ${checkpointer?.lastSaved == null ? 'this run saved nothing' : `the checkpoint of step ${checkpointer.lastSaved} in ${shown} stays`}`);
      process.exit(signalExitCode(sig));
    }
    stopRequested = true;
    console.log(`\n${signalName(sig)}: finishing this step and saving a checkpoint (${sig === 'SIGINT' ? 'Ctrl-C' : 'the signal'} again to quit without saving)`);
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  try {
    const { run, arrays, adapter, moments, ckpt, replacing, releaseLog: release } = await startRun(opts, out, device, say);
    checkpointer = ckpt;
    releaseLog = release;
    const dataShown = run.settings.data.join(' + '), valShown = run.settings.valData; // as given (or saved), for the console
    // paths absolute: train_state.json keeps them, and --resume may run from another directory
    const o = { ...run.settings, data: run.settings.data.map((f) => resolve(f)), valData: run.settings.valData && resolve(run.settings.valData), log: run.settings.log && resolve(run.settings.log) };
    const config = run.config, T = o.blockSize, B = o.batchSize;
    for (const n of run.notes) say(n);
    // a LoRA adapter means something only on the base it trains on: a base changed in place since the last save is said
    const baseFingerprint = o.lora ? weightsFingerprint(o.base!) ?? undefined : undefined;
    const was = run.saved?.baseFingerprint;
    if (baseFingerprint && was && !sameWeights(was, baseFingerprint)) {
      console.warn(`warning: the base model ${o.base} has changed since this adapter's last save (its weight files differ); training goes on, on the new weights`);
    }

    // ---- data ----
    const gone = run.saved && opts.data === undefined ? o.data.find((f) => !existsSync(f)) : undefined;
    if (gone) {
      // --data given replaces all of the run's files: the ones still there would go unsaid
      const others = o.data.filter((f) => f !== gone);
      const keep = others.length ? ` (with the run's other ${others.length > 1 ? 'files' : 'file'} given again: ${dataFlags(others.map(shellWord))} --data FILE)` : '';
      throw new UserError(`--resume: the run's data ${gone} (from train_state.json) is not there any more: put it back, or pass --data FILE to go on with another file${keep}`);
    }
    if (run.saved && opts.valData === undefined && o.valData && !existsSync(o.valData)) {
      throw new UserError(`--resume: the run's validation data ${o.valData} (--val-data, from train_state.json) is not there any more: put it back, pass --val-data FILE to go on with another file, or --val-data '' to hold out a tenth of --data instead`);
    }
    let shownAt = performance.now();
    const data = await loadChatData(o.data, { blockSize: T, speakers: { human: o.human, bot: o.bot }, mask: o.mask, speakerFlags: true, valData: o.valData }, (done, of) => {
      // a large file takes minutes to tokenize: say how far it is every 10 s
      if (performance.now() - shownAt < 10_000) return;
      shownAt = performance.now();
      say(`data: ${dataShown}: tokenized ${done} of ${of} conversations`);
    });
    // the part that trains (the file less its held-out part), then where validation comes from
    say(`data: training: ${dataShown}: ${formatStats(data.train.stats)}`);
    const unused = o.evalInterval > 0 ? '' : ' (unused: --eval-interval 0)';
    // a file of one conversation (a .bin of one window) has no part to hold out: say that, not that the part has no replies
    const tooSmall = !o.valData && data.val.stats.windows === 0;
    const trained = data.train.stats.conversations ? count(data.train.stats.conversations, 'conversation') : count(data.train.stats.windows, 'window');
    say(`data: validation: ${o.valData ? `${valShown} (--val-data)` : `held out of ${dataShown}`}: ${tooSmall ? `nothing (${trained}, too few to hold one out)` : formatStats(data.val.stats)}${unused}`);
    for (const n of data.notes) say(`note: ${n}`);
    const binNote = tokenFileFlagsNote(opts, o.data, o.valData);
    if (binNote) say(`note: ${binNote}`);
    // a file changed since the last save is said only for the run's own file: one given again is another file on purpose (readChatText's advice for a file over 512 MiB)
    const dataFingerprint = fingerprint(o.data, opts.data === undefined ? run.saved?.dataFingerprint : undefined,
      `${dataShown} has changed since this run's last save (its size or content differ): training goes on with the new data, at the place the run had reached in the old`);
    const valDataFingerprint = o.valData && fingerprint([o.valData], opts.valData === undefined ? run.saved?.valDataFingerprint : undefined,
      `${valShown} (--val-data) has changed since this run's last save (its size or content differ): validation goes on with the new file, so its losses and the earlier ones are not comparable`);
    const val = checkData(data, o, config, { cliFlags: true });
    if (tooSmall && o.evalInterval > 0) say('no validation data: the validation loss is skipped; pass --val-data FILE for one');
    else if (!val && o.evalInterval > 0) say(`no validation data: the held-out part of ${o.data.join(' + ')} has no ${o.mask === 'bot' ? `${o.bot} replies` : 'tokens'} to score; the validation loss is skipped`);
    const windows = data.train.stats.windows;
    const rows = B * o.gradAccum; // a step's micro-batches draw their rows one after another: together they repeat windows too
    if (B > windows && o.gradAccum === 1) say(`note: --batch-size ${B} is more than the ${count(windows, 'training window')}: every batch repeats windows (about the step of --batch-size ${windows}, at ${(B / windows).toFixed(1)}x the cost)`);
    else if (rows > windows) say(`note: --batch-size ${B} x --grad-accum ${o.gradAccum} = ${rows} rows a step, more than the ${count(windows, 'training window')}: every step repeats windows (about the step of ${count(windows, 'row')}, at ${(rows / windows).toFixed(1)}x the cost)`);

    // ---- model and optimizer (with LoRA: the adapter trains, the base is frozen) ----
    const model = GPT2.fromArrays(gpu, config, arrays, o.lora && adapter ? { settings: o.lora, arrays: adapter } : undefined, o.dtype);
    arrays.clear();
    const sampled = o.sampledSoftmax ? new SampledSoftmax([data.train.tokens, data.val.tokens], config.vocab_size, o.sampledSoftmax, o.seed) : null;
    // drawing every other token is the whole vocabulary: the plain lm_head computes it, and faster
    const softmax = sampled && sampled.perStep < sampled.otherCount ? sampled : null;
    if (softmax) say(`sampled softmax: the data's ${softmax.exact.length} tokens + ${softmax.perStep} of the other ${softmax.otherCount} each step`);
    else if (sampled) say(`sampled softmax: --sampled-softmax ${o.sampledSoftmax} covers all ${sampled.otherCount} tokens not in the data, so each step is over the whole vocabulary (as --sampled-softmax 0)`);
    const opt = new AdamW(gpu, model.trainable, { beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay, gradClip: o.gradClip });
    if (o.lora) say(`${describeLora(o.lora, model.lora!.sites, config)}${o.dtype === 'f16' ? '; base weights in f16' : ''}`);
    if (run.saved && moments) {
      for (const [name, t] of opt.m) { const a = moments.m.get(name); if (a) t.write(a); }
      for (const [name, t] of opt.v) { const a = moments.v.get(name); if (a) t.write(a); }
      opt.step = moments.m.size ? run.saved.adamSteps : 0; // fresh moments (--reset-optimizer) need bias correction from the start
      say(`resumed at step ${run.startStep}`);
    }

    // ---- the clock: a --time budget covers every session of the run, loading included ----
    const elapsedBefore = run.saved?.elapsedMs ?? 0;
    const deadline = o.time !== undefined ? started + o.time * 1000 - elapsedBefore : Infinity;
    if (now() >= deadline) {
      // not one step, however short: a run that trains nothing says so rather than saving a step past its budget
      const earlier = elapsedBefore ? ` and ${formatDuration(elapsedBefore / 1000)} by the run's earlier sessions` : '';
      throw new UserError(`--time ${formatDuration(o.time!)} was used up before the first step (${formatDuration((now() - started) / 1000)} by loading${earlier}): nothing trained; pass a longer --time (it counts loading too)`);
    }
    const schedule = makeSchedule(o, {
      startStep: run.startStep, saved: run.saved?.schedule, savedSteps: run.saved?.settings.steps,
      priorSteps: defaultSteps(run.source === 'scratch', gpu.isCpu),
    }, { now: now(), deadline });

    const log = o.log ? new StepLog(o.log, run.saved ? run.startStep : null, { replacing }) : null;
    if (log?.aside) say(`log: ${log.aside} until the first save, which moves it over ${log.path} with the checkpoint (a run killed before then leaves ${log.path} as it was; Ctrl-C saves, and so moves it)`);
    await deliverPendingSignals(); // one that came during loading stops the run here rather than after a step

    const tokensPerStep = B * T * o.gradAccum;
    const sameData = opts.data === undefined || o.data.join('\n') === (run.saved?.settings.data ?? o.data).map((f) => resolve(f)).join('\n');
    const dataStart = run.saved ? resumedDataPosition(run.saved, sameData, T) : undefined;
    const length = o.steps !== undefined ? count(o.steps - run.startStep, 'step') : `--time ${formatDuration(o.time!)} (${formatDuration(Math.max(0, (deadline - now()) / 1000))} left)`;
    say(`training: ${length} x ${B}x${T} tokens x ${o.gradAccum} accum = ${tokensPerStep} tokens/step, lr ${o.lr} (${o.schedule}), out ${shown}`);
    let lastLr = 0;
    const r = await trainLoop({ model, opt, train: data.train, val, settings: o, schedule, softmax, startStep: run.startStep, dataStart, history: run.saved?.history ?? { train: [], val: [] }, stopAfter: opts.stopAfter, now }, {
      stopRequested: () => stopRequested,
      // the baseline: on the console only, as --log holds one object per optimizer step
      onStartVal: ({ total, val }) => say(`${stepColumn(0, total, o.time !== undefined)} | val ${val.toFixed(4)}`),
      // a signal during the step-0 evaluation stops at once, as during loading: no step to finish, nothing to save
      onFirstStep: () => { training = true; },
      onStep: (s) => {
        lastLr = s.lr;
        say(progressLine(s, o.time !== undefined));
        if (log) {
          log.append({ step: s.step, ...(s.learned ? { loss: s.loss } : { skipped: 'no target tokens' }), lr: s.lr, grad_norm: s.gradNorm, tokens_per_s: s.tokensPerSec, ms: s.ms, ...(s.val !== undefined ? { val_loss: s.val } : {}) });
        }
      },
      save: (c: Checkpoint, why) => {
        const state = savedRunState({ step: c.step, settings: o, adamSteps: c.adamSteps, elapsedMs: elapsedBefore + now() - started, schedule: c.schedule, history: c.history, dataPosition: c.dataPosition, baseFingerprint, dataFingerprint, valDataFingerprint });
        try {
          const weights = model.lora ? { adapter: { settings: o.lora!, sites: model.lora.sites, base: o.base! } } : { config, speakers: { human: o.human, bot: o.bot } };
          // steps logged aside (a new run over an earlier one) replace that run's log with this save, not before
          ckpt.save(c, weights, state, lossCurveSvg(c.history.train, c.history.val, `training loss (${dataShown})`), log?.pendingMove() ?? undefined);
          log?.moved();
        } catch (e) {
          if (!(e instanceof UserError)) throw e;
          if (why === 'interval') {
            console.warn(`warning: ${e.message}; training goes on, the next save tries again`);
            return false;
          }
          // the last save: say how to go on from what is on disk
          const fix = ckpt.failure === 'ENOSPC' ? 'free some space' : ckpt.failure === 'EROFS' || ckpt.failure === 'EACCES' ? `make ${shown} writable` : 'fix the disk';
          throw new UserError(ckpt.lastSaved === null
            ? `${e.message}; ${fix}, then train again`
            : `${e.message}; ${fix}, then continue from it: ${resumeCommand}`);
        }
        if (why === 'stop') say(`saved checkpoint at step ${c.step} to ${shown}`);
        return true;
      },
    });
    return finish(r);

    function finish(r: Awaited<ReturnType<typeof trainLoop>>): TrainResult {
      const wallSec = (now() - started) / 1000;
      const learnedSteps = r.stepsRun - r.skipped;
      const res: TrainResult = {
        losses: r.losses, valLosses: r.valLosses, steps: r.step, outDir: out, interrupted: r.interrupted,
        msPerStep: r.stepsRun ? r.trainMs / r.stepsRun : 0, tokensPerSec: r.trainMs ? (r.tokens * 1000) / r.trainMs : 0, wallSec, lastLr,
      };
      const first = r.losses[0], lastL = r.losses[r.losses.length - 1];
      say(`done: ${count(r.stepsRun, 'step')} in ${formatDuration(wallSec)}; training ${formatDuration(r.trainMs / 1000)} (${res.msPerStep.toFixed(0)} ms/step, ${res.tokensPerSec.toFixed(0)} tok/s), ` +
        `evaluation ${formatDuration(r.evalMs / 1000)}, checkpoints ${formatDuration(r.saveMs / 1000)}; loss ${first?.toFixed(3)} -> ${lastL?.toFixed(3)}` +
        (r.valLosses.length ? `, val ${r.valLosses[r.valLosses.length - 1][1].toFixed(3)}` : ''));
      if (r.skipped) say(`${r.skipped} of ${r.stepsRun} steps had no target tokens (no ${o.bot} reply in their windows) and were skipped; ${learnedSteps} learned`);
      say(o.lora
        ? `checkpoint: ${shown}/${ADAPTER_WEIGHTS} + ${ADAPTER_CONFIG} (a PEFT LoRA adapter of ${o.base}); loss curve: ${shown}/loss.svg`
        : `checkpoint: ${shown}/model.safetensors + config.json (Hugging Face layout); loss curve: ${shown}/loss.svg`);
      say(`chat with it: ${nodeCommand('chat', '--init', shown)}`);
      if (r.interrupted) say(`continue the run: ${resumeCommand}`);
      return res;
    }
  } finally {
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
    checkpointer?.close();
    releaseLog();
  }
}

/** a fingerprint of the files at `paths`, one after another (fingerprint.ts); warns `changed` when one saved differs */
function fingerprint(paths: string[], saved: string | undefined, changed: string): string {
  const h = createHash('sha256');
  for (const p of paths) hashFileEnds(h, p, true);
  const now = h.digest('hex').slice(0, 16);
  if (saved && saved !== now) console.warn(`warning: ${changed}`);
  return now;
}

/** `lora: r 8, alpha 16, dropout 0, targets c_attn (12 projections): 294,912 trainable parameters (0.24% of 124.4M), the rest frozen` */
function describeLora(l: LoraSettings, sites: LoraSite[], c: GPT2Config): string {
  const n = loraParameterCount(sites, l.r);
  return `lora: r ${l.r}, alpha ${l.alpha}, dropout ${l.dropout}, targets ${l.targets.join(',')} (${count(sites.length, 'projection')}): ` +
    `${n.toLocaleString('en-US')} trainable parameters (${((100 * n) / parameterCount(c)).toFixed(2)}% of ${(parameterCount(c) / 1e6).toFixed(1)}M), the rest frozen`;
}

// `step    3/4 | loss 10.0731 | val 10.6313 | lr 1.65e-3 | norm 3.00 | 234 ms | 183 tok/s | ETA 0s`
function progressLine(s: StepReport, estimated: boolean): string {
  const loss = s.learned ? `loss ${s.loss.toFixed(4)}` : 'skipped (no target tokens)';
  return `${stepColumn(s.step, s.total, estimated)} | ${loss}${s.val !== undefined ? ` | val ${s.val.toFixed(4)}` : ''} | lr ${s.lr.toExponential(2)} | norm ${s.gradNorm.toFixed(2)} | ${s.ms.toFixed(0)} ms | ${s.tokensPerSec.toFixed(0)} tok/s | ETA ${formatDuration(s.etaSec)}`;
}

/** `step    3/4`, `~` before an estimated total; a new run's `step    0/4 | val 10.9012` starts with it too */
const stepColumn = (step: number, total: number, estimated: boolean) => `step ${String(step).padStart(5)}/${estimated ? '~' : ''}${total}`;

/** `node dist/NAME.js ARGS` as it runs from this directory: the script beside the running one, relative when it is below here */
export function nodeCommand(name: string, ...args: string[]): string {
  const script = join(dirname(resolve(process.argv[1] ?? 'dist/train.js')), `${name}.js`);
  const rel = relative(process.cwd(), script);
  return ['node', rel.startsWith('..') || isAbsolute(rel) ? script : rel, ...args].map(shellWord).join(' ');
}
