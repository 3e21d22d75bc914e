// How a CLI reports the error that ended it.
import { GpuValidationError } from '../gpu/index.ts';
import { UserError } from './errors.ts';

/**
 * UserErrors, GPU validation errors and file-system errors (a bad path) are the user's to
 * fix: one line, no stack (unless DEBUG is set); anything else prints its stack. Exit code 1.
 */
export function reportError(e: unknown): void {
  const err = e as Error & { code?: string };
  const oneLine = err instanceof UserError || err instanceof GpuValidationError || (typeof err?.code === 'string' && /^E[A-Z]+$/.test(err.code));
  console.error(`error: ${oneLine && !process.env.DEBUG ? err.message : (err?.stack ?? String(e))}`);
  process.exitCode = 1;
}
