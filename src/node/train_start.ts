// Where a train.js run starts, from disk: a new run (its data checked, its weights pretrained,
// another checkpoint or new, --out not holding one by accident) or a --resume (the checkpoint,
// its saved state, base, adapter and optimizer moments checked against each other).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../util/errors.ts';
import { GPT2 } from '../model/gpt2.ts';
import { isHubModel, loadWeights, weightDirs, type LoadedWeights } from './load_model.ts';
import { describeConfig, parameterShapes, type GPT2Config } from '../model/config.ts';
import { ADAPTER_WEIGHTS, isAdapterDir, readAdapter } from './adapter_dir.ts';
import { describeRank } from '../model/peft.ts';
import { checkLora, initLoraArrays, loraShapes, type LoraSettings } from '../model/lora.ts';
import { loadTrainState, readTrainStateJson, recoverCheckpoint } from './checkpoint_files.ts';
import { checkDataFile, VAL_FILE } from './dataset.ts';
import { isTokenFile } from '../data/token_bin.ts';
import { count, shellWord } from '../util/words.ts';
import { checkShippedFile, recordedSpeakers } from './cli.ts';
import { checkFlagsEarly, dataFiles, DEFAULTS, flagSpeakers, parseSavedRun, resolveRun, type DeviceLimits, type Run, type TrainFlags } from '../train/run.ts';
import { Checkpointer, checkpointBytes, heldCheckpoint } from './checkpointer.ts';
import { checkLogPath, checkNewLog, lockLog } from './train_log.ts';
import { hasWeights } from './weights.ts';

/**
 * Where the run starts: its weights (a checkpoint to resume, pretrained, or new), the run
 * resolved from the flags (and the saved state), --out checked and locked, and --log locked
 * (releaseLog). On --resume the --out lock comes first: a save in progress there belongs to the
 * trainer holding it.
 */
export async function startRun(flags: TrainFlags, out: string, device: DeviceLimits, say: (s: string) => void) {
  // mistakes in the flags first: the weights may be a download
  checkFlagsEarly(flags);
  // a file twice: its copies split apart, so conversations held out of one would train in the other
  const given = flags.data === undefined ? [] : dataFiles(flags.data).map((f) => resolve(f));
  const twice = given.find((f, i) => given.indexOf(f) !== i);
  if (twice) throw new UserError(`--data ${twice} is given twice: pass each file once (a second copy would train on the conversations held out of the first)`);
  // --val-data is held out of nothing: one of the training files would score its own conversations
  const valData = flags.valData?.trim() ? resolve(flags.valData) : undefined;
  // the files a new run trains on (the shipped one without --data); a resume's are known once its state is read
  const dataPaths = given.length || flags.resume ? given : [resolve(DEFAULTS.data)];
  if (valData && dataPaths.includes(valData)) {
    throw new UserError(`--val-data ${flags.valData} is also a --data file: its validation loss would be on conversations the run trains on; pass another file, or leave --val-data out to hold out a tenth of --data`);
  }
  if (flags.log !== undefined && flags.log.trim() !== '') checkLogPath(resolve(flags.log));
  const ckpt = new Checkpointer(out);
  let moments: { m: Map<string, Float32Array>; v: Map<string, Float32Array> } | null = null;
  let releaseLog = () => {}; // the --log's lock (lockLog), taken once the run's log is known
  if (flags.resume) ckpt.open();
  try {
    let run: Run, arrays: Map<string, Float32Array>, adapter: Map<string, Float32Array> | null = null;
    let replacing = false; // a new run over a checkpoint (--overwrite): replaced at its first save
    if (flags.resume) {
      recoverCheckpoint(out); // finish (or discard) a save that a crash interrupted
      const lora = isAdapterDir(out); // a LoRA run's checkpoint: the adapter, its base named in train_state.json
      if (!lora && !hasWeights(out)) {
        throw new UserError(`--resume: no checkpoint in ${out} (expected model.safetensors, or a LoRA run's ${ADAPTER_WEIGHTS}, there; train without --resume first)`);
      }
      const json = readTrainStateJson(out);
      if (!json) {
        throw new UserError(`--resume: ${join(out, 'train_state.json')} is missing, so the run's step, schedule and settings are unknown; start a new run from these weights with --init ${out} --out NEW_DIR`);
      }
      const saved = parseSavedRun(json.state, join(out, 'train_state.json'));
      if (saved.note) say(`note: ${saved.note}`);
      if (flags.log === undefined && typeof saved.settings.log === 'string') checkLogPath(saved.settings.log, true);
      const log = flags.log === undefined ? saved.settings.log : flags.log.trim() && resolve(flags.log);
      if (typeof log === 'string' && log) releaseLog = lockLog(log, say);
      if (lora && (!saved.settings.lora || !saved.settings.base)) {
        throw new UserError(`--resume: ${join(out, 'train_state.json')} does not name the LoRA run's base model and adapter; start a new run from these weights with --init ${out} --out NEW_DIR`);
      }
      // a LoRA run's base is loaded again from where train_state.json says; --init gives its new place only if it moved
      if (flags.init !== undefined && !lora) say(`--init ${flags.init}: not used; --resume continues the weights in ${out}`);
      const base = lora ? resumedBase(saved.settings.base!, flags.init, out) : out;
      if (lora && base !== saved.settings.base) say(`base: ${base} (the run started on ${saved.settings.base}, which is gone)`);
      const w = await loadWeights(base);
      arrays = w.arrays;
      if (!flags.resetOptimizer && !existsSync(join(out, 'optimizer.safetensors'))) {
        throw new UserError(`--resume: ${join(out, 'optimizer.safetensors')} is missing: AdamW's moments would restart from zero. Pass --reset-optimizer to resume that way`);
      }
      moments = loadTrainState(out, { optimizer: !flags.resetOptimizer });
      run = resolveRun(flags, { source: 'resume', config: w.config, saved: lora ? { ...saved, settings: { ...saved.settings, base } } : saved }, device);
      if (run.settings.lora) adapter = resumedAdapter(out, w.config, run.settings.lora);
      if (!flags.resetOptimizer) {
        const l = run.settings.lora;
        checkMoments(moments!.m, l ? loraShapes(checkLora(w.config, l), l.r) : parameterShapes(w.config), join(out, 'optimizer.safetensors'));
      }
      ckpt.lastSaved = run.startStep;
      say(`resuming from ${out}${lora ? ` (LoRA adapter on ${w.source})` : ''}`);
      if (flags.resetOptimizer) say("warning: --reset-optimizer: AdamW's moments restart from zero (expect a jump in the loss for a few steps)");
    } else {
      if (flags.data === undefined) checkShippedFile(DEFAULTS.data, 'the shipped chat data', 'train.js');
      const speakers = flagSpeakers(flags);
      for (const f of dataPaths) checkDataFile(f, { speakers });
      if (flags.valData !== undefined) checkDataFile(resolve(flags.valData), { what: VAL_FILE, speakers });
      const init = flags.init ?? DEFAULTS.init;
      // what a LoRA run's adapter_config.json and --resume name as its base
      const base = init === 'auto' ? 'gpt2' : existsSync(init) ? resolve(init) : init;
      if (flags.loraR !== undefined && resolve(base) === out) throw new UserError(`--out ${out} is the base model's directory: the adapter goes into a directory of its own (pass another --out)`);
      // nor into the base that an adapter given as --init is merged into: its saves would replace what --init reads
      if (init !== 'auto' && init !== 'scratch' && weightDirs(init).slice(1).includes(out)) {
        throw new UserError(`--out ${out} holds the base model of --init ${init} (a LoRA adapter): the run's saves would replace it; pass another --out`);
      }
      // a new run replaces what --out holds at its first save: never by accident (a rerun after Ctrl-C)
      const held = heldCheckpoint(out);
      if (held && !flags.overwrite) {
        throw new UserError(base === out
          ? `--init and --out are the same directory: the new run's first save would replace the weights it starts from; pass another --out, or --overwrite`
          : `--out ${out} already holds a checkpoint (${held.what}): ${held.resumable ? 'continue it with --resume, ' : ''}train into another --out, or pass --overwrite to replace it`);
      }
      replacing = held !== null;
      if (flags.log !== undefined) {
        // locked first: a live trainer's log is refused as in use, not as an earlier run's (whose
        // --overwrite is then refused anyway), and its FILE.new is not probed
        releaseLog = lockLog(resolve(flags.log), say);
        checkNewLog(resolve(flags.log), !!flags.overwrite, replacing);
      }
      let pretrained: LoadedWeights | null = null;
      if (init === 'auto') {
        try {
          pretrained = await loadWeights('gpt2');
          say('init: OpenAI GPT-2 124M');
        } catch (e) {
          if (flags.loraR !== undefined) throw e; // LoRA needs pretrained weights: say why there are none
          say(`init: GPT-2 weights unavailable (${(e as Error).message.split('\n')[0]}); training the default from-scratch model instead.`);
        }
      } else if (init !== 'scratch') {
        pretrained = await loadWeights(init, { alternatives: "'scratch' (a new model)" });
        say(`init: ${pretrained.source}, ${describeConfig(pretrained.config)}`);
      }
      run = pretrained ? resolveRun(flags, { source: 'pretrained', config: pretrained.config, base }, device) : resolveRun(flags, { source: 'scratch' }, device);
      if (!pretrained) say(`init: from scratch, ${describeConfig(run.config)}`);
      else if (flags.lr === undefined && !run.settings.lora) {
        // (not a LoRA run: its adapter starts at zero whatever the base's lr was, and --resume --out BASE would retrain the base under it)
        const earlier = earlierLr(init);
        // a checkpoint given as --init is fine-tuned, with fine-tuning's defaults: a small model trained from scratch at 3e-3 would barely move
        if (earlier !== null && earlier !== run.settings.lr) {
          say(`note: ${init} was trained at --lr ${earlier}; this run fine-tunes it at --lr ${run.settings.lr} (the fine-tuning default): pass --lr (and --steps, --batch-size) to choose, or --resume --out ${init} to go on with that run's settings`);
        }
      }
      const trained = pretrained && init !== 'auto' ? recordedSpeakers({ init, adapter: undefined }) : null;
      const { human, bot } = run.settings;
      // chat.js prompts a model with the tags it was trained with: a run on other ones teaches it new ones
      if (trained && (trained.human !== human || trained.bot !== bot)) {
        // the tags of chat text are the ones its turns are written in: the flags alone only keep a .bin's
        const keep = `--human ${shellWord(trained.human)} --bot ${shellWord(trained.bot)}`;
        const how = dataPaths.every(isTokenFile) ? `${keep} keeps its tags` : `to keep its tags, write the data's turns as ${trained.human}:/${trained.bot}: and pass ${keep}`;
        say(`note: ${init} was trained with ${trained.human}:/${trained.bot}: turns; this run trains it on ${human}:/${bot}: ones, and chat.js will prompt the result so${flags.human === undefined && flags.bot === undefined ? ` (${how})` : ''}`);
      }
      arrays = pretrained?.arrays ?? GPT2.initArrays(run.config, run.settings.seed);
      const lora = run.settings.lora;
      if (lora) {
        adapter = initLoraArrays(checkLora(run.config, lora), lora.r, run.settings.seed);
      }
      ckpt.open();
    }
    ckpt.checkSpace(checkpointBytes(run.config, run.settings.lora));
    return { run, arrays, adapter, moments, ckpt, replacing, releaseLog };
  } catch (e) {
    ckpt.close();
    releaseLog();
    throw e;
  }
}

/** the peak learning rate a train.js run saved in checkpoint directory `dir` had (not a LoRA adapter's); null when it does not say */
function earlierLr(dir: string): number | null {
  if (!existsSync(dir) || isAdapterDir(dir)) return null;
  try {
    const lr = readTrainStateJson(dir)?.state?.options?.lr;
    return typeof lr === 'number' && Number.isFinite(lr) ? lr : null;
  } catch {
    return null; // a note only: a train_state.json that cannot be read does not stop a run that does not need it
  }
}

/**
 * The base of a LoRA run being resumed: the one it started on (train_state.json), or --init
 * when that one is gone (moved). Never another base beside it, and never one that reads `out`.
 */
function resumedBase(saved: string, init: string | undefined, out: string): string {
  const there = existsSync(saved) || isHubModel(saved);
  if (init === undefined) {
    if (!there) throw new UserError(`--resume: the run's base model ${saved} (named in train_state.json) is not there; if it moved, pass it with --init DIR`);
    return saved;
  }
  const given = existsSync(init) ? resolve(init) : init;
  if (given === saved) return saved;
  if (there) throw new UserError(`--resume: the run's adapter belongs to its base ${saved}, which is still there; --init ${init} would be another base (leave --init out, or start a new run with another --out)`);
  if (weightDirs(given).includes(out)) throw new UserError(`--resume --init ${init}: that model reads ${out}, the run's own adapter; pass the base model the run started on`);
  return given;
}

/** the adapter a LoRA run saved in `out`, checked against the run's settings */
function resumedAdapter(out: string, config: GPT2Config, lora: LoraSettings): Map<string, Float32Array> {
  const a = readAdapter(out, config);
  const want = checkLora(config, lora).map((s) => s.name);
  const have = a.sites.map((s) => s.name);
  if ([...a.ranks.values()].some((x) => x.r !== lora.r) || have.join() !== want.join()) {
    throw new UserError(`--resume: the adapter in ${out} (${describeRank(a)}, ${count(have.length, 'projection')}) is not the one train_state.json describes (r ${lora.r}, ${want.length}); start a new run`);
  }
  return a.arrays;
}

/** AdamW's saved moments must be those of the parameters that train: an optimizer file copied from another run is refused, not half used */
function checkMoments(m: Map<string, Float32Array>, trainable: { name: string; shape: number[] }[], path: string): void {
  const want = new Map(trainable.map((p) => [p.name, p.shape.reduce((a, b) => a * b, 1)]));
  let why: string | null = null;
  for (const [name, n] of want) {
    const a = m.get(name);
    if (!a) why = `it has no moments for '${name}'`;
    else if (a.length !== n) why = `its moments of '${name}' have ${a.length} values, the parameter ${n}`;
    if (why) break;
  }
  const extra = [...m.keys()].find((name) => !want.has(name));
  why ??= extra === undefined ? null : `'${extra}' is not a trained parameter of this model`;
  if (why) throw new UserError(`--resume: ${path} does not belong to this model (${why}; copied from another run?); pass --reset-optimizer to restart AdamW's moments from zero`);
}
