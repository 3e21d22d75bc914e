// Checkpoints on disk (Node). Before the first step, --out is checked: creatable, writable, room
// for a checkpoint, not a kernel file system, and held by one trainer at a time (a lock file
// with its pid). Each save writes the weights, the optimizer state, train_state.json and
// loss.svg atomically (src/node/checkpoint_files.ts: all files of a save, or none of them).
import { accessSync, constants, existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { megabytes } from '../util/words.ts';
import { errnoCode, fileBytes, fsReason } from './fs_errors.ts';
import { commitCheckpoint, lockCheckpoint, readTrainStateJson, recoverCheckpoint, saveTrainState, stageCheckpoint, stageMove } from './checkpoint_files.ts';
import { parameterCount, type GPT2Config } from '../model/config.ts';
import { hasWeights, saveGPT2Weights } from './weights.ts';
import { isAdapterDir, saveAdapter } from './adapter_dir.ts';
import { checkLora, loraParameterCount, type LoraSettings, type LoraSite } from '../model/lora.ts';
import type { Checkpoint } from '../train/loop.ts';
import type { Speakers } from '../data/format.ts';

// statfs f_type of the kernel's pseudo file systems: nothing can be saved there, and a
// recursive mkdir under /proc never returns
const KERNEL_FS: Record<number, string> = {
  0x9fa0: 'proc', 0x62656572: 'sysfs', 0x1cd1: 'devpts', 0x27e0eb: 'cgroup', 0x63677270: 'cgroup2',
  0x64626720: 'debugfs', 0x74726163: 'tracefs', 0x73636673: 'securityfs',
};

/** bytes of one checkpoint: the trained tensors (the weights, or a LoRA adapter), two AdamW moments, and room for the JSON and the plot */
export function checkpointBytes(c: GPT2Config, lora?: LoraSettings): number {
  const n = lora ? loraParameterCount(checkLora(c, lora), lora.r) : parameterCount(c);
  return n * 12 + 1e6;
}

/**
 * The checkpoint `dir` holds, or null: what it is ("step 450 of a run", "a model", "a LoRA
 * adapter") and whether --resume can continue it (train_state.json gives its step). A save
 * that was complete but not yet moved into place counts: it is moved first, as a reader would.
 */
export function heldCheckpoint(dir: string): { what: string; resumable: boolean } | null {
  recoverCheckpoint(dir, { reader: true });
  const adapter = isAdapterDir(dir);
  if (!adapter && !hasWeights(dir)) return null;
  let step: unknown;
  try {
    step = readTrainStateJson(dir)?.state.step;
  } catch {
    step = undefined; // a damaged train_state.json: the weights are still worth keeping
  }
  if (typeof step === 'number') return { what: `step ${step} of a run`, resumable: true };
  return { what: adapter ? 'a LoRA adapter' : 'a model', resumable: false };
}

/**
 * what a checkpoint's weights are: the whole model (model.safetensors + config.json, which records the
 * run's speaker tags) or a PEFT LoRA adapter (its tags are in train_state.json: older PEFT versions refuse a key they do not know in adapter_config.json)
 */
export type SavedWeights = { config: GPT2Config; speakers: Speakers } | { adapter: { settings: LoraSettings; sites: LoraSite[]; base: string } };

export class Checkpointer {
  private release: (() => void) | null = null;
  /** the topmost directory open() created: removed again (if still empty) when nothing was saved */
  private created: string | null = null;
  private saved = false;

  /** the step of the newest checkpoint in the directory (set on resume) */
  lastSaved: number | null = null;
  /** why the last save failed: an errno code (ENOSPC, EROFS, ...) */
  failure: string | undefined;

  /** `dir` absolute */
  constructor(readonly dir: string, private flag = '--out') {}

  private fail(why: string): never {
    throw new UserError(`${this.flag} ${this.dir}: ${why}`);
  }

  /** Check and claim the directory before training: a UserError names the path and the reason. */
  open(): void {
    const fail = (why: string) => this.fail(why);
    let existing = this.dir;
    while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
    const kind = KERNEL_FS[statfsType(existing)];
    if (kind) fail(`${existing} is on the kernel's ${kind} file system, not a place for files; pass a directory on a disk`);
    if (!statSync(existing).isDirectory()) fail(`${existing} is a file, not a directory`);
    // one level at a time: the error then names the directory and the real reason (a recursive
    // mkdir says ENOENT under a read-only parent)
    const missing: string[] = [];
    for (let d = this.dir; d !== existing; d = dirname(d)) missing.unshift(d);
    for (const d of missing) {
      try {
        mkdirSync(d);
      } catch (e) {
        fail(`cannot create ${d}: ${fsReason(e)}`);
      }
      this.created ??= d;
    }
    // a read-only or full disk shows now, not at the first save after all the training
    const probe = join(this.dir, `.probe-${process.pid}`);
    try {
      writeFileSync(probe, new Uint8Array(4096));
    } catch (e) {
      fail(`cannot write there: ${fsReason(e)}`);
    } finally {
      rmSync(probe, { force: true });
    }
    this.release = lockCheckpoint(this.dir, this.flag);
  }

  /**
   * Room for the run's saves: each writes all its files before it replaces the old ones, so
   * from the second save on (the first, over a checkpoint already there) two lie side by side.
   * `once`: a single save into a new directory (--merge-adapter) needs room for one.
   */
  checkSpace(checkpoint: number, { once = false } = {}): void {
    const free = freeBytes(this.dir);
    if (once) {
      if (free < checkpoint) this.fail(`${megabytes(free)} free, the checkpoint needs about ${megabytes(checkpoint)}: free some space or pass another ${this.flag}`);
      return;
    }
    const there = SAVED_FILES.reduce((sum, f) => sum + fileBytes(join(this.dir, f)), 0);
    const needed = Math.max(checkpoint, 2 * checkpoint - there);
    if (free < needed) {
      this.fail(`${megabytes(free)} free, the saves need about ${megabytes(needed)} (a checkpoint is ${megabytes(checkpoint)}, and each save writes the new one beside the last before replacing it): free some space or pass another ${this.flag}`);
    }
  }

  /**
   * Write `c` atomically with `state` (train_state.json) and the loss plot; a UserError names the file and the reason.
   * `move`: a file renamed over another with the save (a new run's --log over the earlier run's): never before it, and after it unless the rename fails (recoverCheckpoint warns).
   */
  save(c: Checkpoint, weights: SavedWeights, state: object, lossSvg: string, move?: { from: string; to: string }): void {
    const kept = () => (this.lastSaved === null ? 'no checkpoint was saved before' : `the checkpoint of step ${this.lastSaved} in ${this.dir} is intact`);
    this.write(`the checkpoint of step ${c.step}`, kept, (staging, at) => {
      if ('adapter' in weights) {
        const { settings, sites, base } = weights.adapter;
        at('adapter_model.safetensors');
        saveAdapter(staging, settings, sites, base, c.params);
      } else {
        at('model.safetensors');
        saveGPT2Weights(staging, weights.config, c.params, weights.speakers);
      }
      at('optimizer.safetensors');
      saveTrainState(staging, { m: c.m, v: c.v }, state);
      writeFileSync(at('loss.svg'), lossSvg);
      if (move) stageMove(staging, move.from, move.to);
    });
    this.lastSaved = c.step;
  }

  /**
   * Write a whole model (model.safetensors + config.json, with the `speakers` it was trained with) atomically, without
   * training state: a merged adapter. The error says nothing of what is left: close() decides that.
   */
  saveModel(config: GPT2Config, params: Map<string, Float32Array>, speakers?: Speakers): void {
    this.write('the model', null, (staging, at) => {
      at('model.safetensors');
      saveGPT2Weights(staging, config, params, speakers);
    });
  }

  /**
   * All files of one save or none: `files` writes into the staging directory, naming each file
   * with `at` first (for the error); `kept` says in the error what is still there.
   */
  private write(what: string, kept: (() => string) | null, files: (staging: string, at: (file: string) => string) => void): void {
    const staging = join(this.dir, '.saving');
    let writing = staging;
    try {
      stageCheckpoint(this.dir);
      files(staging, (f) => (writing = join(staging, f)));
      writing = this.dir;
      commitCheckpoint(this.dir);
    } catch (e) {
      // whatever failed, free the space of the partial save (a complete one is left for recovery to finish)
      try {
        if (!existsSync(join(staging, 'COMPLETE'))) rmSync(staging, { recursive: true, force: true });
      } catch {
        // a disk turned read-only mid-save cannot remove it either: the save's own error says why (the next save discards it)
      }
      // a recursive mkdir on a read-only disk says ENOENT: the directory itself tells what is wrong
      // (also when the partial save a read-only disk kept made the next one's recovery fail)
      const cause = unwritable(this.dir) ?? (errnoCode(e) ? e : null);
      if (!cause) throw e;
      this.failure = errnoCode(cause);
      throw new UserError(`could not save ${what}: ${fsReason(cause)} writing ${writing}${kept ? `; ${kept()}` : ''}`);
    }
    this.saved = true;
  }

  /** Release the lock; a directory this run created and never saved into is removed (then true). */
  close(): boolean {
    this.release?.();
    this.release = null;
    if (this.saved || !this.created) return false;
    try {
      for (let d = this.dir; ; d = dirname(d)) {
        if (readdirSync(d).length) return false;
        rmdirSync(d);
        if (d === this.created) return true;
      }
    } catch {
      return false; // leave it
    }
  }
}

/** why `dir` cannot be written to (a read-only disk, no permission), or null */
function unwritable(dir: string): unknown {
  try {
    accessSync(dir, constants.W_OK);
    return null;
  } catch (e) {
    return errnoCode(e) === 'ENOENT' ? null : e;
  }
}

function statfsType(path: string): number {
  try {
    return Number(statfsSync(path).type);
  } catch {
    return 0;
  }
}

/** the files of a checkpoint that the next save replaces */
const SAVED_FILES = ['model.safetensors', 'adapter_model.safetensors', 'optimizer.safetensors', 'config.json', 'adapter_config.json', 'train_state.json', 'loss.svg'];

function freeBytes(path: string): number {
  try {
    const s = statfsSync(path);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return Infinity;
  }
}
