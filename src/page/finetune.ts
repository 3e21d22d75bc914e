// Fine-tuning in the page: the loaded model trained on pasted Human:/Bot: text by train.js's
// own pieces (resolveRun's defaults and checks, chatData's split and packing with the loss on
// the Bot's turns, AdamW, the schedule and trainLoop); only where the data comes from (a text
// box) and where the checkpoint goes (a download) differ.
import { AdamW } from '../optim.ts';
import { chatData } from '../data/windows.ts';
import { checkData, defaultSteps, resolveRun, type RunSettings } from '../train/run.ts';
import { makeSchedule } from '../train/schedule.ts';
import { trainLoop, type LoopResult, type StepReport } from '../train/loop.ts';
import type { BrowserEngine } from './engines.ts';

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
  onStep(r: StepReport): void;
  stopRequested(): boolean;
}

/** the memory train.js sizes a run against; a browser only hints at it (Chrome: navigator.deviceMemory, in GB, at most 8) */
const memoryBytes = () => ((navigator as Navigator & { deviceMemory?: number }).deviceMemory ?? 4) * 2 ** 30;

/** The settings a run with these fields would have (train.js's defaults for fine-tuning here), for the form. */
export function defaultsFor(engine: BrowserEngine): RunSettings {
  const gpu = engine.gpu;
  return resolveRun({ data: 'the training text' }, { source: 'pretrained', config: engine.config }, { isCpu: gpu.isCpu, maxBufferSize: gpu.limits.maxBufferSize, memoryBytes: 2 ** 40 }).settings;
}

/** Train `engine`'s model in place; the final weights come back for the download. */
export async function finetune(engine: BrowserEngine, req: FinetuneRequest, hooks: FinetuneHooks): Promise<{ result: LoopResult; params: Map<string, Float32Array> }> {
  const { gpu, model, config } = engine;
  const run = resolveRun(
    { data: 'the training text', steps: req.steps, lr: req.lr, batchSize: req.batchSize, blockSize: req.blockSize, seed: req.seed, saveInterval: 0 },
    { source: 'pretrained', config },
    { isCpu: gpu.isCpu, maxBufferSize: gpu.limits.maxBufferSize, memoryBytes: memoryBytes() },
  );
  const o = run.settings;
  const data = await chatData(req.text, { blockSize: o.blockSize, speakers: { human: o.human, bot: o.bot }, mask: o.mask }, 'the training text');
  const val = checkData(data, o, config);
  hooks.onStart(o, `${data.stats.conversations} conversations, ${data.train.stats.windows} training windows of ${o.blockSize} tokens${val ? `, ${data.val.stats.conversations} held out` : ''}`);
  const opt = new AdamW(gpu, model.params, { beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay, gradClip: o.gradClip });
  const schedule = makeSchedule(o, { startStep: 0, priorSteps: defaultSteps(false, gpu.isCpu) }, { now: performance.now(), deadline: Infinity });
  let params: Map<string, Float32Array> | null = null;
  try {
    const result = await trainLoop({ model, opt, train: data.train, val, settings: o, schedule, startStep: 0, history: { train: [], val: [] }, now: () => performance.now() }, {
      onStep: hooks.onStep,
      stopRequested: hooks.stopRequested,
      save: (c) => {
        params = c.params;
        return true;
      },
    });
    return { result, params: params! };
  } finally {
    // the optimizer's moments and the gradients: three more copies of the weights, not needed to chat
    for (const t of [...opt.m.values(), ...opt.v.values()]) t.release();
    for (const p of model.params.values()) {
      p.grad?.release();
      p.grad = null;
    }
    engine.weightsChanged();
  }
}
