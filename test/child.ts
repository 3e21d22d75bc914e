// The commands as child processes, for the end-to-end tests: start, wait for output, signal,
// and check the one-line errors. Needs dist/ built (npm test does that).
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// test files are bundled into dist/test*.js, so the repository root is one level up
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface Done { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }
export interface Proc { child: ChildProcess; done: Promise<Done>; stdout: () => string; stderr: () => string }

export interface StartOptions {
  timeoutMs?: number;
  cwd?: string;
  /** a file descriptor for the child's stdout instead of a pipe (e.g. /dev/full) */
  stdoutFd?: number;
  /** shell commands run first in a private mount namespace (see cannotMount) */
  mounts?: string;
  /** shell commands run in that namespace after the command (e.g. to copy files out of a tmpfs) */
  after?: string;
  /** environment changes for the child (undefined removes a variable) */
  env?: Record<string, string | undefined>;
}

/** node dist/NAME.js ARGS in the repo root; killed (and the test failed) if it outlives timeoutMs */
export function start(name: 'train' | 'chat' | 'serve' | 'eval', args: string[], o: StartOptions = {}): Proc {
  const timeoutMs = o.timeoutMs ?? 120_000;
  const script = join(ROOT, 'dist', `${name}.js`);
  if (!existsSync(script)) throw new Error(`${script} is missing: build first (node scripts/build.mjs)`);
  const env = { ...process.env };
  delete env.DEBUG; // DEBUG turns the one-line errors into stack traces
  delete env.WEBGPU_PROFILE;
  for (const [k, v] of Object.entries(o.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  if (o.mounts && cannotMount()) throw new Error(cannotMount()!);
  const [cmd, argv] = o.mounts
    ? ['unshare', [...UNSHARE_ARGS, 'sh', '-c', `${o.mounts} || exit 97; ${o.after ? `"$0" "$@"; rc=$?; ${o.after}; exit $rc` : 'exec "$0" "$@"'}`, process.execPath, script, ...args]]
    : [process.execPath, [script, ...args]];
  const child = spawn(cmd, argv, { cwd: o.cwd ?? ROOT, env, stdio: ['pipe', o.stdoutFd ?? 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<Done>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node dist/${name}.js ${args.join(' ')}: still running after ${timeoutMs / 1000} s (killed)\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    // a command that fails its flag checks can exit before the test writes to (or closes) its
    // stdin; the write then fails with EPIPE, which is no fault of the command's: its exit code
    // and output are what the test checks. Unhandled, that error ended the whole test run.
    child.stdin?.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE' || e.code === 'ECONNRESET') return;
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done, stdout: () => stdout, stderr: () => stderr };
}

/** run to the end with stdin closed (or fed `input` and closed) */
export function run(name: 'train' | 'chat' | 'eval', args: string[], input = '', o: StartOptions = {}): Promise<Done> {
  const p = start(name, args, o);
  p.child.stdin!.end(input);
  return p.done;
}

/** resolves once stdout matches `re`; rejects if the process ends first */
export const waitForStdout = (p: Proc, re: RegExp): Promise<void> => waitForOutput(p, 'stdout', re);

/** resolves once the child's `which` matches `re`; rejects if the process ends first */
export function waitForOutput(p: Proc, which: 'stdout' | 'stderr', re: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (re.test(p[which]())) {
        p.child[which]!.off('data', check);
        resolve();
      }
    };
    p.child[which]!.on('data', check);
    p.done.then((d) => reject(new Error(`exited (code ${d.code}) before printing ${re} on ${which}\nstdout: ${d.stdout}\nstderr: ${d.stderr}`)), reject);
    check();
  });
}

/** stderr without Dawn's 'Warning: ...' adapter-limit lines */
export const stderrLines = (s: string) => s.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('Warning:'));

export function assertOk(r: Done, what: string): void {
  assert.is(r.code, 0, `${what}: exit code ${r.code} (signal ${r.signal})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

/** exit code 1 and exactly one `error: ...` line on stderr matching every pattern, no stack trace */
export function assertOneLineError(r: Done, patterns: RegExp[], what: string): void {
  assert.is(r.code, 1, `${what}: exit code ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.not.match(r.stderr, /^ {4}at /m, `${what}: stack trace on stderr:\n${r.stderr}`);
  const lines = stderrLines(r.stderr);
  assert.is(lines.length, 1, `${what}: expected one line on stderr, got:\n${lines.join('\n')}`);
  assert.match(lines[0], /^error: \S/, what);
  for (const re of patterns) assert.match(lines[0], re, `${what}: '${lines[0]}' should match ${re}`);
}

// `step    3/4 | loss 10.0731 | val 10.6313 | lr 1.65e-3 | norm 3.00 | 234 ms | 183 tok/s | ETA 0s`
const PROGRESS = /^step +(\d+)\/~?(\d+) \| (?:loss (\d+\.\d{4})|skipped \(no target tokens\))(?: \| val (\d+\.\d{4}))? \| lr (\d\.\d\de[-+]\d+) \| norm \d+\.\d\d \| \d+ ms \| (\d+) tok\/s \| ETA (?:\d+s|\d+m\d\ds|\d+\.\dh)$/;
/** the progress lines of a train.js run */
export const progress = (stdout: string) =>
  stdout.split('\n').map((l) => PROGRESS.exec(l)).filter((m) => m !== null)
    .map((m) => ({ step: +m[1], of: +m[2], loss: m[3], val: m[4], lr: +m[5], tokPerS: +m[6] }));

// A private mount namespace (`unshare`), so a test can mount a read-only directory or a small
// tmpfs for one child process without root tricks that outlive it; null when this machine
// cannot make one (then such tests say so and skip).
const UNSHARE_ARGS = process.getuid?.() === 0 ? ['--mount'] : ['--user', '--map-root-user', '--mount'];
let UNSHARE: string | null | undefined;
/** null when mount namespaces work here, else why not (for the skip message) */
export function cannotMount(): string | null {
  if (UNSHARE === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'gpt2-mount-'));
    const r = spawnSync('unshare', [...UNSHARE_ARGS, 'sh', '-c', `mount -t tmpfs -o size=64k tmpfs '${dir}'`], { encoding: 'utf8' });
    rmSync(dir, { recursive: true, force: true });
    UNSHARE = r.status === 0 ? 'unshare' : null;
  }
  return UNSHARE ? null : 'cannot make a private mount namespace here (unshare --mount with a tmpfs failed)';
}
