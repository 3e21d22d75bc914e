// Finds OpenAI's GPT-2 weights on disk (GPT2_DIR, the Hugging Face cache, our own cache) or
// downloads them from the Hugging Face hub into our cache.
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, sep } from 'node:path';
import { UserError } from '../util/errors.ts';
import { parseConfig } from '../model/config.ts';
import { readSafetensors } from './safetensors.ts';

const FILES = ['config.json', 'model.safetensors'];
const SIZES = ['gpt2', 'gpt2-medium', 'gpt2-large', 'gpt2-xl'];

/** OpenAI's GPT-2 as Hugging Face names it ('openai-community/gpt2') by the name this engine gives it ('gpt2'): one cache whichever way it was named */
export const withoutHubOwner = (name: string): string => name.replace(/^openai-community\//, '');

/** Hugging Face repo id for a model name: 'gpt2' -> 'openai-community/gpt2'; 'owner/name' as is */
export function hubRepo(model: string): string {
  if (model.includes('/')) return model;
  if (SIZES.includes(model)) return `openai-community/${model}`;
  throw new UserError(`unknown model '${model}': use one of ${SIZES.join(', ')} or a Hugging Face repo id (owner/name)`);
}

const hasModel = (dir: string) => FILES.every((f) => existsSync(join(dir, f)));

/**
 * a path from the environment as huggingface_hub reads one (expanduser, then expandvars): a
 * leading ~ is the home directory, $VAR and ${VAR} a set variable's value ('HF_HOME="~/hf"' in a
 * .env file or a container's settings, where no shell expanded it)
 */
function expandPath(path: string): string {
  const home = path === '~' || path.startsWith('~/') || path.startsWith(`~${sep}`) ? homedir() + path.slice(1) : path;
  return home.replace(/\$(\w+|\{[^}]*\})/g, (all, name: string) => process.env[name.replace(/^\{|\}$/g, '')] ?? all);
}

/** $XDG_CACHE_HOME, expanded (before any join: path.join would fold '$HOME/..' or '~/..' away), else ~/.cache */
const cacheHome = () => (process.env.XDG_CACHE_HOME ? expandPath(process.env.XDG_CACHE_HOME) : join(homedir(), '.cache'));

/** the Hugging Face hub cache, found as huggingface_hub finds it (an empty variable counts as unset) */
function hfHubCache(): string {
  const env = process.env;
  const home = env.HF_HOME ? expandPath(env.HF_HOME) : join(cacheHome(), 'huggingface');
  // HUGGINGFACE_HUB_CACHE: huggingface_hub's older name, still read
  return expandPath(env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE || join(home, 'hub'));
}

/** a complete snapshot of `repo` in the Hugging Face hub cache: refs/main first, then the newest */
function findInHfCache(repo: string): string | null {
  const hubCache = hfHubCache();
  const folders = [`models--${repo.replace('/', '--')}`];
  // the same weights were cached under the legacy id 'gpt2' before the move to openai-community/
  if (repo.startsWith('openai-community/')) folders.push(`models--${repo.slice('openai-community/'.length)}`);
  for (const folder of folders) {
    const snapshots = join(hubCache, folder, 'snapshots');
    try {
      if (!existsSync(snapshots)) continue;
      const main = join(hubCache, folder, 'refs', 'main');
      const ref = existsSync(main) ? readFileSync(main, 'utf8').trim() : '';
      const mtime = (rev: string) => statSync(join(snapshots, rev)).mtimeMs;
      const revs = readdirSync(snapshots).sort((a, b) => mtime(b) - mtime(a));
      for (const rev of ref ? [ref, ...revs.filter((r) => r !== ref)] : revs) {
        if (hasModel(join(snapshots, rev))) return join(snapshots, rev);
      }
    } catch {
      // an unreadable cache is as good as none
    }
  }
  return null;
}

/** our own download cache for `model` */
export function gpt2CacheDir(model: string): string {
  return join(cacheHome(), 'gpt2-webgpu', model.replace(/\//g, '--'));
}

/**
 * Ensures GPT-2 weights are on disk and returns the directory holding config.json +
 * model.safetensors. `model`: gpt2, gpt2-medium, gpt2-large, gpt2-xl (openai-community/NAME) or a
 * repo id 'owner/name'. Looks in $GPT2_DIR (when set it wins whatever `model` is, and must be
 * complete), the Hugging Face cache
 * (hfHubCache), then our cache (~/.cache/gpt2-webgpu/MODEL,
 * honoring XDG_CACHE_HOME, expanded as the HF cache's variables are); otherwise downloads $HF_ENDPOINT/REPO/resolve/main/FILE into our
 * cache (each file to a .part file, checked, then renamed), with a progress line on stderr.
 * Fails fast (no response within `timeoutMs`, default 15 s; HF_HUB_OFFLINE=1) with a one-line
 * UserError saying why and how to provide the weights instead.
 */
export async function ensureGPT2(model: string, { timeoutMs = 15_000 }: { timeoutMs?: number } = {}): Promise<string> {
  const given = process.env.GPT2_DIR;
  if (given) {
    if (!hasModel(given)) throw new UserError(`GPT2_DIR=${given} does not hold both config.json and model.safetensors`);
    return given;
  }
  const repo = hubRepo(model);
  const cached = findInHfCache(repo);
  if (cached) return cached;
  const dir = gpt2CacheDir(model);
  if (hasModel(dir)) return dir;

  const endpoint = (process.env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '');
  const base = `${endpoint}/${repo}/resolve/main`;
  try {
    if (process.env.HF_HUB_OFFLINE === '1') throw new Error('HF_HUB_OFFLINE=1 is set');
    mkdirSync(dir, { recursive: true });
    for (const file of FILES) {
      if (existsSync(join(dir, file))) continue;
      await download(`${base}/${file}`, join(dir, file), timeoutMs, file === 'model.safetensors' ? `${model}/${file}` : null, (part) =>
        file === 'config.json' ? parseConfig(readFileSync(part, 'utf8'), `${base}/${file}`) : readSafetensors(part).close(),
      );
    }
  } catch (e) {
    throw new UserError(
      `could not download the ${model} weights from ${base}: ${(e as Error).message}. Provide them with --init DIR ` +
        `(a directory holding config.json + model.safetensors) or GPT2_DIR=DIR.`,
    );
  }
  return dir;
}

/**
 * GET `url` into `dest` via a .part file: no response within timeoutMs (or a stall that long
 * mid-body) aborts; `check` validates the finished .part file before the rename.
 */
async function download(url: string, dest: string, timeoutMs: number, label: string | null, check: (part: string) => unknown): Promise<void> {
  const part = `${dest}.${process.pid}.part`;
  const ac = new AbortController();
  let stalled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => ((stalled = true), ac.abort()), timeoutMs);
  };
  let fd = -1, done = 0, total = 0;
  try {
    arm();
    const res = await fetch(url, { signal: ac.signal, redirect: 'follow' });
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status} ${res.statusText} for ${url}`);
    total = Number(res.headers.get('content-length')) || 0;
    const progress = label ? progressLine(label, total) : null;
    fd = openSync(part, 'w');
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        arm();
        for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off);
        done += chunk.length;
        progress?.(done, false);
      }
    } finally {
      progress?.(done, true);
    }
    clearTimeout(timer);
    closeSync(fd);
    fd = -1;
    if (total && done !== total) throw new Error(`${url} ended after ${done} of ${total} bytes`);
    check(part);
    renameSync(part, dest);
  } catch (e) {
    if (stalled) throw new Error(`no data from ${url} within ${timeoutMs / 1000} s (offline?)`);
    const where = done && !(e instanceof UserError) ? ` after ${done} of ${total || '?'} bytes of ${url}` : '';
    throw new Error(describe(e) + where);
  } finally {
    clearTimeout(timer);
    if (fd >= 0) closeSync(fd);
    rmSync(part, { force: true });
  }
}

/** fetch's 'fetch failed' / 'terminated' hide the reason in .cause (ECONNREFUSED, ENOTFOUND, other side closed...) */
function describe(e: unknown): string {
  const err = e as Error & { cause?: Error & { code?: string; errors?: { message: string }[] } };
  const c = err.cause;
  if (!c || (err.message !== 'fetch failed' && err.message !== 'terminated')) return err.message;
  const why = c.message || c.errors?.[0]?.message || c.code || '';
  return err.message === 'terminated' ? `the connection broke${why ? ` (${why})` : ''}` : why || err.message;
}

/** progress reporter: a rewritten line on a terminal, a line every 10 s otherwise */
function progressLine(label: string, total: number): (done: number, last: boolean) => void {
  const t0 = performance.now(), tty = process.stderr.isTTY;
  let shown = -Infinity;
  return (done, last) => {
    const now = performance.now();
    if (!last && now - shown < (tty ? 250 : 10_000)) return;
    shown = now;
    // the unit once and one decimal always (not megabytes()): a progress line that does not jump as it counts
    const mb = (b: number) => (b / 1e6).toFixed(1), rate = done / Math.max((now - t0) / 1000, 1e-3);
    const eta = total && !last ? `, ETA ${Math.ceil((total - done) / Math.max(rate, 1))} s` : '';
    const line = `downloading ${label}: ${mb(done)}${total ? ` / ${mb(total)}` : ''} MB, ${mb(rate)} MB/s${eta}`;
    process.stderr.write(tty ? `\r${line}\x1b[K${last ? '\n' : ''}` : `${line}\n`);
  };
}
