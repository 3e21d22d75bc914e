// The training loop, as nanoGPT's train.py: step, evaluate now and then, log, checkpoint, stop.
// Whatever touches the outside world (the console, files, signals, a browser page's buttons)
// comes in through Hooks, so the Node CLI and a web page drive the same loop.
import type { GPT2 } from '../model/gpt2.ts';
import type { AdamW } from '../optim.ts';
import type { TokenDataset } from '../data/windows.ts';
import { UserError } from '../util/errors.ts';
import { countNonFinite } from '../util/finite.ts';
import type { RunSettings } from './run.ts';
import type { Schedule } from './schedule.ts';
import { evaluate, stepBatches, trainStep } from './step.ts';
import { mixSeed } from '../ops/dropout.ts';
import type { SampledSoftmax } from '../model/output_vocab.ts';

export interface StepReport {
  /** 1-based: steps done so far in the run */
  step: number;
  /** the steps the run will have (an estimate under a time budget) */
  total: number;
  loss: number;
  gradNorm: number;
  lr: number;
  /** false: the batch had no target tokens and was skipped */
  learned: boolean;
  val?: number;
  /** this step's training time */
  ms: number;
  /** training throughput so far: tokens over training time (evaluation and checkpoints left out) */
  tokensPerSec: number;
  /** estimated wall time to the end, evaluation and checkpoints included */
  etaSec: number;
}

/** everything a checkpoint holds, read back from the GPU */
export interface Checkpoint {
  step: number;
  /** what the run trains: every weight, or a LoRA adapter's A and B (the base stays as it was loaded) */
  params: Map<string, Float32Array>;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
  /** AdamW updates so far (the bias correction's step) */
  adamSteps: number;
  /** the loss curves of the whole run, for loss.svg and --resume */
  history: { train: [number, number][]; val: [number, number][] };
  /** the time-budget schedule's state */
  schedule?: Record<string, number>;
  /** rows of the data order trained so far: where the next step starts */
  dataPosition: number;
}

export interface Hooks {
  /** after every step */
  onStep(r: StepReport): void;
  /** a new run's validation loss before its first step, the baseline its later ones compare with (as nanoGPT's "step 0"); given, the loop evaluates it */
  onStartVal?(r: { total: number; val: number }): void;
  /** the first step begins (after that evaluation): from here a stop request finishes a step and saves */
  onFirstStep?(): void;
  /** write `c` durably; return false when it could not be written and training should go on (a full disk, to retry at the next save) */
  save(c: Checkpoint, why: 'interval' | 'stop' | 'end'): boolean | Promise<boolean>;
  /** the user asked to stop (Ctrl-C, SIGTERM, a Stop button): the loop saves and returns after the current step; before the first step (during the step-0 evaluation too) it returns at once, nothing trained or saved */
  stopRequested(): boolean;
}

export interface LoopState {
  model: GPT2;
  opt: AdamW;
  train: TokenDataset;
  /** null: no held-out target tokens, no evaluation */
  val: TokenDataset | null;
  settings: RunSettings;
  schedule: Schedule;
  startStep: number;
  /** the element of the data order startStep begins at: where the run stopped (it may have had another batch shape), 0 on another --data; default startStep * batch * accum */
  dataStart?: number;
  /** loss curves of the run's earlier sessions */
  history: { train: [number, number][]; val: [number, number][] };
  /** stop as a signal would after this step (tests) */
  stopAfter?: number;
  /** the clock, in ms (tests run a --time budget on a fake one) */
  now: () => number;
  /** --sampled-softmax: each step's loss over the data's tokens plus drawn others (validation stays exact); null = the whole vocabulary */
  softmax?: SampledSoftmax | null;
}

export interface LoopResult {
  /** the loss of every step that learned, this session */
  losses: number[];
  valLosses: [number, number][];
  /** the run's step count when the loop returned */
  step: number;
  stepsRun: number;
  skipped: number;
  interrupted: boolean;
  /** ms spent in training steps, evaluation and checkpoints */
  trainMs: number;
  evalMs: number;
  saveMs: number;
  /** tokens of the steps that learned */
  tokens: number;
}

export async function trainLoop(s: LoopState, hooks: Hooks): Promise<LoopResult> {
  const { model, opt, settings: o, schedule } = s;
  const B = o.batchSize, T = o.blockSize;
  const tokensPerStep = B * T * o.gradAccum;
  const r: LoopResult = { losses: [], valLosses: [], step: s.startStep, stepsRun: 0, skipped: 0, interrupted: false, trainMs: 0, evalMs: 0, saveMs: 0, tokens: 0 };
  const history = { train: [...s.history.train], val: [...s.history.val] };
  let lastSaved: number | null = s.startStep > 0 ? s.startStep : null;
  let t0 = s.now();
  const rowsPerStep = B * o.gradAccum;
  const position = (step: number) => (s.dataStart ?? s.startStep * rowsPerStep) + (step - s.startStep) * rowsPerStep;

  // the run's first loss (earlier sessions' too, from the history --resume restores) and its last BLOWUP_STEPS: what blownUp reads
  const runLosses = () => {
    const h = history.train;
    return h.length ? [h[0][1], ...h.slice(Math.max(1, h.length - BLOWUP_STEPS)).map(([, l]) => l)] : [];
  };

  const checkpoint = async (step: number, why: 'interval' | 'stop' | 'end') => {
    // a loss that blew up but stayed finite leaves weights worse than none: never written, as NaN ones
    // are not. An interval save is skipped (the last good checkpoint stays; the run may recover, and
    // the check after each step ends it if not); the run's end or a stop ends it without saving.
    const blown = blownUp(runLosses(), model.config.vocab_size, 'at a save');
    if (blown && why === 'interval') return;
    if (blown) throw diverged(step, blown, lastSaved, o);
    const ts = s.now();
    const c = await readCheckpoint(model, opt, step, position(step), { train: history.train, val: history.val }, schedule.state());
    const bad = [...c.params].find(([, a]) => countNonFinite(a) > 0);
    if (bad) throw diverged(step, `weights '${bad[0]}' are not finite`, lastSaved, o);
    if (await hooks.save(c, why)) lastSaved = step;
    const ms = s.now() - ts;
    r.saveMs += ms;
    schedule.noteEndWork('save', ms);
  };

  // the validation loss after `step` steps, kept in the curves; its time is the schedule's evaluation time, not a step's
  const validate = async (step: number, stop?: () => boolean): Promise<number | undefined> => {
    const te = s.now();
    model.outputVocab = null; // the validation loss is the whole vocabulary's, comparable between runs
    const val = (await evaluate(model, s.val!, o.evalSteps, B, T, stop)) ?? undefined;
    const ems = s.now() - te;
    r.evalMs += ems;
    if (r.stepsRun === 0) schedule.noteStartEval(ems);
    else schedule.noteEndWork('eval', ems);
    if (val !== undefined) {
      r.valLosses.push([step, val]);
      history.val.push([step, val]);
    }
    return val;
  };

  const out = model.gpu.tensor([tokensPerStep + 1], 'step losses + grad norm^2');
  opt.zeroGrad();
  try {
    if (hooks.onStartVal && s.startStep === 0 && s.val && o.evalInterval > 0) {
      const val = await validate(0, hooks.stopRequested); // a stop during it is not kept waiting for the rest
      if (val !== undefined) hooks.onStartVal({ total: schedule.total, val });
      t0 = s.now(); // the ETA's time per step: this evaluation does not recur
    }
    // no step to finish (train.js's signal handler exits by itself before this; the page's Stop comes here)
    if (hooks.stopRequested()) {
      r.interrupted = true;
      return r;
    }
    hooks.onFirstStep?.();
    for (let step = s.startStep; ; step++) {
      const ts = s.now();
      const lr = schedule.lr(step);
      model.outputVocab = s.softmax?.forStep(step) ?? null;
      const { loss, gradNorm, targets } = await trainStep(model, opt, stepBatches(s.train, position(step), o), B, T, lr, out, mixSeed(o.seed, step));
      const ms = s.now() - ts;
      r.trainMs += ms;
      r.stepsRun++;
      r.step = step + 1;
      const learned = targets > 0;
      if (learned) {
        r.tokens += tokensPerStep;
        r.losses.push(loss);
        if (Number.isFinite(loss)) history.train.push([step + 1, loss]);
      } else r.skipped++;
      const last = schedule.finished(step, s.now());
      let val: number | undefined;
      if (s.val && o.evalInterval > 0 && ((step + 1) % o.evalInterval === 0 || last)) val = await validate(step + 1);
      const wallPerStep = (s.now() - t0) / r.stepsRun;
      hooks.onStep({
        step: step + 1, total: schedule.total, loss, gradNorm, lr, learned, val, ms,
        tokensPerSec: (r.tokens * 1000) / r.trainMs, etaSec: etaSeconds(wallPerStep, schedule.total - step - 1, (schedule.deadline ?? Infinity) - s.now()),
      });
      if (!Number.isFinite(loss) || !Number.isFinite(gradNorm) || (val !== undefined && !Number.isFinite(val))) {
        throw diverged(step + 1, `the loss is ${loss}${val !== undefined ? ` (validation ${val})` : ''} and the gradient norm ${gradNorm}`, lastSaved, o);
      }
      const blown = learned ? blownUp(runLosses(), model.config.vocab_size) : null;
      if (blown) throw diverged(step + 1, blown, lastSaved, o);
      if (last) {
        await checkpoint(step + 1, 'end');
        return r;
      }
      if (hooks.stopRequested() || (s.stopAfter !== undefined && step + 1 >= s.stopAfter)) {
        r.interrupted = true;
        await checkpoint(step + 1, 'stop');
        return r;
      }
      if (o.saveInterval > 0 && (step + 1) % o.saveInterval === 0) await checkpoint(step + 1, 'interval');
    }
  } finally {
    model.outputVocab = null;
    out.release();
  }
}

/** The trained tensors and AdamW moments back on the CPU, with what --resume needs beside them. */
export async function readCheckpoint(model: GPT2, opt: AdamW, step: number, dataPosition: number, history: Checkpoint['history'], schedule?: Record<string, number>): Promise<Checkpoint> {
  await model.gpu.sync();
  const params = await model.readParams(model.trainable);
  const m = new Map<string, Float32Array>(), v = new Map<string, Float32Array>();
  for (const [name, t] of opt.m) m.set(name, await t.read());
  for (const [name, t] of opt.v) v.set(name, await t.read());
  return { step, params, m, v, adamSteps: opt.step, history, schedule, dataPosition };
}

/** steps the loss must stay blown up for: a spike, or a rough patch a run recovers from, is not a blow-up */
export const BLOWUP_STEPS = 10;

/**
 * Whether a run's loss blew up without going to NaN (a learning rate far too high: 10.8 to
 * 1500). `losses`: the run's first loss, the reference, then its losses since (the last
 * BLOWUP_STEPS of them are read). A loss is bad when it is worse by more than a nat than a
 * uniform guess over the vocabulary (ln V, where a model starts from scratch; a sampled softmax's
 * loss is logQ-corrected to the same scale) and than the run's first. After a step, the run has
 * blown up when each of the last BLOWUP_STEPS losses is bad (a spike or a rough patch it recovers
 * from is not); at a save, when the lower median of those (of all since the first, early on) is:
 * weights that predict worse than knowing nothing are no checkpoint to keep. Says why, or null.
 */
export function blownUp(losses: readonly number[], vocabSize: number, when: 'after a step' | 'at a save' = 'after a step'): string | null {
  const recent = losses.slice(Math.max(1, losses.length - BLOWUP_STEPS));
  if (!recent.length || (when === 'after a step' && recent.length < BLOWUP_STEPS)) return null;
  const sorted = [...recent].sort((a, b) => a - b);
  const judged = when === 'after a step' ? sorted[0] : sorted[(sorted.length - 1) >> 1];
  const uniform = Math.log(vocabSize), first = losses[0];
  if (!(judged > Math.max(uniform, first) + 1)) return null;
  const over = recent.length === 1 ? 'at the last step' : `over the last ${recent.length} steps`;
  const what = when === 'after a step' ? `at least ${judged.toFixed(2)} ${over}` : `a median of ${judged.toFixed(2)} ${over}`;
  return `the loss blew up: ${what} (the run's first step: ${first.toFixed(2)}; a uniform guess over the vocabulary: ${uniform.toFixed(2)})`;
}

/** A run that went to NaN or infinity, or whose loss blew up: nothing of it is saved. The message names train.js's flags; `step`, `what` and `lr` let another front end (the page) word it for its own fields. */
export class DivergedError extends UserError {
  constructor(message: string, readonly step: number, readonly what: string, readonly lr: number) {
    super(message);
  }
}

/** a run that went to NaN or infinity, or blew up: say where it went wrong and what to try */
function diverged(step: number, what: string, lastSaved: number | null, o: RunSettings): DivergedError {
  const kept = lastSaved === null ? 'no checkpoint was written' : `the checkpoint of step ${lastSaved} is kept`;
  const clip = o.gradClip === 0 || o.gradClip > 1 ? `, --grad-clip 1 (now ${o.gradClip})` : '';
  return new DivergedError(
    `step ${step}: ${what}; training stopped without saving it (${kept}). Try a lower --lr (now ${o.lr}), a longer --warmup (now ${o.warmup ?? 'estimated'})${clip}, or check the data`,
    step, what, o.lr,
  );
}

/** seconds to the end of a run: its steps left at the wall time per step so far, but never past a time budget's end (early steps compile, so their rate runs long) */
export const etaSeconds = (msPerStep: number, stepsLeft: number, msLeftInBudget = Infinity): number =>
  Math.max(0, Math.min(msPerStep * stepsLeft, msLeftInBudget)) / 1000;
