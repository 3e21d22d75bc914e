// Crash-safe files: write a temp file beside the target, fsync, rename over it. A crash at any
// point leaves either the old file or the new one, never a torn one. Also the training state:
// AdamW moments in optimizer.safetensors ('m.NAME', 'v.NAME') plus train_state.json.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { errnoCode, fsReason } from './fs_errors.ts';
import { withSafetensors, writeSafetensors } from './safetensors.ts';
import { parseShardIndex, SHARD_INDEX } from '../model/safetensors.ts';
import { lockHolder, takeLock } from './pid_lock.ts';

/**
 * Replaces `path` atomically: `write(tmp)` creates a temp file in the same directory, which is
 * then fsynced and renamed over `path`. If `write` throws, the temp file is removed, `path` is
 * untouched, and the error propagates.
 */
export function replaceAtomic(path: string, write: (tmpPath: string) => void): void {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    write(tmp);
    const fd = openSync(tmp, 'r+');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  // make the rename itself durable; directories cannot be opened on Windows
  try {
    const fd = openSync(dirname(path), 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* best effort */
  }
}

/** write a file atomically (temp + fsync + rename) */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  replaceAtomic(path, (tmp) => writeFileSync(tmp, data));
}

const OPTIMIZER_FILE = 'optimizer.safetensors', STATE_FILE = 'train_state.json';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * Saves AdamW moments (m and v must have the same names and lengths) to DIR/optimizer.safetensors
 * and `state` (any JSON object: step, data position, RNG state, args...) to DIR/train_state.json,
 * each atomically; the state file is written last and the optimizer file records its hash, so an
 * interrupted save is detected on load. `opt` null removes an old optimizer file.
 */
export function saveTrainState(dir: string, opt: { m: Map<string, Float32Array>; v: Map<string, Float32Array> } | null, state: object): void {
  if (typeof state !== 'object' || state === null || Array.isArray(state)) throw new Error('train state must be a JSON object');
  const text = JSON.stringify(state, null, 2) + '\n';
  mkdirSync(dir, { recursive: true });
  const optPath = join(dir, OPTIMIZER_FILE);
  if (opt) {
    const tensors: { name: string; shape: number[]; data: Float32Array }[] = [];
    for (const [name, m] of opt.m) {
      const v = opt.v.get(name);
      if (!v || v.length !== m.length) throw new Error(`optimizer state: v['${name}'] is ${v ? `${v.length} long, m is ${m.length}` : 'missing'}`);
      tensors.push({ name: `m.${name}`, shape: [m.length], data: m });
    }
    for (const name of opt.v.keys()) if (!opt.m.has(name)) throw new Error(`optimizer state: m['${name}'] is missing`);
    for (const [name, v] of opt.v) tensors.push({ name: `v.${name}`, shape: [v.length], data: v });
    replaceAtomic(optPath, (tmp) => writeSafetensors(tmp, tensors, { train_state_sha256: sha256(text) }));
    writeFileAtomic(join(dir, STATE_FILE), text);
  } else {
    // state first: a crash in between leaves an optimizer file that load rejects, not lost moments
    writeFileAtomic(join(dir, STATE_FILE), text);
    rmSync(optPath, { force: true });
  }
}

/** DIR/train_state.json parsed (and its text), or null when absent; a UserError when corrupt or not a JSON object. */
export function readTrainStateJson(dir: string): { text: string; state: any } | null {
  const statePath = join(dir, STATE_FILE);
  if (!existsSync(statePath)) return null;
  const text = readFileSync(statePath, 'utf8');
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${statePath}: bad JSON (${(e as Error).message})`);
  }
  if (typeof state !== 'object' || state === null || Array.isArray(state)) throw new UserError(`${statePath}: not a JSON object (got ${text.trim().slice(0, 40)})`);
  return { text, state };
}

/**
 * Loads what saveTrainState wrote: null when DIR/train_state.json is absent; m and v are empty
 * when there is no optimizer file (or `optimizer` is false: it is not read). Throws a UserError for a corrupt file or an optimizer file
 * left from another save.
 */
export function loadTrainState(dir: string, { optimizer = true } = {}): { m: Map<string, Float32Array>; v: Map<string, Float32Array>; state: any } | null {
  const optPath = join(dir, OPTIMIZER_FILE);
  const read = readTrainStateJson(dir);
  if (!read) return null;
  const { text, state } = read;
  const statePath = join(dir, STATE_FILE);
  const m = new Map<string, Float32Array>(), v = new Map<string, Float32Array>();
  if (optimizer && existsSync(optPath)) {
    withSafetensors(optPath, (f) => {
      const hash = f.metadata.train_state_sha256;
      if (hash !== undefined && hash !== sha256(text)) {
        throw new UserError(
          `${optPath} was not saved with ${statePath} (an interrupted save?); resume with --reset-optimizer to restart the optimizer moments from zero`,
        );
      }
      for (const key of f.names) {
        const to = key.startsWith('m.') ? m : key.startsWith('v.') ? v : null;
        if (!to) throw new UserError(`${optPath}: unexpected tensor '${key}' (want 'm.NAME' or 'v.NAME')`);
        to.set(key.slice(2), f.get(key));
      }
    });
    for (const name of new Set([...m.keys(), ...v.keys()])) {
      if (m.get(name)?.length !== v.get(name)?.length) throw new UserError(`${optPath}: m.${name} and v.${name} do not match`);
    }
  }
  return { m, v, state };
}

// ---- a whole checkpoint directory, all files or none ----
// The files of one save are written to DIR/.saving/, a COMPLETE marker is written last, and only
// then are they renamed into DIR. A crash before the marker leaves the previous checkpoint as it
// was (the partial .saving/ is discarded); a crash after it is finished by the next
// recoverCheckpoint (roll forward). Either way the files in DIR always belong to one save.
// A save may also move one file from outside DIR into place (a new run's --log, written beside
// the earlier run's log until the first save replaces that run's checkpoint): .saving/MOVE names
// it, and the roll-forward moves it after the checkpoint's files, so the two change together
// (unless the move itself fails: then it warns, and the file stays where it is).
const STAGING = '.saving', COMPLETE = 'COMPLETE', MOVE = 'MOVE';
/** a whole model and a LoRA adapter: a save of one removes the other's files */
const REPLACES: [string, string[]][] = [
  ['model.safetensors', ['adapter_model.safetensors', 'adapter_config.json']],
  ['adapter_model.safetensors', ['model.safetensors', 'config.json']],
];

/**
 * Removes DIR's sharded model (an earlier save_pretrained's index and the shards it names) that a
 * save of either kind replaces: the shards first, the index last, so a crash in between leaves
 * the index for the next recoverCheckpoint to finish with. `keep`: the files the save brings.
 */
function removeShards(dir: string, keep: string[]): void {
  const index = join(dir, SHARD_INDEX);
  if (!existsSync(index)) return;
  let files: string[] = [];
  try {
    files = parseShardIndex(readFileSync(index, 'utf8'), index).files;
  } catch (e) {
    if (!(e instanceof UserError)) throw e; // an unreadable index: it goes, its shards cannot be known
  }
  // only the shard files beside it: an index naming '../x' or another file of the save deletes nothing else
  for (const f of files) if (basename(f) === f && f.endsWith('.safetensors') && !keep.includes(f)) rmSync(join(dir, f), { force: true });
  rmSync(index, { force: true });
}

/** the directory to write a new checkpoint's files into; pass it to commitCheckpoint when done */
export function stageCheckpoint(dir: string): string {
  recoverCheckpoint(dir);
  const staging = join(dir, STAGING);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  return staging;
}

/**
 * A move a save may carry: only TO.new over TO, TO absolute. A reader (chat.js --init DIR) rolls
 * forward a save it did not write: a MOVE record of any other shape (a directory from elsewhere)
 * could otherwise rename one of DIR's files over any file of the user's.
 */
const isAsideMove = (m: { from?: unknown; to?: unknown } | null): m is { from: string; to: string } =>
  typeof m?.to === 'string' && isAbsolute(m.to) && m.from === `${m.to}.new`;

/** make the staged save also rename `from` (`to`.new) over `to` (absolute) when it is committed */
export function stageMove(staging: string, from: string, to: string): void {
  if (!isAsideMove({ from, to })) throw new Error(`stageMove: ${from} -> ${to} is not TO.new -> TO with TO absolute`);
  writeFileAtomic(join(staging, MOVE), JSON.stringify({ from, to }));
}

/** the move a staged save carries, or null (none, or not one a save makes) */
function stagedMove(staging: string): { from: string; to: string } | null {
  try {
    const m = JSON.parse(readFileSync(join(staging, MOVE), 'utf8'));
    return isAsideMove(m) ? m : null;
  } catch {
    return null; // none (it is written atomically, so never half)
  }
}

/** mark the staged files complete, then move them into place */
export function commitCheckpoint(dir: string): void {
  writeFileAtomic(join(dir, STAGING, COMPLETE), '');
  recoverCheckpoint(dir);
}

/**
 * Finish a save that was marked complete, or discard one that was not; a no-op without .saving/.
 * A `reader` (chat, any loader) only finishes complete saves, and only when no trainer holds
 * the directory: a save in progress is the trainer's.
 */
export function recoverCheckpoint(dir: string, { reader = false } = {}): void {
  const staging = join(dir, STAGING);
  if (!existsSync(staging)) return;
  const complete = existsSync(join(staging, COMPLETE));
  if (reader && (!complete || lockOwner(dir) !== null)) return;
  try {
    if (complete) {
      const files = readdirSync(staging).filter((f) => f !== COMPLETE && f !== MOVE && !f.includes('.tmp-'));
      // a save holds one kind of weights: the other kind's files (an earlier run's) go, so no reader loads them instead
      for (const [mine, other] of REPLACES) if (files.includes(mine)) for (const f of other) rmSync(join(dir, f), { force: true });
      if (REPLACES.some(([mine]) => files.includes(mine))) removeShards(dir, files);
      for (const f of files) renameSync(join(staging, f), join(dir, f));
      // `from` is gone when a recovery that a crash cut short moved it already
      const move = stagedMove(staging);
      if (move && existsSync(move.from)) {
        try {
          renameSync(move.from, move.to);
        } catch (e) {
          // the checkpoint's files are in place: a file that cannot follow them (its directory made
          // read-only, a directory in the way) must not fail this and every later save and load
          if (!errnoCode(e)) throw e;
          console.warn(`warning: could not move ${move.from} over ${move.to}: ${fsReason(e)}; it stays beside it`);
        }
      }
    }
    rmSync(staging, { recursive: true, force: true });
  } catch (e) {
    if (!errnoCode(e)) throw e;
    throw new UserError(`${dir}: cannot finish an interrupted save: ${fsReason(e)}; make the directory writable and try again`);
  }
}

// ---- one trainer per directory ----
// DIR/.lock holds the pid of the trainer writing DIR (pid_lock.ts).
const LOCK = '.lock';

/** the pid of the live process that holds DIR's lock, or null */
export const lockOwner = (dir: string): number | null => lockHolder(join(dir, LOCK));

/** Take DIR's lock for this process; a UserError naming the owner when a live process holds it. Returns the release. */
export function lockCheckpoint(dir: string, flag = '--out'): () => void {
  const path = join(dir, LOCK);
  // a live pid may not be a trainer (reused after a reboot): the user can tell, this process cannot
  return takeLock(path, (owner) => `${flag} ${dir} is in use by another trainer (pid ${owner ?? 'unknown'}); wait for it to finish, stop it, or pass another ${flag}; if no trainer runs there, remove ${path}`);
}
