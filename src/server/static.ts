// Files for the paths outside the API (GET/HEAD): `/` and whatever else lies under the static
// root (the browser page's build output). Without a root, or without an index.html in it, `/`
// is a short page that says where the API is. Paths never leave the root.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json; charset=utf-8', '.map': 'application/json; charset=utf-8',
  '.wgsl': 'text/plain; charset=utf-8', '.txt': 'text/plain; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.ico': 'image/x-icon', '.wasm': 'application/wasm',
};

const PLACEHOLDER = `<!doctype html>
<meta charset="utf-8">
<title>gpt2-webgpu server</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42em;margin:3em auto;padding:0 1em}code{background:#f3f3f3;padding:0 .2em}</style>
<h1>gpt2-webgpu server</h1>
<p>This server speaks the OpenAI API:</p>
<ul>
<li><code>POST /v1/chat/completions</code></li>
<li><code>POST /v1/completions</code></li>
<li><code>GET /v1/models</code>, <code>GET /health</code></li>
</ul>
<p>See the README's "Serve" section for examples.</p>
`;

/** Answer a GET/HEAD for `path` from `root`; false when there is nothing there (the caller answers 404). */
export function serveStatic(req: IncomingMessage, res: ServerResponse, path: string, root?: string): boolean {
  let rel: string;
  try {
    rel = decodeURIComponent(path);
  } catch {
    return false;
  }
  if (rel.includes('\0')) return false;
  if (rel.endsWith('/')) rel += 'index.html';
  const base = root ? resolve(root) : null;
  const file = base ? join(base, normalize(rel)) : null;
  if (base && file && (file === base || file.startsWith(base + sep)) && existsSync(file) && statSync(file).isFile()) {
    send(req, res, readFileSync(file), TYPES[extname(file)] ?? 'application/octet-stream');
    return true;
  }
  if (path === '/' || path === '/index.html') {
    send(req, res, Buffer.from(PLACEHOLDER), TYPES['.html']);
    return true;
  }
  return false;
}

function send(req: IncomingMessage, res: ServerResponse, data: Buffer, type: string): void {
  res.writeHead(200, { 'Content-Type': type, 'Content-Length': data.length, 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' });
  res.end(req.method === 'HEAD' ? undefined : data);
}
