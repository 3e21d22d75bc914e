// The learning rate of each step. A run of --steps N follows nanoGPT's schedule; a run with a
// --time budget lays the same schedule out over the steps that fit, re-estimated after every
// step from the measured time per step, so the cosine reaches its floor when the time is up.

export interface LrSchedule { lr: number; minLr: number; warmup: number; schedule: 'cosine' | 'constant'; steps: number }

/** nanoGPT's schedule: linear warmup, then cosine decay that reaches minLr one step after the last (or constant). */
export function learningRate(o: LrSchedule, step: number): number {
  if (step < o.warmup) return (o.lr * (step + 1)) / o.warmup;
  if (o.schedule === 'constant') return o.lr;
  const span = Math.max(1, o.steps - o.warmup);
  const ratio = Math.min(1, (step - o.warmup) / span);
  return cosine(o, ratio);
}

const cosine = (o: { lr: number; minLr: number }, ratio: number) => o.minLr + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (o.lr - o.minLr);

/** What the training loop asks of a schedule, whether the run is counted in steps or in time. */
export interface Schedule {
  /** the learning rate of `step` (0-based) */
  lr(step: number): number;
  /** `step` has finished at `now` (ms): is it the run's last? */
  finished(step: number, now: number): boolean;
  /** time the loop spent on work at the end of a run (an evaluation, a checkpoint), so the budget keeps room for it */
  noteEndWork(kind: 'eval' | 'save', ms: number): void;
  /** time of the evaluation before the first step: a measure of an evaluation's cost, but neither a step's time nor one that recurs */
  noteStartEval(ms: number): void;
  /** the steps the run will have in all (an estimate under a time budget) */
  readonly total: number;
  /** when a time budget ends (ms, the clock of `finished`'s `now`); undefined for a run counted in steps */
  readonly deadline?: number;
  /** what --resume needs to continue this schedule (train_state.json) */
  state(): Record<string, number> | undefined;
}

export class StepSchedule implements Schedule {
  constructor(private o: LrSchedule) {}
  get total(): number {
    return this.o.steps;
  }
  lr(step: number): number {
    return learningRate(this.o, step);
  }
  finished(step: number): boolean {
    return step + 1 >= this.o.steps;
  }
  noteEndWork(): void {}
  noteStartEval(): void {}
  state(): undefined {
    return undefined;
  }
}

/** a time-budget schedule's saved state (all numbers, for train_state.json) */
interface TimeState { ratio: number; warmup: number; warmupSettled: number; remaining: number }

/**
 * A --time budget. After each step, the steps that still fit are estimated as the time left
 * (less room for the final evaluation and checkpoint) over the time per step: the last ten
 * steps' training time (the session's first, which compiles the pipelines, dropped once
 * there is another) plus the evaluation and checkpoint time so far spread over the steps.
 * The warmup is 5% of the estimated total (or --warmup steps; estimated from the second
 * measured step on) and is settled once it ends; its lr never goes back down. The cosine's progress (ratio, 0 -> 1) then
 * advances by (1 - ratio) / (steps left) per step: continuous whatever the estimate does, and
 * exactly learningRate's ratio when the estimate is exact.
 */
export class TimeSchedule implements Schedule {
  private ratio = 0;
  private warmup: number;
  private warmupSettled: boolean;
  /** steps that fit from the next one on (counting it) */
  private remaining: number;
  /** training time of the session's recent steps (ms), the first one dropped once there are others */
  private recent: number[] = [];
  private lastEnd: number;
  /** evaluation and checkpoint time: since the last step, and in all this session */
  private overheadPending = 0;
  private overheadTotal = 0;
  private stepsMeasured = 0;
  private endWork = { eval: 0, save: 0 };
  /** the evaluation before the first step (ms): what one costs until one between steps is measured */
  private startEval = 0;
  readonly deadline: number;
  private evals: { interval: number; steps: number } | null;

  constructor(
    private o: { lr: number; minLr: number; warmup?: number; schedule: 'cosine' | 'constant' },
    at: {
      /** ms on the clock of `finished`'s `now`: when the budget ends, and when this session began */
      deadline: number;
      start: number;
      startStep: number;
      /** a guess at the run's length before anything is measured (the default --steps) */
      priorSteps: number;
      /** evaluations: every `interval` steps, each costing about `steps` training steps (until one is measured) */
      evals?: { interval: number; steps: number };
      saved?: Record<string, number>;
    },
  ) {
    const s = at.saved as Partial<TimeState> | undefined;
    this.deadline = at.deadline;
    this.evals = at.evals && at.evals.interval > 0 ? at.evals : null;
    this.ratio = s?.ratio ?? 0;
    this.remaining = Math.max(1, s?.remaining ?? at.priorSteps - at.startStep);
    this.warmupSettled = o.warmup !== undefined || !!s?.warmupSettled;
    this.warmup = o.warmup ?? s?.warmup ?? Math.max(1, Math.ceil(0.05 * (at.startStep + this.remaining)));
    this.lastStep = at.startStep + this.remaining - 1;
    this.lastEnd = at.start;
  }

  private lastStep: number;
  /** the last warmup step's lr: a longer estimate lengthens the warmup, but the lr does not go back down */
  private warmupLr = 0;
  get total(): number {
    return this.lastStep + 1;
  }

  lr(step: number): number {
    this.lastStep = step + this.remaining - 1;
    // the first measured step compiles the pipelines: its estimate does not decide the warmup
    if (!this.warmupSettled && this.stepsMeasured >= 2) {
      this.warmup = Math.max(1, Math.ceil(0.05 * (step + this.remaining)));
      if (step >= this.warmup) this.warmupSettled = true;
    }
    if (step < this.warmup) return (this.warmupLr = Math.min(this.o.lr, Math.max(this.warmupLr, (this.o.lr * (step + 1)) / this.warmup)));
    if (this.o.schedule === 'constant') return this.o.lr;
    return cosine(this.o, this.ratio);
  }

  finished(step: number, now: number): boolean {
    // time per step: the recent steps' training time (it can change: other work on the machine,
    // longer windows) plus this session's evaluation and checkpoint time spread over its steps
    this.recent.push(now - this.lastEnd - this.overheadPending);
    if (this.stepsMeasured === 1 && this.recent.length === 2) this.recent.shift(); // pipelines compiled in the first
    if (this.recent.length > 10) this.recent.shift();
    this.overheadTotal += this.overheadPending;
    this.overheadPending = 0;
    this.lastEnd = now;
    this.stepsMeasured++;
    const train = this.recent.reduce((a, b) => a + b, 0) / this.recent.length;
    // an evaluation not yet measured: guessed from the training time
    const evalMs = this.evals ? this.endWork.eval || this.startEval || train * this.evals.steps : 0;
    const unmeasured = this.evals && !this.endWork.eval ? evalMs / this.evals.interval : 0;
    const msPerStep = train + this.overheadTotal / this.stepsMeasured + unmeasured;
    const room = this.deadline - now - evalMs - this.endWork.save;
    this.remaining = Math.floor(room / Math.max(msPerStep, 1e-3));
    // the rest of the cosine spread over this step and the ones that still fit (the newest estimate)
    if (step >= this.warmup) this.ratio += (1 - this.ratio) / Math.max(1, this.remaining + 1);
    this.lastStep = step + Math.max(0, this.remaining);
    return this.remaining < 1;
  }

  noteEndWork(kind: 'eval' | 'save', ms: number): void {
    this.endWork[kind] = ms;
    this.overheadPending += ms;
  }

  noteStartEval(ms: number): void {
    this.startEval = ms; // room for the last evaluation, and the cost of those to come
    this.lastEnd += ms; // not part of the first step's time
  }

  state(): Record<string, number> {
    const s: TimeState = { ratio: this.ratio, warmup: this.warmup, warmupSettled: this.warmupSettled ? 1 : 0, remaining: Math.max(1, this.remaining) };
    return { ...s };
  }
}

/**
 * The schedule of a run: by steps, or by a time budget ending at `deadline` (ms, clock of `now`).
 * A run counted in steps and continued under --time carries its place in the cosine over.
 */
export function makeSchedule(
  o: { steps?: number; lr: number; minLr: number; warmup?: number; schedule: 'cosine' | 'constant'; evalInterval: number; evalSteps: number; gradAccum: number },
  at: { startStep: number; saved?: Record<string, number>; savedSteps?: number; priorSteps: number },
  clock?: { now: number; deadline: number },
): Schedule {
  if (o.steps !== undefined) return new StepSchedule({ ...o, steps: o.steps, warmup: o.warmup ?? Math.ceil(0.05 * o.steps) });
  if (!clock) throw new Error('makeSchedule: a time budget needs a clock');
  let saved = at.saved;
  if (!saved && at.startStep > 0 && at.savedSteps !== undefined && o.warmup !== undefined) {
    const W = o.warmup, N = at.savedSteps;
    saved = { ratio: Math.min(1, Math.max(0, (at.startStep - W) / Math.max(1, N - W))), warmup: W, warmupSettled: 1 };
  }
  // a forward pass costs about a third of a training step's forward and backward
  const evals = { interval: o.evalInterval, steps: o.evalSteps / (3 * o.gradAccum) };
  return new TimeSchedule(o, { deadline: clock.deadline, start: clock.now, startStep: at.startStep, priorSteps: at.priorSteps, evals, saved });
}
