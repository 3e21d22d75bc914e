// node dist/train.js: fine-tune GPT-2 (or train a small one from scratch) on Human/Bot chat text.
import { closeGpu, getGpu } from './node/gpu.ts';
import { UserError } from './util/errors.ts';
import { helpText, parseFlags, type FlagSpec } from './util/args.ts';
import { carryOnWithoutStdout, reportError } from './node/cli.ts';
import { checkFlagsEarly, DEFAULTS, defaultLr, type TrainFlags } from './train/run.ts';
import { runTraining } from './node/train_run.ts';
import { saveMergedModel } from './node/merge_adapter.ts';
import { DTYPE_FLAG } from './node/load_model.ts';

const D = DEFAULTS;
const lr = (fromScratch: boolean, lora = false) => defaultLr(fromScratch, lora).toExponential();
const specs: FlagSpec[] = [
  { name: 'init', type: 'string', default: D.init, help: "gpt2 (or gpt2-medium, gpt2-large, gpt2-xl: OpenAI's, from the hub or its cache) | scratch | DIR (config.json + model.safetensors or a sharded save's shards, or a LoRA adapter directory: merged into its base); auto = gpt2 if its weights can be found or downloaded, else scratch" },
  { name: 'data', type: 'list', arg: 'FILE', default: D.data, help: 'Human:/Bot: text file, or a nanoGPT .bin of uint16 GPT-2 token ids; repeat it (--data a.txt --data b.txt) to train on several text files, read one after another as one' },
  { name: 'val-data', type: 'string', arg: 'FILE', help: "validation data of its own (chat text or .bin, read as --data is): all of --data trains and the validation loss is on FILE (default: a tenth of --data is held out for it); on --resume, '' drops the run's FILE" },
  { name: 'out', type: 'string', default: D.out, help: 'checkpoint directory (model.safetensors + config.json, or with --lora adapter_model.safetensors + adapter_config.json; optimizer state, loss.svg)' },
  { name: 'resume', type: 'boolean', help: "continue from the checkpoint in --out (weights, optimizer, step); flags not given again keep the run's values (data, val-data, schedule, lr, batch, seed, intervals, log, ...)" },
  { name: 'overwrite', type: 'boolean', help: 'start a new run even though --out holds a checkpoint or --log holds an earlier run\'s steps: both are replaced at the new run\'s first save (until then its steps go to FILE.new beside --log FILE); without it such a run is refused' },
  { name: 'reset-optimizer', type: 'boolean', help: "with --resume: go on without the saved AdamW moments (restart them from zero), e.g. when optimizer.safetensors is lost" },
  { name: 'steps', type: 'int', help: 'optimizer steps in all (default from scratch: 450 on a CPU adapter, 2000 on a GPU; fine-tuning: 30 / 1000)' },
  { name: 'time', type: 'duration', help: 'train for this long instead of a step count (90s, 10m, 1h30m): the schedule is laid out over the steps that fit' },
  { name: 'batch-size', type: 'int', help: 'sequences per micro-batch (default from scratch: 1024 tokens (CPU) or 4096 (GPU) per batch; fine-tuning: 1 on a CPU adapter, 8 on a GPU)' },
  { name: 'block-size', type: 'int', help: 'tokens per sequence; also the context of a from-scratch model (default 256 on a CPU adapter, 512 on a GPU)' },
  { name: 'grad-accum', type: 'int', default: D.gradAccum, help: 'micro-batches per optimizer step: the same step as one batch N times larger (the loss is the mean over all their target tokens), in the memory of one' },
  { name: 'lr', type: 'number', help: `peak learning rate (default ${lr(true)} from scratch, ${lr(false)} fine-tuning, ${lr(false, true)} with --lora)` },
  { name: 'min-lr', type: 'number', help: 'final learning rate of the cosine schedule (default lr/10)' },
  { name: 'warmup', type: 'int', help: 'linear warmup steps (default 5% of steps)' },
  { name: 'schedule', type: 'string', default: D.schedule, choices: ['cosine', 'constant'], help: 'learning-rate schedule after warmup' },
  { name: 'weight-decay', type: 'number', default: D.weightDecay, help: 'AdamW weight decay, applied to tensors with >= 2 dims only' },
  { name: 'beta1', type: 'number', default: D.beta1, help: 'AdamW beta1' },
  { name: 'beta2', type: 'number', default: D.beta2, help: 'AdamW beta2' },
  { name: 'eps', type: 'number', default: D.eps, help: 'AdamW epsilon' },
  { name: 'grad-clip', type: 'number', default: D.gradClip, help: 'clip the global gradient norm to this (0 disables)' },
  { name: 'seed', type: 'int', default: D.seed, help: 'seed for initialization and data order' },
  { name: 'eval-interval', type: 'int', default: D.evalInterval, help: 'evaluate the validation loss every N steps and at the end, and a new run also before its first step (step 0); 0 = never' },
  { name: 'eval-steps', type: 'int', default: D.evalSteps, help: 'validation batches per evaluation' },
  { name: 'save-interval', type: 'int', default: D.saveInterval, help: 'also write a checkpoint every N steps (0 = only at the end)' },
  { name: 'log', type: 'string', arg: 'FILE', help: 'write one JSON object per optimizer step to this file (JSON Lines): a new run starts it, --resume appends to the run\'s (--log \'\' stops it); one trainer at a time (FILE.lock)' },
  { name: 'order', type: 'string', default: D.order, choices: ['random', 'sequential'], help: 'batch order; sequential: step s row b = window s*B+b' },
  { name: 'sampled-softmax', type: 'int', help: "the loss's softmax over the data's tokens plus N of the other tokens drawn each step, standing for all of them (logQ-corrected): the default from-scratch model's step takes about half the time; the validation loss stays the whole vocabulary's; 0 = the whole vocabulary every step (default from scratch: 4096; fine-tuning: 0)" },
  { name: 'mask', type: 'string', default: D.mask, choices: ['bot', 'none'], help: 'loss on Bot turns only (bot) or on every token (none)' },
  { name: 'human', type: 'string', default: D.human, help: 'speaker tag of the human turns' },
  { name: 'bot', type: 'string', default: D.bot, help: 'speaker tag of the bot turns' },
  { name: 'n-layer', type: 'int', default: D.nLayer, help: 'from-scratch model: layers' },
  { name: 'n-head', type: 'int', default: D.nHead, help: 'from-scratch model: heads' },
  { name: 'n-embd', type: 'int', default: D.nEmbd, help: 'from-scratch model: width (n_embd / n_head must be a multiple of 4, at most 128)' },
  { name: 'lora', type: 'int', arg: 'R', help: 'train a LoRA adapter of rank R (PEFT format, a few MB) instead of every weight: the base (--init) stays frozen' },
  { name: 'lora-alpha', type: 'number', help: "the adapter's output is scaled by alpha / R (default 2R)" },
  { name: 'lora-dropout', type: 'number', help: "dropout on the adapter's input while training (default 0)" },
  { name: 'lora-targets', type: 'list', help: "projections to adapt, comma-separated PEFT module names: c_attn, attn.c_proj, c_fc, mlp.c_proj ('c_proj' = both c_proj), or all-linear (every one) (default c_attn)" },
  { ...DTYPE_FLAG, help: "with --lora: the frozen base's weight matrices in f32 or f16 (half their memory; f32 arithmetic, the adapter stays f32)" },
  { name: 'merge-adapter', type: 'string', arg: 'DIR', help: 'merge the LoRA adapter in DIR into its base (or --init) and save the whole model to --out; no training' },
  { name: 'fast', type: 'boolean', help: "Dawn speed toggles (no robustness checks, no validation); env WEBGPU_FAST=1 does the same" },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

carryOnWithoutStdout();

async function main(): Promise<void> {
  // parsed without defaults: a flag left out is undefined, so --resume can keep the run's value (src/train/run.ts)
  const a = parseFlags(process.argv.slice(2), specs.map(({ default: _, ...s }) => s));
  if (a.help) {
    process.stdout.write(helpText('usage: node dist/train.js [flags]\n\nFine-tunes GPT-2 on Human:/Bot: chat text with a WebGPU engine (a GPU, or the CPU through Mesa lavapipe).', specs));
    return;
  }
  const flags: TrainFlags = {
    init: a.init as string | undefined, data: a.data as string[] | undefined, valData: a['val-data'] as string | undefined, out: a.out as string | undefined,
    resume: !!a.resume, resetOptimizer: !!a['reset-optimizer'], overwrite: !!a.overwrite,
    steps: a.steps as number | undefined, time: a.time as number | undefined,
    batchSize: a['batch-size'] as number | undefined, blockSize: a['block-size'] as number | undefined, gradAccum: a['grad-accum'] as number | undefined,
    lr: a.lr as number | undefined, minLr: a['min-lr'] as number | undefined, warmup: a.warmup as number | undefined,
    schedule: a.schedule as TrainFlags['schedule'],
    weightDecay: a['weight-decay'] as number | undefined, beta1: a.beta1 as number | undefined, beta2: a.beta2 as number | undefined,
    eps: a.eps as number | undefined, gradClip: a['grad-clip'] as number | undefined, seed: a.seed as number | undefined,
    evalInterval: a['eval-interval'] as number | undefined, evalSteps: a['eval-steps'] as number | undefined, saveInterval: a['save-interval'] as number | undefined,
    sampledSoftmax: a['sampled-softmax'] as number | undefined,
    log: a.log as string | undefined, order: a.order as TrainFlags['order'], mask: a.mask as TrainFlags['mask'],
    human: a.human as string | undefined, bot: a.bot as string | undefined,
    nLayer: a['n-layer'] as number | undefined, nHead: a['n-head'] as number | undefined, nEmbd: a['n-embd'] as number | undefined,
    loraR: a.lora as number | undefined, loraAlpha: a['lora-alpha'] as number | undefined, loraDropout: a['lora-dropout'] as number | undefined,
    loraTargets: (a['lora-targets'] as string[] | undefined)?.flatMap((t) => t.split(',')).map((t) => t.trim()).filter(Boolean),
    dtype: a.dtype as TrainFlags['dtype'],
  };
  if (a['merge-adapter'] !== undefined) {
    if (flags.out === undefined || flags.out.trim() === '') throw new UserError('--merge-adapter DIR needs --out OUT, a new directory for the merged model');
    const others = process.argv.slice(2).filter((x) => x.startsWith('--') && !/^--(merge-adapter|init|out)(=|$)/.test(x));
    if (others.length) throw new UserError(`--merge-adapter takes only --init and --out, not ${others[0].split('=')[0]}`);
    await saveMergedModel(a['merge-adapter'] as string, flags.init, flags.out, (s) => console.log(s));
    return;
  }
  if (flags.resetOptimizer && !flags.resume) throw new UserError('--reset-optimizer goes with --resume');
  if (flags.overwrite && flags.resume) throw new UserError('--overwrite starts a new run over the checkpoint in --out; --resume continues it: pass one of them');
  checkFlagsEarly(flags); // before the adapter opens (seconds, and Dawn's warnings); startRun checks again for other callers
  const gpu = await getGpu({ fast: a.fast ? true : undefined });
  await runTraining(flags, gpu);
  if (gpu.profiler) console.log(`GPU time per kernel (WEBGPU_PROFILE=1):\n${await gpu.profiler.report()}`);
}

main()
  .catch(reportError)
  .finally(() => closeGpu());
