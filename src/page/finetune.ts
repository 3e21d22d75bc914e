// Fine-tuning in the page: the loaded model trained on pasted Human:/Bot: text by train.js's
// own pieces (resolveRun's defaults and checks, chatData's split and packing with the loss on
// the Bot's turns, AdamW, the schedule and trainLoop); only where the data comes from (a text
// box) and where the checkpoint goes (a download) differ.
import { AdamW } from '../optim.ts';
import { chatData } from '../data/windows.ts';
import { checkData, defaultSteps, resolveRun, type RunSettings } from '../train/run.ts';
import { makeSchedule } from '../train/schedule.ts';
import { trainLoop, type LoopResult, type StepReport } from '../train/loop.ts';
import type { Gpu, Tensor } from '../gpu/index.ts';
import type { GPT2Config } from '../model/config.ts';
import type { GPT2 } from '../model/gpt2.ts';
import type { Speakers } from '../data/format.ts';
import { count } from '../util/words.ts';

export interface FinetuneRequest {
  text: string;
  /** unset: train.js's defaults for fine-tuning on this adapter */
  steps?: number;
  lr?: number;
  batchSize?: number;
  blockSize?: number;
  seed?: number;
}

export interface FinetuneHooks {
  /** the run's settings, once resolved (before the first step) */
  onStart(settings: RunSettings, note: string): void;
  /** the held-out loss before the first step (train.js's step 0), when there is held-out text */
  onStartVal(r: { total: number; val: number }): void;
  /** the first step begins: a Stop before this ends the run at once, after it with that step */
  onFirstStep?(): void;
  onStep(r: StepReport): void;
  stopRequested(): boolean;
}

/** A run that failed once it had started to change the weights (a NaN or blown-up loss, the GPU); `restored`: they are back to what they were before it. */
export class FinetuneFailed extends Error {
  constructor(readonly error: unknown, readonly restored: boolean) {
    super(error instanceof Error ? error.message : String(error));
  }
}

/** What a run needs of the page's in-browser engine (BrowserEngine): its GPU, its model, the tags it chats in. */
export interface FinetuneEngine {
  readonly gpu: Gpu;
  readonly model: GPT2;
  readonly config: GPT2Config;
  readonly session: { readonly opts: { readonly speakers: Speakers } };
  /** after training: what was derived from the old weights goes */
  weightsChanged(): void;
}

/** the memory train.js sizes a run against; a browser only hints at it (Chrome: navigator.deviceMemory, in GB, at most 8) */
const memoryBytes = () => ((globalThis as { navigator?: { deviceMemory?: number } }).navigator?.deviceMemory ?? 4) * 2 ** 30;

/** The settings a run with these fields would have (train.js's defaults for fine-tuning here), for the form. */
export function defaultsFor(engine: Pick<FinetuneEngine, 'gpu' | 'config'>): RunSettings {
  const gpu = engine.gpu;
  return resolveRun({ data: 'the training text' }, { source: 'pretrained', config: engine.config }, { isCpu: gpu.isCpu, maxBufferSize: gpu.limits.maxBufferSize, memoryBytes: 2 ** 40 }).settings;
}

/** Train `engine`'s model in place; the final weights come back for the download (null: stopped before the first step, nothing trained). */
export async function finetune(engine: FinetuneEngine, req: FinetuneRequest, hooks: FinetuneHooks): Promise<{ result: LoopResult; params: Map<string, Float32Array> | null }> {
  const { gpu, model, config } = engine;
  const run = resolveRun(
    // the tags the model is prompted with (serve.js's X-Model-Speakers), so that it learns to answer after the cue the chat gives it
    { data: 'the training text', steps: req.steps, lr: req.lr, batchSize: req.batchSize, blockSize: req.blockSize, seed: req.seed, saveInterval: 0, human: engine.session.opts.speakers.human, bot: engine.session.opts.speakers.bot },
    { source: 'pretrained', config },
    // and a fifth copy of the weights: `before` below
    { isCpu: gpu.isCpu, maxBufferSize: gpu.limits.maxBufferSize, memoryBytes: memoryBytes(), keptCopies: 1 },
  );
  const o = run.settings;
  const data = await chatData(req.text, { blockSize: o.blockSize, speakers: { human: o.human, bot: o.bot }, mask: o.mask }, 'the training text');
  const val = checkData(data, o, config); // the page has no --bot or --mask to suggest
  hooks.onStart(o, `${count(data.stats.conversations, 'conversation')}, ${count(data.train.stats.windows, 'training window')} of ${o.blockSize} tokens${val ? `, ${data.val.stats.conversations} held out` : ''}`);
  const schedule = makeSchedule(o, { startStep: 0, priorSteps: defaultSteps(false, gpu.isCpu) }, { now: performance.now(), deadline: Infinity });
  let params: Map<string, Float32Array> | null = null;
  // the weights as the run found them: a run that fails (a loss gone to NaN or blown up leaves them useless) puts them back, so the chat goes on as before
  const before = new Map<string, Tensor>();
  let opt: AdamW | null = null;
  // one finally for every copy the run makes: any of them may be the one that runs out of GPU memory
  try {
    for (const [name, t] of model.trainable) {
      const copy = gpu.tensor(t.shape, `${t.label} before the run`, t.dtype);
      gpu.copy(t, copy);
      before.set(name, copy);
    }
    opt = new AdamW(gpu, model.trainable, { beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay, gradClip: o.gradClip });
    try {
      const result = await trainLoop({ model, opt, train: data.train, val, settings: o, schedule, startStep: 0, history: { train: [], val: [] }, now: () => performance.now() }, {
        onStartVal: hooks.onStartVal,
        onFirstStep: hooks.onFirstStep,
        onStep: hooks.onStep,
        stopRequested: hooks.stopRequested,
        save: (c) => {
          params = c.params;
          return true;
        },
      });
      return { result, params };
    } catch (e) {
      let restored = false;
      try {
        for (const [name, t] of model.trainable) gpu.copy(before.get(name)!, t);
        await gpu.sync();
        restored = true;
      } catch (again) {
        console.warn(`the weights could not be put back: ${(again as Error).message}`);
      }
      throw new FinetuneFailed(e, restored);
    }
  } finally {
    for (const t of before.values()) t.release();
    // the optimizer's moments and the gradients: three more copies of the weights, not needed to chat
    opt?.release();
    for (const p of model.trainable.values()) {
      p.grad?.release();
      p.grad = null;
    }
    engine.weightsChanged();
  }
}
