// node dist/train.js: fine-tune GPT-2 (or train a small one from scratch) on Human/Bot chat text.
import { closeGpu, getGpu } from './node/gpu.ts';
import { UserError } from './util/errors.ts';
import { helpText, parseFlags, type FlagSpec } from './util/args.ts';
import { RESUMED_OPTIONS, runTraining, type TrainOptions } from './trainer.ts';
import { readTrainStateJson } from './model/checkpoint.ts';
import { GPT2_124M } from './model/config.ts';

const specs: FlagSpec[] = [
  { name: 'init', type: 'string', default: 'auto', help: "gpt2 | scratch | DIR (config.json + model.safetensors); auto = gpt2 if its weights can be found or downloaded, else scratch" },
  { name: 'data', type: 'string', default: 'data/chat.txt', help: 'Human:/Bot: text file, or a nanoGPT .bin of uint16 GPT-2 token ids' },
  { name: 'out', type: 'string', default: 'out/chat', help: 'checkpoint directory (model.safetensors, config.json, optimizer state, loss.svg)' },
  { name: 'resume', type: 'boolean', help: "continue from the checkpoint in --out (weights, optimizer, step); flags not given again keep the run's values (data, schedule, lr, batch, seed, ...)" },
  { name: 'steps', type: 'int', help: 'optimizer steps (default from scratch: 250 on a CPU adapter, 2000 on a GPU; fine-tuning: 30 / 1000)' },
  { name: 'batch-size', type: 'int', help: 'sequences per micro-batch (default from scratch: 1024 tokens (CPU) or 4096 (GPU) per batch; fine-tuning: 1 on a CPU adapter, 8 on a GPU)' },
  { name: 'block-size', type: 'int', help: 'tokens per sequence; also the context of a from-scratch model (default 256 on a CPU adapter, 512 on a GPU)' },
  { name: 'grad-accum', type: 'int', default: 1, help: 'micro-batches per optimizer step' },
  { name: 'lr', type: 'number', help: 'peak learning rate (default 3e-3 from scratch, 6e-5 fine-tuning)' },
  { name: 'min-lr', type: 'number', help: 'final learning rate of the cosine schedule (default lr/10)' },
  { name: 'warmup', type: 'int', help: 'linear warmup steps (default 5% of steps)' },
  { name: 'schedule', type: 'string', default: 'cosine', choices: ['cosine', 'constant'], help: 'learning-rate schedule after warmup' },
  { name: 'weight-decay', type: 'number', default: 0.1, help: 'AdamW weight decay, applied to tensors with >= 2 dims only' },
  { name: 'beta1', type: 'number', default: 0.9, help: 'AdamW beta1' },
  { name: 'beta2', type: 'number', default: 0.95, help: 'AdamW beta2' },
  { name: 'eps', type: 'number', default: 1e-8, help: 'AdamW epsilon' },
  { name: 'grad-clip', type: 'number', default: 1.0, help: 'clip the global gradient norm to this (0 disables)' },
  { name: 'seed', type: 'int', default: 1337, help: 'seed for initialization and data order' },
  { name: 'eval-interval', type: 'int', default: 50, help: 'evaluate the validation loss every N steps (and at the end; 0 = never)' },
  { name: 'eval-steps', type: 'int', default: 8, help: 'validation batches per evaluation' },
  { name: 'save-interval', type: 'int', default: 100, help: 'also write a checkpoint every N steps (0 = only at the end)' },
  { name: 'log', type: 'string', help: 'append one JSON object per optimizer step to this file' },
  { name: 'order', type: 'string', default: 'random', choices: ['random', 'sequential'], help: 'batch order; sequential: step s row b = window s*B+b' },
  { name: 'mask', type: 'string', default: 'bot', choices: ['bot', 'none'], help: 'loss on Bot turns only (bot) or on every token (none)' },
  { name: 'human', type: 'string', default: 'Human', help: 'speaker tag of the human turns' },
  { name: 'bot', type: 'string', default: 'Bot', help: 'speaker tag of the bot turns' },
  { name: 'n-layer', type: 'int', default: 4, help: 'from-scratch model: layers' },
  { name: 'n-head', type: 'int', default: 4, help: 'from-scratch model: heads' },
  { name: 'n-embd', type: 'int', default: 128, help: 'from-scratch model: width' },
  { name: 'fast', type: 'boolean', help: "Dawn speed toggles (no robustness checks, no validation); env WEBGPU_FAST=1 does the same" },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

// A reader that goes away (`| head`, or `| tee` killed by the same Ctrl-C) must not crash the
// run with an EPIPE stack trace: training goes on without printing, and Ctrl-C still saves.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
});

async function main(): Promise<void> {
  const a = parseFlags(process.argv.slice(2), specs);
  if (a.help) {
    process.stdout.write(helpText('usage: node dist/train.js [flags]\n\nFine-tunes GPT-2 on Human:/Bot: chat text with a WebGPU engine (a GPU, or the CPU through Mesa lavapipe).', specs));
    return;
  }
  const gpu = await getGpu({ fast: a.fast ? true : undefined });
  const init = a.init as string;
  const o: TrainOptions = {
    init, data: a.data as string, out: a.out as string, resume: !!a.resume,
    steps: a.steps as number | undefined, batchSize: a['batch-size'] as number | undefined,
    blockSize: (a['block-size'] as number | undefined) ?? (gpu.isCpu ? 256 : 512), gradAccum: a['grad-accum'] as number,
    lr: a.lr as number | undefined, minLr: a['min-lr'] as number | undefined, warmup: a.warmup as number | undefined,
    schedule: a.schedule as 'cosine' | 'constant',
    weightDecay: a['weight-decay'] as number, beta1: a.beta1 as number, beta2: a.beta2 as number, eps: a.eps as number,
    gradClip: a['grad-clip'] as number, seed: a.seed as number,
    evalInterval: a['eval-interval'] as number, evalSteps: a['eval-steps'] as number, saveInterval: a['save-interval'] as number,
    log: a.log as string | undefined, order: a.order as 'random' | 'sequential', mask: a.mask as 'bot' | 'none',
    human: a.human as string, bot: a.bot as string,
    scratch: { ...GPT2_124M, n_layer: a['n-layer'] as number, n_head: a['n-head'] as number, n_embd: a['n-embd'] as number, n_positions: 0 },
  };
  if (o.resume) {
    // flags not given again keep the checkpointed run's values, so the run continues exactly
    const given = new Set(process.argv.slice(2).filter((x) => x.startsWith('--')).map((x) => x.slice(2).split('=')[0]));
    const saved = readTrainStateJson(o.out)?.state?.options ?? {};
    const flag = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    for (const k of RESUMED_OPTIONS) if (!given.has(flag(k)) && saved[k] !== undefined) (o as unknown as Record<string, unknown>)[k] = saved[k];
  }
  o.scratch.n_positions = o.blockSize; // a from-scratch model's context is what it is trained on
  for (const [k, v] of Object.entries({ steps: o.steps, 'batch-size': o.batchSize, 'block-size': o.blockSize, 'grad-accum': o.gradAccum })) {
    if (v !== undefined && !(v >= 1)) throw new UserError(`--${k} must be at least 1`);
  }
  if (o.scratch.n_embd % o.scratch.n_head) throw new UserError(`--n-embd ${o.scratch.n_embd} must be divisible by --n-head ${o.scratch.n_head}`);
  await runTraining(o, gpu);
  if (gpu.profiler) console.log(`GPU time per kernel (WEBGPU_PROFILE=1):\n${await gpu.profiler.report()}`);
}

main()
  .catch((e: unknown) => {
    const err = e as Error;
    console.error(`error: ${err instanceof UserError || !process.env.DEBUG ? err.message : err.stack}`);
    process.exitCode = 1;
  })
  .finally(() => closeGpu());
