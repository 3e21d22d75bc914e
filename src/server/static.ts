// The chat page's files over HTTP, for node:http servers (serve.js mounts it at `/`): the
// page itself from dist/page/, and the model the server runs as /model/config.json and
// /model/model.safetensors (or a sharded save's /model/model.safetensors.index.json and the
// shards it names, under their names on disk; config.json's X-Model-Weights says which), with the LoRA adapter merged into it (if any) as
// /model/adapter/adapter_config.json and /model/adapter/adapter_model.safetensors, which the
// page downloads to run in the browser. GET and HEAD only; nothing outside those places is
// reachable (no `..`, no encoded slashes, no other file of the model or adapter directory). ETags let the page check its cached copy of the model without
// downloading it again.
import { createReadStream, readFileSync, statSync, type Stats } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, dirname, extname, isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Speakers } from '../data/format.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../model/peft.ts';
import { parseShardIndex, SHARD_INDEX, WEIGHTS } from '../model/safetensors.ts';
import { weightsLayout } from '../node/weights.ts';
import { ADAPTER_HEADER, SPEAKERS_HEADER, speakersHeaderValue, WEIGHTS_HEADER } from './page_headers.ts';

export interface StaticOptions {
  /** the page's files (default: dist/page beside the running bundle) */
  root?: string;
  /** the model directory (config.json + model.safetensors, or a sharded save's index and shards) the page may download; null: none */
  modelDir: string | null;
  /** the LoRA adapter directory (adapter_config.json + adapter_model.safetensors) merged into the model; null or absent: none */
  adapterDir?: string | null;
  /** the tags the server prompts the model with (sent with config.json, Human/Bot too: they win over the file's chat_speakers, as serve.js's --human/--bot do) */
  speakers?: Speakers;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8', '.json': 'application/json; charset=utf-8', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.ico': 'image/x-icon', '.txt': 'text/plain; charset=utf-8', '.safetensors': 'application/octet-stream',
};
const ADAPTER_FILES = new Set([ADAPTER_CONFIG, ADAPTER_WEIGHTS]);

/** dist/page, beside the bundle this code runs from (dist/serve.js, dist/test.js) */
export const defaultPageDir = (): string => join(dirname(fileURLToPath(import.meta.url)), 'page');

/**
 * A request handler for the page: returns false (and leaves the response alone) for requests
 * it does not serve (other methods, /v1/...), so the caller can route them; true once it has answered.
 */
export function staticHandler(o: StaticOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const root = resolve(o.root ?? defaultPageDir());
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const raw = (req.url ?? '/').split('?')[0];
    if (raw.startsWith('/v1/') || raw === '/health') return false;
    let path: string;
    try {
      path = decodeURIComponent(raw);
    } catch {
      return answer(res, 400, 'bad URL encoding');
    }
    // a name, not a path: no NUL, no backslash, no `..` or `.` segments, no encoded `/`
    if (/[\0\\]/.test(path) || raw.includes('%2f') || raw.includes('%2F') || path.split('/').some((s) => s === '..' || s === '.')) {
      return answer(res, 400, 'bad path');
    }
    if (path.startsWith('/model/adapter/')) {
      const name = path.slice('/model/adapter/'.length);
      if (!ADAPTER_FILES.has(name)) return answer(res, 404, 'not found (the adapter is /model/adapter/adapter_config.json and /model/adapter/adapter_model.safetensors)');
      if (!o.adapterDir) return answer(res, 404, 'this server has no LoRA adapter');
      return sendFile(req, res, join(o.adapterDir, name), name === ADAPTER_CONFIG ? withoutLocalPaths : undefined);
    }
    if (path.startsWith('/model/')) {
      const name = path.slice('/model/'.length);
      if (!o.modelDir) return answer(res, 404, 'this server has no model to download');
      // asked each time: a checkpoint saved since (one file or shards) is served at once
      const model = modelFiles(o.modelDir);
      if (!model.names.has(name)) return answer(res, 404, `not found (the model is /model/config.json and /model/${model.weights}${model.weights === SHARD_INDEX ? ' and the shards it names' : ''})`);
      const headers: Record<string, string> = {};
      if (name === 'config.json') {
        headers[WEIGHTS_HEADER] = model.weights;
        headers[ADAPTER_HEADER] = o.adapterDir ? 'adapter/' : 'none';
        if (o.speakers) headers[SPEAKERS_HEADER] = speakersHeaderValue(o.speakers);
      }
      return sendFile(req, res, join(o.modelDir, name), undefined, headers);
    }
    const file = resolve(root, `.${path === '/' ? '/index.html' : path}`);
    if (!file.startsWith(root + sep)) return answer(res, 400, 'bad path');
    return sendFile(req, res, file);
  };
}

/**
 * The files of model directory `dir` that /model/ serves: config.json and what its weights are
 * read from (`weights`), chosen as the Node side chooses (weightsLayout): model.safetensors, else
 * model.safetensors.index.json and the shards it names (those beside it only).
 */
function modelFiles(dir: string): { names: Set<string>; weights: string } {
  if (weightsLayout(dir) !== 'sharded') return { names: new Set(['config.json', WEIGHTS]), weights: WEIGHTS };
  let shards: string[] = [];
  try {
    shards = parseShardIndex(readFileSync(join(dir, SHARD_INDEX), 'utf8'), SHARD_INDEX).files.filter((f) => !f.includes('/'));
  } catch {
    // an unreadable or bad index: it is served as it is, and the page says what is wrong with it
  }
  return { names: new Set(['config.json', SHARD_INDEX, ...shards]), weights: SHARD_INDEX };
}

function answer(res: ServerResponse, status: number, text: string): true {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) + 1 });
  res.end(`${text}\n`);
  return true;
}

/** adapter_config.json names its base as a path on this machine: a visitor gets its last part only (a hub id stays) */
function withoutLocalPaths(bytes: Buffer): Buffer {
  try {
    const j = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    const base = j.base_model_name_or_path;
    if (typeof base !== 'string' || !isAbsolute(base)) return bytes;
    return Buffer.from(JSON.stringify({ ...j, base_model_name_or_path: basename(base) }, null, 2));
  } catch {
    return bytes; // not JSON: the page says what is wrong with it
  }
}

/** `file` with its ETag; `transform` changes a small file's bytes on the way out (same ETag: it follows the file) */
function sendFile(req: IncomingMessage, res: ServerResponse, file: string, transform?: (b: Buffer) => Buffer, extra: Record<string, string> = {}): true {
  let st: Stats;
  try {
    st = statSync(file);
  } catch {
    return answer(res, 404, 'not found');
  }
  if (!st.isFile()) return answer(res, 404, 'not found');
  const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
  const headers: Record<string, string | number> = {
    'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
    ETag: etag,
    'Last-Modified': st.mtime.toUTCString(),
    // always revalidate: a new build or a new checkpoint shows up at once, an unchanged one costs a 304
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
    ...extra,
  };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    res.end();
    return true;
  }
  if (transform) {
    let body: Buffer;
    try {
      body = transform(readFileSync(file));
    } catch {
      return answer(res, 404, 'not found');
    }
    res.writeHead(200, { ...headers, 'Content-Length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  }
  headers['Content-Length'] = st.size;
  if (req.method === 'HEAD') {
    res.writeHead(200, headers);
    res.end();
    return true;
  }
  const stream = createReadStream(file);
  stream.once('open', () => {
    res.writeHead(200, headers);
    stream.pipe(res);
  });
  stream.once('error', () => {
    if (!res.headersSent) answer(res, 404, 'not found');
    else res.destroy();
  });
  res.once('close', () => stream.destroy());
  return true;
}
