// Model files for the page: fetched once with progress, kept in the browser's Cache API, and
// on later visits taken from the cache after a HEAD request shows the server's copy is the same
// (same ETag, or same size where there is none), so a reload does not download again.
const CACHE = 'gpt2-webgpu-models';

export interface Progress {
  loaded: number;
  /** null when the server did not say */
  total: number | null;
  /** taken from the cache, nothing downloaded */
  cached: boolean;
}

/** a fetch that failed, said for the page: which file, and the server's status */
export class DownloadError extends Error {}

const version = (h: Headers) => h.get('etag') || `size ${h.get('content-length')}`;

/** The bytes of `url`, from the cache when the server still has the same file; `onProgress` as they arrive. */
export async function fetchCached(url: string, onProgress: (p: Progress) => void): Promise<Uint8Array> {
  const cache = await openCache();
  const hit = await cache?.match(url);
  if (hit && (await unchanged(url, hit))) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    onProgress({ loaded: bytes.length, total: bytes.length, cached: true });
    return bytes;
  }
  const res = await get(url);
  const bytes = await readAll(res, onProgress);
  if (cache) {
    const etag = res.headers.get('etag');
    const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length), ...(etag ? { ETag: etag } : {}) };
    // a full disk or quota only costs the next visit a download
    await cache.put(url, new Response(bytes, { headers })).catch((e) => console.warn(`not cached: ${url}: ${(e as Error).message}`));
  }
  return bytes;
}

/** A small text file, always asked for again (it says which model this is). */
export async function fetchText(url: string): Promise<string> {
  return (await get(url)).text();
}

async function openCache(): Promise<Cache | null> {
  try {
    return 'caches' in globalThis ? await caches.open(CACHE) : null; // none outside a secure context
  } catch {
    return null;
  }
}

/** the server's file is the cached one; offline (HEAD fails) the cached copy is used */
async function unchanged(url: string, hit: Response): Promise<boolean> {
  try {
    const head = await fetch(url, { method: 'HEAD', cache: 'no-store' });
    return !head.ok || version(head.headers) === version(hit.headers);
  } catch {
    return true;
  }
}

async function get(url: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { cache: 'no-store' });
  } catch (e) {
    throw new DownloadError(`could not fetch ${url} (${(e as Error).message}): is the server running?`);
  }
  if (!res.ok) {
    const why = res.status === 404 ? 'not found: the server has no model to download' : `HTTP ${res.status} ${res.statusText}`;
    throw new DownloadError(`${url}: ${why}`);
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
