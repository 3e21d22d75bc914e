// train.js's --log FILE: the path checked before anything loads, and the log itself, one JSON
// line per step, that a failing disk never stops, a resumed run continues without repeats, and
// a new run replacing an earlier one writes beside it until its first save (FILE.new), and one
// trainer at a time writes (FILE.lock).
import { accessSync, appendFileSync, closeSync, constants as fsConstants, existsSync, lstatSync, openSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UserError } from '../util/errors.ts';
import { errnoCode, fileBytes, fsReason } from './fs_errors.ts';
import { writeFileAtomic } from './checkpoint_files.ts';
import { takeLock } from './pid_lock.ts';
import { count } from '../util/words.ts';

/**
 * --log refused before anything loads: a missing directory, a directory, a place that cannot be
 * written. `saved`: the path came from train_state.json (a resumed run), not from the command line.
 */
export function checkLogPath(path: string, saved = false): void {
  const fail = (why: string): never => {
    throw new UserError(`--log ${path}${saved ? ' (the run\'s, from train_state.json)' : ''}: ${why}${saved ? "; or --log '' to go on without a log" : ''}`);
  };
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    if (errnoCode(e) !== 'ENOENT') fail(fsReason(e));
  }
  if (st?.isDirectory()) fail('is a directory; pass a file in it (e.g. --log DIR/log.jsonl)');
  const parent = dirname(path);
  if (!st) {
    let ps;
    try {
      ps = statSync(parent);
    } catch (e) {
      fail(errnoCode(e) === 'ENOENT' ? `no such directory ${parent}; create it first or pass another --log` : fsReason(e));
    }
    if (!ps?.isDirectory()) fail(`${parent} is not a directory`);
  }
  try {
    accessSync(st ? path : parent, fsConstants.W_OK);
  } catch (e) {
    fail(`cannot write there: ${fsReason(e)}`);
  }
}

/**
 * A new run starts its --log afresh: one that holds another run's steps (a rerun, or a second
 * run pointed at the same file) is replaced only with --overwrite, as --out's checkpoint is.
 * Without --overwrite --out holds no checkpoint (one would have been refused first), so --resume
 * is not offered: the usual case is a run killed before its first save, which has none.
 * `replacing`: the run replaces a checkpoint in --out; with it, or a PATH that holds anything,
 * the steps go to PATH.new until the first save, which must be writable.
 */
export function checkNewLog(path: string, overwrite: boolean, replacing: boolean): void {
  let steps = 0;
  try {
    if (!overwrite && existsSync(path)) steps = logEntries(readFileSync(path, 'utf8')).length;
  } catch {
    // not readable as text: the probe already said whether it can be written
  }
  if (steps > 0) {
    throw new UserError(`--log ${path} already holds ${count(steps, 'step')} of an earlier run, which a new run's log replaces: pass another --log, or --overwrite to replace it`);
  }
  // the steps go beside PATH until the first save: a PATH that can be written does not say that
  // PATH.new can be (a directory in the way, PATH's directory read-only), and without it no step is logged
  if (!logsAside(path, replacing)) return;
  const aside = asidePath(logTarget(path)), there = existsSync(aside);
  try {
    closeSync(openSync(aside, 'a'));
    if (!there) rmSync(aside);
  } catch (e) {
    throw new UserError(`--log ${path}: cannot write ${aside} (this run's steps go there until its first save): ${fsReason(e)}; pass another --log`);
  }
}

/**
 * The file --log PATH (absolute) writes: PATH, or the file it links to (links followed to the
 * end). The first save renames FILE.new over FILE: over a link it would put a plain file in the
 * link's place and leave the linked file with the earlier run's steps.
 */
export function logTarget(path: string): string {
  let file = path;
  for (let links = 0; links < 40; links++) { // the kernel's limit (ELOOP)
    let to: string;
    try {
      to = readlinkSync(file);
    } catch {
      return file; // not a link (or not there): the file itself
    }
    // from the link's real directory, as the kernel reads it: in a linked directory, '..' is the
    // parent of the directory linked to, not of the link (resolve alone went to a file never named)
    file = resolve(realpathSync(dirname(file)), to);
  }
  return file;
}

/**
 * One trainer per --log, as per --out: FILE.lock beside the file (PATH's target) holds the pid
 * of the run writing it, so a second run neither appends to a live run's FILE nor, with
 * --overwrite, empties its FILE.new or moves one over its FILE. Holding it, a FILE.new there is
 * no live run's: the steps of a new run stopped (killed) before its first save, which no
 * checkpoint has; it goes, said in one line. Where no lock can be written (a --log file writable
 * in a read-only directory) the run goes on without one. Released at exit too (a signal before
 * the first step exits at once).
 */
export function lockLog(path: string, say: (s: string) => void): () => void {
  const file = logTarget(path), lock = `${file}.lock`, aside = asidePath(file);
  let release: () => void;
  try {
    // a live pid may not be a trainer (reused after a reboot): the user can tell, this process cannot
    release = takeLock(lock, (pid) => `--log ${path} is in use by another trainer (pid ${pid ?? 'unknown'}); wait for it to finish, stop it, or pass another --log; if no trainer runs, remove ${lock}`);
  } catch (e) {
    if (!errnoCode(e)) throw e;
    return () => {};
  }
  try {
    if (lstatSync(aside).isFile()) {
      rmSync(aside);
      say(`note: --log ${path}: removed ${aside}, the steps of a new run stopped before its first save (no checkpoint has them)`);
    }
  } catch {
    // none there (or not removable: the run's own writes say why)
  }
  process.once('exit', release);
  return () => {
    process.off('exit', release);
    release();
  };
}

/** where a new run that replaces something writes its steps until its first save (StepLog.aside) */
const asidePath = (path: string) => `${path}.new`;
/** whether a new run logs aside: PATH holds anything, or the run replaces a checkpoint (whose log PATH may be) */
const logsAside = (path: string, replacing: boolean) => replacing || fileBytes(path) > 0;

/**
 * --log, one JSON line per step. A write that fails (a full disk) must not end the run and
 * lose the steps since the last checkpoint: it warns once, and the log stops there (cut back
 * to its last whole line).
 */
export class StepLog {
  /** the file the steps go to: --log's target (logTarget) */
  readonly path: string;
  private size = 0;
  private failed = false;
  /**
   * Where a new run that replaces something writes its steps until its first save: PATH.new,
   * moved over PATH by that save together with the checkpoint (pendingMove). Until then PATH
   * keeps the earlier run's steps, so a run stopped or killed before it saves leaves that run
   * whole: its checkpoint and its log. null: the steps go to PATH.
   */
  aside: string | null = null;

  /**
   * A new run starts a new log: beside PATH (see `aside`) when PATH holds anything or the run
   * replaces a checkpoint (`replacing`, whose log PATH may be). A resumed one appends after the
   * entries up to the step it resumes at: those past it (logged after the last checkpoint by a
   * run that was killed) go, so each step is in the log once.
   */
  constructor(path: string, resumedAt: number | null, { replacing = false } = {}) {
    this.path = path = logTarget(path);
    try {
      if (resumedAt === null) {
        if (logsAside(path, replacing)) this.aside = asidePath(path);
        writeFileSync(this.aside ?? path, '');
      } else if (existsSync(path)) {
        const text = readFileSync(path, 'utf8');
        const kept = logUpTo(text, resumedAt);
        if (kept !== text) writeFileAtomic(path, kept);
        this.size = Buffer.byteLength(kept);
      }
    } catch (e) {
      this.failed = true; // the log stays as it was
      console.warn(`warning: --log ${this.file}: ${fsReason(e)}; no step of this session is logged; training and checkpoints go on`);
    }
  }

  /** the file the steps go to now */
  get file(): string {
    return this.aside ?? this.path;
  }

  append(entry: { step: number; [k: string]: unknown }): void {
    if (this.failed) return;
    const line = JSON.stringify(entry) + '\n';
    try {
      appendFileSync(this.file, line);
      this.size += Buffer.byteLength(line);
    } catch (e) {
      this.failed = true;
      try {
        truncateSync(this.file, this.size); // a line cut short by the full disk
      } catch {
        /* best effort */
      }
      console.warn(`warning: --log ${this.file}: ${fsReason(e)}; step ${entry.step} and later steps are not logged; training and checkpoints go on`);
    }
  }

  /**
   * What the next save moves with the checkpoint: the steps written aside over PATH, or null
   * (they are in PATH already). An aside file that could not even be created (the constructor
   * warned) is created empty, so PATH stops being the earlier run's; if that fails too, PATH
   * keeps it, and the save goes on without: a log is not worth a lost checkpoint.
   */
  pendingMove(): { from: string; to: string } | null {
    if (!this.aside) return null;
    if (!existsSync(this.aside)) {
      try {
        writeFileSync(this.aside, '');
      } catch (e) {
        console.warn(`warning: --log ${this.path}: ${fsReason(e)} creating ${this.aside}; ${this.path} keeps the earlier run's steps (pass another --log to a --resume of this run)`);
        this.aside = null;
        return null;
      }
    }
    return { from: this.aside, to: this.path };
  }

  /**
   * The save that pendingMove named committed: the steps are in PATH from now on, unless the
   * move failed (recoverCheckpoint warned), when they stay aside for the next save to move.
   */
  moved(): void {
    if (this.aside && !existsSync(this.aside)) this.aside = null;
  }
}

/** the step an entry of ours logs; null for a line that is not one */
function entryStep(line: string): number | null {
  try {
    const s = JSON.parse(line)?.step;
    return typeof s === 'number' ? s : null;
  } catch {
    return null;
  }
}

/** the log's whole lines that are entries of ours */
const logEntries = (text: string) => text.split('\n').slice(0, -1).filter((l) => entryStep(l) !== null);

/** the log's whole lines, less the entries of steps after `step` */
function logUpTo(text: string, step: number): string {
  const lines = text.split('\n').slice(0, -1); // the last piece is '' or a line cut short
  return lines.filter((l) => {
    const s = entryStep(l);
    return !(s !== null && s > step); // a line not of ours is left as it is
  }).map((l) => l + '\n').join('');
}
