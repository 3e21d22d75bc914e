// Continuous batching: requests wait in a queue for a free slot of the batched generator, are
// prefilled into it (a chunk at a time, between decode steps, so a long prompt does not stall
// the others for long), then decode together: one batched forward per step gives every active
// sequence its next token, and each sequence's ReplyState (src/chat/reply.ts) samples it,
// applies its penalties and stop strings, and says when it is done. A finished or cancelled
// sequence leaves at the next step boundary and its slot takes the next request.
// Host-neutral: no node:* imports.
import type { BatchGenerator } from '../model/generator.ts';
import { ReplyState, type ReplyEnd, type ReplyOptions } from '../chat/reply.ts';

export interface JobEvents {
  /** printable text of the reply, as it comes */
  onText(text: string): void;
  /** the reply is over (reason 'abort': cancelled, or the server stopping); text is all of it */
  onEnd(end: { reason: ReplyEnd; text: string; completionTokens: number }): void;
  /** the model failed (a GPU error); the reply is over */
  onError(e: Error): void;
}

export interface Job {
  prompt: number[];
  reply: ReplyOptions;
  events: JobEvents;
}

export interface Ticket {
  /** end the job at the next step boundary (its onEnd reports 'abort'); nothing more is emitted */
  cancel(): void;
}

export interface SchedulerOptions {
  /** requests allowed to wait for a slot; submit refuses more */
  maxQueue: number;
  /** prompt tokens prefilled per scheduler step (default 64) */
  prefillChunk?: number;
  /** after every decode step: how many sequences it decoded and how long it took (benchmarks) */
  onStep?: (batch: number, ms: number) => void;
}

interface Entry {
  job: Job;
  cancelled: boolean;
  slot: number;
  state: ReplyState | null;
  /** prompt tokens already in the slot's cache */
  prefilled: number;
  /** the sampled token to feed back next step, or null while prefilling */
  next: number | null;
}

export class Scheduler {
  private queue: Entry[] = [];
  private running: Entry[] = [];
  private free: number[];
  private loop: Promise<void> | null = null;
  private idleWaiters: (() => void)[] = [];
  /** decode steps and the tokens they produced, since the start */
  steps = 0;
  decoded = 0;

  constructor(readonly gen: BatchGenerator, readonly opts: SchedulerOptions) {
    this.free = Array.from({ length: gen.slots }, (_, i) => i);
  }

  get active(): number {
    return this.running.length;
  }
  get queued(): number {
    return this.queue.length;
  }

  /** Queue a job; null when more than maxQueue jobs would wait for a slot. */
  submit(job: Job): Ticket | null {
    if (this.queue.length >= this.opts.maxQueue + this.free.length) return null;
    if (job.prompt.length === 0 || job.prompt.length >= this.gen.contextLength) throw new Error(`scheduler: a prompt of ${job.prompt.length} tokens for a context of ${this.gen.contextLength}`);
    const e: Entry = { job, cancelled: false, slot: -1, state: null, prefilled: 0, next: null };
    this.queue.push(e);
    this.loop ??= Promise.resolve().then(() => this.run()); // the caller gets its ticket first
    return { cancel: () => { e.cancelled = true; } };
  }

  /** End every job: queued ones now, running ones at the next step boundary (all with 'abort'). */
  cancelAll(): void {
    for (const e of [...this.queue, ...this.running]) e.cancelled = true;
    this.reap();
  }

  /** Resolves when no job is running or waiting. */
  idle(): Promise<void> {
    return this.loop ? new Promise((r) => this.idleWaiters.push(r)) : Promise.resolve();
  }

  private async run(): Promise<void> {
    try {
      while (this.running.length || this.queue.length) {
        this.reap();
        this.admit();
        if (!this.running.length) continue;
        try {
          await this.prefillStep();
          await this.decodeStep();
        } catch (err) {
          // the model failed: every running job ends with the error; the queued ones still get their turn
          for (const e of [...this.running]) this.finish(e, () => e.job.events.onError(err as Error));
        }
      }
    } finally {
      this.loop = null;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /** cancelled jobs leave: queued ones at once, running ones free their slot */
  private reap(): void {
    this.queue = this.queue.filter((e) => {
      if (e.cancelled) call(e, () => e.job.events.onEnd({ reason: 'abort', text: '', completionTokens: 0 }), true);
      return !e.cancelled;
    });
    for (const e of this.running.filter((x) => x.cancelled)) {
      const state = e.state!;
      state.end('abort');
      this.finish(e, () => e.job.events.onEnd({ reason: 'abort', text: state.text, completionTokens: state.tokens.length }));
    }
  }

  private admit(): void {
    while (this.free.length && this.queue.length) {
      const e = this.queue.shift()!;
      e.slot = this.free.shift()!;
      this.gen.truncate(e.slot, 0);
      e.state = new ReplyState(e.job.reply, this.gen.contextLength - e.job.prompt.length);
      this.running.push(e);
    }
  }

  /** one chunk of the first prompt still being prefilled; when it completes, its first token is sampled */
  private async prefillStep(): Promise<void> {
    const e = this.running.find((x) => x.prefilled < x.job.prompt.length && !x.cancelled);
    if (!e) return;
    const chunk = e.job.prompt.slice(e.prefilled, e.prefilled + (this.opts.prefillChunk ?? 64));
    const logits = await this.gen.prefill(e.slot, chunk);
    e.prefilled += chunk.length;
    if (e.prefilled === e.job.prompt.length && !e.cancelled) this.advance(e, logits);
  }

  /** one batched forward for every sequence with a token to feed back */
  private async decodeStep(): Promise<void> {
    const ready = this.running.filter((e) => e.next !== null && !e.cancelled);
    if (!ready.length) return;
    const t0 = performance.now();
    const logits = await this.gen.decode(ready.map((e) => ({ slot: e.slot, token: e.next! })));
    this.steps++;
    this.decoded += ready.length;
    this.opts.onStep?.(ready.length, performance.now() - t0);
    ready.forEach((e, i) => {
      if (!e.cancelled) this.advance(e, logits[i]);
    });
  }

  /** sample from the logits of e's next position: emit its text, finish it or queue its token */
  private advance(e: Entry, logits: Float32Array): void {
    const state = e.state!;
    const step = state.next(logits);
    if (step.text) call(e, () => e.job.events.onText(step.text));
    e.next = step.token;
    if (step.token === null) this.finish(e, () => e.job.events.onEnd({ reason: state.reason!, text: state.text, completionTokens: state.tokens.length }));
  }

  private finish(e: Entry, report: () => void): void {
    this.running = this.running.filter((x) => x !== e);
    this.gen.truncate(e.slot, 0);
    this.free.push(e.slot);
    e.cancelled = true; // emits nothing more
    call(e, report, true);
  }
}

/** a job's callback; one that throws (a broken connection) cancels that job and disturbs no other */
function call(e: Entry, f: () => void, last = false): void {
  if (e.cancelled && !last) return;
  try {
    f();
  } catch {
    e.cancelled = true;
  }
}
