// Model files for the page: fetched once with progress, kept in the browser's Cache API, and
// on later visits taken from the cache after a HEAD request shows the server's copy is the same
// (same ETag, or same size where there is none), so a reload does not download again. A file
// is kept in 64 MB parts under a small manifest: private windows refuse a single 500 MB entry.
import { isWebPage } from './web_page.ts';

const CACHE = 'gpt2-webgpu-models';
const PART = 64 << 20;
const partKey = (url: string, k: number) => `${url}${url.includes('?') ? '&' : '?'}gpt2-webgpu-part=${k}`;

/** what the cache holds for a file: the manifest entry's body */
interface Manifest { size: number; parts: number; version: string }

export interface Progress {
  loaded: number;
  /** null when the server did not say */
  total: number | null;
  /** taken from the cache, nothing downloaded */
  cached: boolean;
}

/** a fetch that failed, said for the page: which file, and the server's status */
export class DownloadError extends Error {
  /** `url`: what was fetched; `status`: the HTTP status of a refused request (404 also for a web page in the file's place), else 0 */
  constructor(message: string, readonly url = '', readonly status = 0) {
    super(message);
  }
}

const version = (h: Headers) => h.get('etag') || `size ${h.get('content-length')}`;

export async function fetchCached(url: string, onProgress: (p: Progress) => void): Promise<Uint8Array>;
export async function fetchCached(url: string, onProgress: (p: Progress) => void, o: { missingOk: true }): Promise<Uint8Array | null>;
/** The bytes of `url`, from the cache when the server still has the same file; `onProgress` as they arrive; with missingOk, null when the server has none (404). */
export async function fetchCached(url: string, onProgress: (p: Progress) => void, o: { missingOk?: boolean } = {}): Promise<Uint8Array | null> {
  const cache = await openCache();
  const kept = cache ? await readCached(cache, url) : null;
  if (kept) {
    onProgress({ loaded: kept.length, total: kept.length, cached: true });
    return kept;
  }
  const res = o.missingOk ? await get(url, { missingOk: true }) : await get(url);
  if (!res) {
    // a model re-saved as shards leaves its old file in the cache: it is not coming back
    if (cache) await forget(cache, url);
    return null;
  }
  const bytes = await readAll(res, onProgress);
  if (cache) await writeCached(cache, url, bytes, version(res.headers));
  return bytes;
}

/** the cached copy of `url` when the server still has the same file (or cannot be asked), else null */
async function readCached(cache: Cache, url: string): Promise<Uint8Array | null> {
  try {
    const hit = await cache.match(url);
    if (!hit) return null;
    const m = (await hit.json()) as Manifest;
    if (!(await unchanged(url, m.version))) return null;
    const bytes = new Uint8Array(m.size);
    for (let k = 0; k < m.parts; k++) {
      const part = await cache.match(partKey(url, k));
      if (!part) return null;
      bytes.set(new Uint8Array(await part.arrayBuffer()), k * PART);
    }
    return bytes;
  } catch (e) {
    console.warn(`cached copy of ${url} unreadable (${(e as Error).message}); downloading it again`);
    return null;
  }
}

/** drop the cached copy of `url`, parts and manifest, if there is one */
async function forget(cache: Cache, url: string): Promise<void> {
  try {
    const hit = await cache.match(url);
    if (!hit) return;
    const m = (await hit.json()) as Manifest;
    await cache.delete(url);
    for (let k = 0; k < m.parts; k++) await cache.delete(partKey(url, k));
  } catch (e) {
    console.warn(`could not drop the cached copy of ${url}: ${(e as Error).message}`);
  }
}

/** keep `bytes` for the next visit: the parts first, the manifest last (a half-written copy has no manifest) */
async function writeCached(cache: Cache, url: string, bytes: Uint8Array, version: string): Promise<void> {
  const parts = Math.ceil(bytes.length / PART);
  try {
    await cache.delete(url);
    for (let k = 0; k < parts; k++) await cache.put(partKey(url, k), new Response(bytes.subarray(k * PART, (k + 1) * PART)));
    const m: Manifest = { size: bytes.length, parts, version };
    await cache.put(url, new Response(JSON.stringify(m), { headers: { 'Content-Type': 'application/json' } }));
  } catch (e) {
    // a full disk or quota only costs the next visit a download
    console.warn(`not cached: ${url}: ${(e as Error).message}`);
    for (let k = 0; k < parts; k++) await cache.delete(partKey(url, k)).catch(() => false);
  }
}

export interface TextFile { text: string; headers: Headers }
export async function fetchText(url: string): Promise<TextFile>;
export async function fetchText(url: string, o: { missingOk: true }): Promise<TextFile | null>;
/** A small text file and its response's headers, always asked for again (it says which model this is); with missingOk, null when the server has none (404). */
export async function fetchText(url: string, o: { missingOk?: boolean } = {}): Promise<TextFile | null> {
  const res = o.missingOk ? await get(url, { missingOk: true }) : await get(url);
  return res && { text: await res.text(), headers: res.headers };
}

async function openCache(): Promise<Cache | null> {
  try {
    return 'caches' in globalThis ? await caches.open(CACHE) : null; // none outside a secure context
  } catch {
    return null;
  }
}

/**
 * the server's file is the cached one; offline (HEAD fails) or a server that refuses HEAD, the
 * cached copy is used, but not once the server says it has no such file (404, 410): a model
 * re-saved as shards must not run on from its old file
 */
async function unchanged(url: string, cached: string): Promise<boolean> {
  try {
    const head = await fetch(url, { method: 'HEAD', cache: 'no-store' });
    if (head.status === 404 || head.status === 410) return false;
    return !head.ok || version(head.headers) === cached;
  } catch {
    return true;
  }
}

async function get(url: string): Promise<Response>;
async function get(url: string, o: { missingOk: true }): Promise<Response | null>;
/** GET `url`; with missingOk, null for a 404 */
async function get(url: string, o: { missingOk?: boolean } = {}): Promise<Response | null> {
  let res: Response;
  try {
    res = await fetch(url, { cache: 'no-store' });
  } catch (e) {
    throw new DownloadError(`could not fetch ${url} (${(e as Error).message}): is the server running?`, url);
  }
  // no model file is a web page: a host that answers a missing file with its page (200) has no such file
  const page = res.ok && isWebPage(res);
  if ((res.status === 404 || page) && o.missingOk) return null;
  if (page) throw new DownloadError(`${url}: not found on the server (it answered with a web page instead, as hosts that serve their page for missing files do)`, url, 404);
  if (!res.ok) {
    const why = res.status === 404 ? 'not found on the server' : `HTTP ${res.status} ${res.statusText}`;
    throw new DownloadError(`${url}: ${why}`, url, res.status);
  }
  return res;
}

/** the body into one array (sized up front when the length is known, so a 500 MB file is not held twice) */
async function readAll(res: Response, onProgress: (p: Progress) => void): Promise<Uint8Array> {
  const len = Number(res.headers.get('content-length'));
  const total = Number.isSafeInteger(len) && len > 0 && !res.headers.get('content-encoding') ? len : null;
  const reader = res.body!.getReader();
  let out = new Uint8Array(total ?? 1 << 20);
  let loaded = 0;
  onProgress({ loaded, total, cached: false });
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.length > out.length) {
      const grown = new Uint8Array(Math.max(out.length * 2, loaded + value.length));
      grown.set(out.subarray(0, loaded));
      out = grown;
    }
    out.set(value, loaded);
    loaded += value.length;
    onProgress({ loaded, total, cached: false });
  }
  if (total !== null && loaded !== total) throw new DownloadError(`${res.url}: the download stopped at ${loaded} of ${total} bytes; reload to try again`);
  return loaded === out.length ? out : out.slice(0, loaded);
}
