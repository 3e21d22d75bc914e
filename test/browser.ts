// The page in a real browser, for the page tests: the system's Chromium (no browser download)
// driven by playwright-core, headless, with WebGPU on its built-in SwiftShader adapter when
// there is no GPU; the page served on 127.0.0.1 by the same static handler serve.js mounts.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { staticHandler } from '../src/server/static.ts';
import { ROOT } from './child.ts';

/** the system Chromium: $CHROMIUM, or Debian's /usr/bin/chromium (npm run setup installs it) */
export function chromiumPath(): string {
  const path = process.env.CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));
  if (!path || !existsSync(path)) throw new Error('no Chromium found (/usr/bin/chromium): run `npm run setup`, or set CHROMIUM to a Chromium or Chrome binary');
  return path;
}

/** Headless Chromium; `webgpu` false starts it without --enable-unsafe-webgpu (as Linux browsers are: navigator.gpu is there, but no adapter). */
export function launch({ webgpu }: { webgpu: boolean }): Promise<Browser> {
  const args = ['--no-sandbox', '--headless=new', ...(webgpu ? ['--enable-unsafe-webgpu'] : [])];
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args, timeout: 60_000 });
}

export interface PageServer {
  url: string;
  /** requests seen so far, as `METHOD /path` */
  requests: string[];
  close(): Promise<void>;
}

/**
 * dist/page and `modelDir` (as /model/*) on 127.0.0.1 at a free port, and `files` (URL path → file,
 * e.g. an adapter somewhere else than /model/adapter/, for ?adapter=); anything else is a 404.
 */
export async function servePage(modelDir: string | null, files: Record<string, string> = {}): Promise<PageServer> {
  const handle = staticHandler({ root: join(ROOT, 'dist/page'), modelDir });
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const file = files[(req.url ?? '').split('?')[0]];
    if (file && (req.method === 'GET' || req.method === 'HEAD')) {
      const body = readFileSync(file);
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
      return void res.end(req.method === 'GET' ? body : undefined);
    }
    if (handle(req, res)) return;
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}`, type: 'invalid_request_error', param: null, code: null } }));
  });
  return listening(server, requests);
}

/**
 * A plain static host for `dir` (no serve.js: no API, no X-Model-* headers, no ETags), as a
 * deployer's; a missing file is a 404, or with `missing: 'page'` index.html with 200, as hosts
 * that serve a single-page app do (Cloudflare Pages without a 404.html, rewrites to /).
 */
export async function serveFolder(dir: string, { missing = '404' }: { missing?: '404' | 'page' } = {}): Promise<PageServer> {
  const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json' };
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]);
    let file = join(dir, path === '/' ? 'index.html' : path);
    if (path.includes('..') || !existsSync(file) || statSync(file).isDirectory()) {
      if (missing === '404') return void res.writeHead(404, { 'Content-Type': 'text/html' }).end('<h1>404 Not Found</h1>');
      file = join(dir, 'index.html');
    }
    const body = readFileSync(file);
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  return listening(server, requests);
}

async function listening(server: Server, requests: string[]): Promise<PageServer> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`, requests,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Resolves once document.body.dataset.state is `want` (and `also`, when given, holds in the page); rejects on 'error' unless that is wanted. */
export async function waitForState(page: Page, want: string, also = 'true', timeoutMs = 240_000): Promise<void> {
  await page.waitForFunction(({ want, also }) => {
    const doc = (globalThis as unknown as { document: { body: { dataset: Record<string, string> }; getElementById(id: string): { textContent: string } | null } }).document;
    const s = doc.body.dataset.state;
    if (s === 'error' && want !== 'error') throw new Error(`the page is in state 'error': ${doc.getElementById('notice')?.textContent}`);
    return s === want && (0, eval)(also);
  }, { want, also }, { timeout: timeoutMs, polling: 100 });
}

/** Type `text` into textarea#message, press Enter, and wait for the reply to finish; returns the last `.msg.bot` text. */
export async function ask(page: Page, text: string): Promise<string> {
  const before = await page.locator('#log .msg.bot').count();
  await page.fill('#message', text);
  await page.press('#message', 'Enter');
  await waitForState(page, 'ready', `document.querySelectorAll('#log .msg.bot').length === ${before + 1} && !document.querySelector('#log .streaming')`);
  return (await page.locator('#log .msg.bot').last().textContent()) ?? '';
}

/** what the page logged to its console and its uncaught errors, for failure messages */
export function pageLog(page: Page): string[] {
  const lines: string[] = [];
  page.on('console', (m) => lines.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => lines.push(`pageerror: ${e.message}`));
  return lines;
}
