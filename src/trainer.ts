// The training loop behind `node dist/train.js`: data, model, AdamW, schedule, evaluation,
// logging, checkpoints (atomic, resumable) and a clean stop on Ctrl-C.
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Gpu } from './gpu/index.ts';
import { getGpu } from './node/gpu.ts';
import { UserError } from './util/errors.ts';
import { GPT2 } from './model/gpt2.ts';
import { loadWeights } from './model/load.ts';
import { describeConfig, type GPT2Config } from './model/config.ts';
import { saveGPT2Weights } from './model/weights.ts';
import { commitCheckpoint, loadTrainState, recoverCheckpoint, saveTrainState, stageCheckpoint } from './model/checkpoint.ts';
import { AdamW } from './optim.ts';
import { formatStats, getBatch, loadChatData, type TokenDataset } from './data/dataset.ts';
import { lossCurveSvg } from './util/plot.ts';

export interface TrainOptions {
  init: string; // 'auto' | 'gpt2' | 'scratch' | DIR
  data: string;
  out: string;
  resume: boolean;
  /** unset: from scratch 250 on a CPU adapter, 2000 on a GPU; fine-tuning 30 / 1000 */
  steps?: number;
  /** unset: see defaultBatch */
  batchSize?: number;
  blockSize: number;
  gradAccum: number;
  /** unset: 3e-3 from scratch, 6e-5 fine-tuning */
  lr?: number;
  /** unset: lr / 10 */
  minLr?: number;
  /** unset: 5% of the steps */
  warmup?: number;
  schedule: 'cosine' | 'constant';
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  gradClip: number;
  seed: number;
  evalInterval: number;
  evalSteps: number;
  log?: string;
  order: 'random' | 'sequential';
  mask: 'bot' | 'none';
  human: string;
  bot: string;
  saveInterval: number;
  /** from-scratch model size */
  scratch: GPT2Config;
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
  msPerStep: number;
  tokensPerSec: number;
}

/** nanoGPT's schedule: linear warmup, then cosine decay to minLr at the last step (or constant). */
/** options a resumed run takes from its checkpoint unless given again */
export const RESUMED_OPTIONS = [
  'data', 'blockSize', 'gradAccum', 'order', 'mask', 'schedule', 'weightDecay', 'beta1', 'beta2', 'eps', 'gradClip', 'seed', 'human', 'bot',
] as const satisfies readonly (keyof TrainOptions)[];

export interface Schedule { lr: number; minLr: number; warmup: number; schedule: 'cosine' | 'constant'; steps: number }
export function learningRate(o: Schedule, step: number): number {
  if (step < o.warmup) return (o.lr * (step + 1)) / o.warmup;
  if (o.schedule === 'constant') return o.lr;
  const span = Math.max(1, o.steps - o.warmup);
  const ratio = Math.min(1, (step - o.warmup) / span);
  return o.minLr + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (o.lr - o.minLr);
}

const fmtTime = (s: number) => (s >= 3600 ? `${(s / 3600).toFixed(1)}h` : s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(0)}s`);

const countTargets = (y: Int32Array) => y.reduce((n, t) => n + (t >= 0 ? 1 : 0), 0);
const sum = (a: Float32Array) => a.reduce((s, v) => s + v, 0);

export async function evaluate(model: GPT2, ds: TokenDataset, steps: number, B: number, T: number): Promise<number> {
  let total = 0, count = 0;
  model.tape.enabled = false;
  try {
    const n = Math.min(steps, Math.ceil(ds.stats.windows / B));
    for (let s = 0; s < n; s++) {
      const { x, y } = getBatch(ds, s, B, 'sequential', 0);
      total += sum(await model.lossPerToken(x, y, B, T, 0).read());
      count += countTargets(y);
      model.tape.clear();
    }
  } finally {
    model.tape.enabled = true;
  }
  return count ? total / count : NaN;
}

export async function runTraining(opts: TrainOptions, gpuIn?: Gpu): Promise<TrainResult> {
  const say = (s: string) => { if (!opts.quiet) console.log(s); };
  let o = opts as TrainOptions & Schedule & { batchSize: number };
  const gpu = gpuIn ?? (await getGpu());
  say(`adapter: ${gpu.adapterName}`);

  // ---- model ----
  let config: GPT2Config;
  let arrays: Map<string, Float32Array>;
  const resumeDir = o.resume ? o.out : null;
  if (resumeDir) {
    recoverCheckpoint(resumeDir); // finish (or discard) a save that a crash interrupted
    if (!existsSync(join(resumeDir, 'model.safetensors'))) throw new UserError(`--resume: no checkpoint in ${resumeDir} (expected model.safetensors there; train without --resume first)`);
    ({ config, arrays } = await loadWeights(resumeDir));
    say(`resuming from ${resumeDir}`);
  } else if (o.init === 'scratch') {
    config = o.scratch;
    arrays = GPT2.initArrays(config, o.seed);
    say(`init: from scratch, ${describeConfig(config)}`);
  } else if (o.init === 'auto') {
    try {
      ({ config, arrays } = await loadWeights('gpt2'));
      say('init: OpenAI GPT-2 124M');
    } catch (e) {
      say(`init: GPT-2 weights unavailable (${(e as Error).message.split('\n')[0]}); training the default from-scratch model instead.`);
      config = o.scratch;
      arrays = GPT2.initArrays(config, o.seed);
      say(`init: from scratch, ${describeConfig(config)}`);
    }
  } else {
    const w = await loadWeights(o.init);
    ({ config, arrays } = w);
    say(`init: ${w.source}, ${describeConfig(config)}`);
  }
  const fromScratch = !resumeDir && (o.init === 'scratch' || config === o.scratch);
  // --resume: flags left unset keep the checkpointed run's values (its steps, lr, warmup, batch)
  const saved = resumeDir ? loadTrainState(resumeDir) : null;
  // the loss curve so far, so loss.svg covers the whole run after a resume
  const history: { train: [number, number][]; val: [number, number][] } = { train: saved?.state?.history?.train ?? [], val: saved?.state?.history?.val ?? [] };
  const prev = (saved?.state ?? {}) as { step?: number; steps?: number; lr?: number; minLr?: number; warmup?: number; batchSize?: number };
  {
    // defaults sized for a few minutes on a CPU adapter (lavapipe) and a real run on a GPU
    const steps = opts.steps ?? prev.steps ?? (fromScratch ? (gpu.isCpu ? 250 : 2000) : gpu.isCpu ? 30 : 1000);
    const lr = opts.lr ?? prev.lr ?? (fromScratch ? 3e-3 : 6e-5);
    const minLr = opts.minLr ?? (opts.lr === undefined ? prev.minLr : undefined) ?? lr / 10;
    o = { ...opts, steps, lr, minLr, warmup: opts.warmup ?? prev.warmup ?? Math.ceil(0.05 * steps), batchSize: opts.batchSize ?? prev.batchSize ?? defaultBatch(fromScratch, gpu.isCpu, Math.min(opts.blockSize, config.n_positions)) };
  }
  if (resumeDir && (prev.step ?? 0) >= o.steps) {
    throw new UserError(`--resume: the checkpoint in ${resumeDir} is already at step ${prev.step}; pass a larger --steps (the total, not the number of extra steps)`);
  }
  const T = Math.min(o.blockSize, config.n_positions);
  if (T < o.blockSize) say(`block size capped at the model's context: ${T}`);
  const B = o.batchSize;

  // ---- data ----
  const data = loadChatData(o.data, { blockSize: T, speakers: { human: o.human, bot: o.bot }, mask: o.mask });
  say(`data: ${o.data}: ${formatStats(data.stats)}`);
  if (data.train.tokens.length < T + 1) throw new UserError(`--data ${o.data}: not enough tokens for one ${T}-token window`);
  for (const ds of [data.train, data.val]) {
    for (let i = 0; i < ds.tokens.length; i++) {
      if (ds.tokens[i] >= config.vocab_size) throw new UserError(`--data ${o.data}: token id ${ds.tokens[i]} is outside the model's vocabulary (${config.vocab_size})`);
    }
  }

  const model = GPT2.fromArrays(gpu, config, arrays);
  arrays.clear();
  const opt = new AdamW(gpu, model.params, { beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay, gradClip: o.gradClip });
  let startStep = 0;
  if (resumeDir) {
    if (saved) {
      for (const [name, t] of opt.m) { const a = saved.m.get(name); if (a) t.write(a); }
      for (const [name, t] of opt.v) { const a = saved.v.get(name); if (a) t.write(a); }
      startStep = saved.state.step ?? 0;
      opt.step = startStep;
    }
    say(`resumed at step ${startStep}`);
  }

  mkdirSync(o.out, { recursive: true });
  if (o.log && !resumeDir) writeFileSync(o.log, ''); // a fresh run starts a fresh log; a resumed one appends
  const losses: number[] = [];
  const valLosses: [number, number][] = [];
  let interrupted = false;
  let stopRequested = false;
  const onSig = () => {
    if (stopRequested) process.exit(130);
    stopRequested = true;
    console.log('\ninterrupt: finishing this step and saving a checkpoint (Ctrl-C again to quit without saving)');
  };
  process.on('SIGINT', onSig);

  const save = async (step: number) => {
    await gpu.sync();
    const params = await model.readParams();
    const m = new Map<string, Float32Array>(), v = new Map<string, Float32Array>();
    for (const [name, t] of opt.m) m.set(name, await t.read());
    for (const [name, t] of opt.v) v.set(name, await t.read());
    const staging = stageCheckpoint(o.out); // all files of this save, or none, replace the previous checkpoint
    const trainCurve = [...history.train, ...losses.map((l, i): [number, number] => [startStep + i + 1, l])];
    const valCurve = [...history.val, ...valLosses];
    saveGPT2Weights(staging, config, params);
    saveTrainState(staging, { m, v }, {
      step, steps: o.steps, lr: o.lr, minLr: o.minLr, warmup: o.warmup, batchSize: B, dataPosition: step * o.gradAccum * B,
      // everything else that defines the run, so --resume continues it exactly (train.js restores unset flags from here)
      options: Object.fromEntries(RESUMED_OPTIONS.map((k) => [k, k === 'blockSize' ? T : o[k]])),
      history: { train: trainCurve, val: valCurve },
    });
    writeFileSync(join(staging, 'loss.svg'), lossCurveSvg(trainCurve, valCurve, `training loss (${o.data})`));
    commitCheckpoint(o.out);
  };

  const tokensPerStep = B * T * o.gradAccum;
  say(`training: ${o.steps - startStep} steps x ${B}x${T} tokens x ${o.gradAccum} accum = ${tokensPerStep} tokens/step, lr ${o.lr} (${o.schedule}), out ${o.out}`);
  const stepOut = gpu.tensor([B * T * o.gradAccum + 1], 'step losses + grad norm^2');
  opt.zeroGrad();
  const t0 = performance.now();
  let stepsRun = 0;
  try {
    for (let step = startStep; step < o.steps; step++) {
      const ts = performance.now();
      const lr = learningRate(o, step);
      // the whole step is recorded, then read back once: per-token losses of every micro-batch and the grad norm
      let rows = 0, count = 0;
      for (let micro = 0; micro < o.gradAccum; micro++) {
        const { x, y } = getBatch(data.train, step * o.gradAccum + micro, B, o.order, o.seed);
        const n = countTargets(y);
        const perToken = model.lossPerToken(x, y, B, T, n ? 1 / (n * o.gradAccum) : 0);
        model.tape.backward();
        if (n) gpu.copy(perToken, stepOut, n, 0, rows);
        rows += n;
        count += n;
        model.tape.clear();
      }
      gpu.copy(opt.update(lr), stepOut, 1, 0, stepOut.size - 1);
      opt.zeroGrad(); // for the next step, in this step's submit
      const readBack = await stepOut.read();
      const loss = count ? sum(readBack.subarray(0, rows)) / count : NaN;
      const gradNorm = Math.sqrt(readBack[stepOut.size - 1]);
      losses.push(loss);
      stepsRun++;
      const now = performance.now();
      const stepMs = now - ts;
      const tokPerS = (tokensPerStep * stepsRun * 1000) / (now - t0);
      let val: number | undefined;
      const last = step + 1 === o.steps;
      if (o.evalInterval > 0 && ((step + 1) % o.evalInterval === 0 || last)) {
        val = await evaluate(model, data.val, o.evalSteps, B, T);
        valLosses.push([step + 1, val]);
      }
      const eta = ((now - t0) / stepsRun) * (o.steps - step - 1) / 1000;
      say(`step ${String(step + 1).padStart(5)}/${o.steps} | loss ${loss.toFixed(4)}${val !== undefined ? ` | val ${val.toFixed(4)}` : ''} | lr ${lr.toExponential(2)} | norm ${gradNorm.toFixed(2)} | ${stepMs.toFixed(0)} ms | ${tokPerS.toFixed(0)} tok/s | ETA ${fmtTime(eta)}`);
      if (o.log) appendFileSync(o.log, JSON.stringify({ step: step + 1, loss, lr, grad_norm: gradNorm, tokens_per_s: tokPerS, ms: stepMs, ...(val !== undefined ? { val_loss: val } : {}) }) + '\n');
      if (!Number.isFinite(loss)) throw new Error(`loss is ${loss} at step ${step + 1}: lower --lr or check the data`);
      if (stopRequested || (o.stopAfter !== undefined && step + 1 >= o.stopAfter && !last)) {
        interrupted = true;
        await save(step + 1);
        say(`saved checkpoint at step ${step + 1} to ${o.out}`);
        return finish(step + 1);
      }
      if (o.saveInterval > 0 && (step + 1) % o.saveInterval === 0 && !last) await save(step + 1);
    }
    await save(o.steps);
    return finish(o.steps);
  } finally {
    stepOut.release();
    process.off('SIGINT', onSig);
  }

  function finish(steps: number): TrainResult {
    const ms = performance.now() - t0;
    const res: TrainResult = {
      losses, valLosses, steps, outDir: o.out, interrupted,
      msPerStep: stepsRun ? ms / stepsRun : 0, tokensPerSec: stepsRun ? (tokensPerStep * stepsRun * 1000) / ms : 0,
    };
    const first = losses[0], lastL = losses[losses.length - 1];
    say(`done: ${stepsRun} steps in ${fmtTime(ms / 1000)} (${res.msPerStep.toFixed(0)} ms/step, ${res.tokensPerSec.toFixed(0)} tok/s); loss ${first?.toFixed(3)} -> ${lastL?.toFixed(3)}` +
      (valLosses.length ? `, val ${valLosses[valLosses.length - 1][1].toFixed(3)}` : ''));
    say(`checkpoint: ${o.out}/model.safetensors + config.json (Hugging Face layout); loss curve: ${o.out}/loss.svg`);
    say(`chat with it: node dist/chat.js --init ${o.out}`);
    return res;
  }
}

/** default sequences per batch: from scratch a fixed token budget (1024 on a CPU adapter, 4096 on a GPU); fine-tuning 124M+ is costlier per token */
export function defaultBatch(fromScratch: boolean, isCpu: boolean, T: number): number {
  if (!fromScratch) return isCpu ? 1 : 8;
  return Math.max(1, Math.round((isCpu ? 1024 : 4096) / T));
}
