// A lock file holding the pid of the trainer that writes something (--out's checkpoint, --log's
// file). A lock whose process is gone (a crash, kill -9) is stale and taken over.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { UserError } from '../util/errors.ts';
import { errnoCode } from './fs_errors.ts';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
};

/** the pid written in the lock file `path`, or null */
function lockPid(path: string): number | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const pid = Number.parseInt(text, 10);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

/**
 * The pid of the live process that holds the lock file `path`, or null. A lock with this
 * process's own pid is stale: its writer was an earlier process with the same pid (pid 1 again
 * after a container restarts).
 */
export function lockHolder(path: string): number | null {
  const pid = lockPid(path);
  return pid !== null && pid !== process.pid && alive(pid) ? pid : null;
}

/**
 * Take the lock file `path` for this process, taking over a stale one; a UserError of
 * `inUse(pid)` when a live process holds it (null: one appeared again while taking it over).
 * Returns the release.
 */
export function takeLock(path: string, inUse: (pid: number | null) => string): () => void {
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (e) {
      if (errnoCode(e) !== 'EEXIST') throw e;
      const owner = lockHolder(path);
      if (owner !== null || attempt > 0) throw new UserError(inUse(owner));
      rmSync(path, { force: true }); // stale: its trainer is gone
    }
  }
  // best effort: on a disk gone read-only the lock stays (stale once this process is gone), and the run's real error is the one to say
  return () => {
    try {
      if (lockPid(path) === process.pid) rmSync(path, { force: true });
    } catch {
      /* left */
    }
  };
}
