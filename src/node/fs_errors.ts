// File-system errors as a user reads them: the reason and the path, in one line.
import { readFileSync, statSync } from 'node:fs';
import { UserError } from '../util/errors.ts';

/** the errno code of a Node file-system error, or undefined for other errors */
export const errnoCode = (e: unknown): string | undefined => {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
};

/** 'read-only file system (EROFS)' from Node's "EROFS: read-only file system, mkdir '/x'" */
export function fsReason(e: unknown): string {
  const code = errnoCode(e);
  const m = /^E[A-Z0-9]+: ([^,]+)/.exec((e as Error)?.message ?? '');
  return code ? `${m ? m[1] : 'error'} (${code})` : String((e as Error)?.message ?? e);
}

/** a text file's contents; a UserError `PATH: no such file (ifMissing)`, or naming the reason */
export function readTextFile(path: string, ifMissing: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UserError(`${path}: ${errnoCode(e) === 'ENOENT' ? `no such file (${ifMissing})` : fsReason(e)}`);
  }
}

/** a file's size in bytes; 0 when it is missing or cannot be read */
export function fileBytes(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
