// The HTTP edge of the server (node:http): routes, the API key, body size and time limits, JSON
// and server-sent-event responses, one log line per request, and a clean stop. What a request
// means is src/server/api.ts; who runs it is src/server/scheduler.ts; the chat page at `/` and
// the model files it downloads come from src/server/static.ts.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import {
  ApiError, chatChunk, chatCompletion, finishReason, modelList, modelObject, parseChatRequest, parseCompletionRequest,
  textCompletion, usage, usageChunk, type GenerationRequest, type Head, type ModelInfo,
} from './api.ts';
import type { Scheduler } from './scheduler.ts';
import { staticHandler } from './static.ts';

export interface HttpOptions {
  model: ModelInfo;
  scheduler: Scheduler;
  /** when set, /v1/* needs `Authorization: Bearer <apiKey>` */
  apiKey?: string;
  /** largest request body in bytes (default 1 MiB) */
  maxBodyBytes?: number;
  /** ms a client has to send a whole request, headers and body (default 30 s) */
  requestTimeoutMs?: number;
  /** ms a client has to send the headers (default 10 s) */
  headersTimeoutMs?: number;
  /** the chat page's files (default: dist/page beside the bundle; see static.ts) */
  pageRoot?: string;
  /** the model directory the page may download (/model/...); null or absent: none */
  modelDir?: string | null;
  /** the LoRA adapter directory merged into that model (/model/adapter/...); null or absent: none */
  adapterDir?: string | null;
  /** one line per request, and the server's own notices */
  log?: (line: string) => void;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const CORS = { 'Access-Control-Allow-Origin': '*' };

/** what the log line reports about a request */
/** what a request's log line reports besides its status */
interface RequestLog {
  prompt: number; completion: number; note: string;
  /** a reply being generated: a client that leaves is logged when it ends, with the tokens it got */
  generating: boolean;
  whenDone: (() => void) | null;
}

export class ApiServer {
  readonly server: Server;
  private stopping = false;
  private readonly log: (line: string) => void;
  private readonly page: ReturnType<typeof staticHandler>;

  constructor(readonly o: HttpOptions) {
    this.log = o.log ?? (() => {});
    this.page = staticHandler({ root: o.pageRoot, modelDir: o.modelDir ?? null, adapterDir: o.adapterDir ?? null });
    const requestTimeout = o.requestTimeoutMs ?? 30_000;
    this.server = createServer({
      requestTimeout,
      headersTimeout: Math.min(o.headersTimeoutMs ?? 10_000, requestTimeout),
      // how often the two timeouts above are checked (Node's default is 30 s)
      connectionsCheckingInterval: Math.max(50, Math.min(1000, requestTimeout / 4)),
    }, (req, res) => void this.handle(req, res));
    // a client that sends garbage instead of HTTP gets a 400 and the connection is closed
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      if (socket.writable && !socket.destroyed) {
        const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
        socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      }
      socket.destroy();
    });
  }

  /** Listen; resolves with the base URL (port 0 = any free port). */
  listen(port: number, host: string): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const a = this.server.address() as AddressInfo;
        resolve(`http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`);
      });
    });
  }

  /**
   * Stop: no new connections, new requests on open ones get 503; requests in flight may finish
   * for up to graceMs, then the replies still running are cut at the next token (finish_reason
   * "length") and those still waiting get 503. Resolves once every connection is closed.
   */
  async close(graceMs: number): Promise<void> {
    this.stopping = true;
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeIdleConnections();
    const s = this.o.scheduler;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([s.idle(), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    s.cancelAll();
    await s.idle();
    // responses are written; connections kept alive by clients are closed now
    setTimeout(() => this.server.closeAllConnections(), 200).unref();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = performance.now();
    const path = (req.url ?? '/').split('?')[0];
    const rec: RequestLog = { prompt: 0, completion: 0, note: '', generating: false, whenDone: null };
    res.on('close', () => {
      const gone = res.writableFinished ? '' : ' (client closed the connection)';
      const ms = (performance.now() - t0).toFixed(0);
      const line = () => {
        const tokens = rec.prompt || rec.completion ? ` prompt=${rec.prompt} completion=${rec.completion}` : '';
        this.log(`${req.method} ${path.slice(0, 200)} ${res.statusCode}${tokens} ${ms}ms${rec.note}${gone}`);
      };
      if (rec.generating) rec.whenDone = line;
      else line();
    });
    try {
      await this.route(req, res, path, rec);
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(500, 'The server had an error while processing your request.', null, null, 'server_error');
      if (!(e instanceof ApiError)) this.log(`error: ${(e as Error)?.stack ?? e}`);
      if (err.status === 413) res.setHeader('Connection', 'close'); // the rest of the body is not read
      rec.note += ` (${err.code ?? err.type}: ${err.message.slice(0, 160)})`; // the log says what was wrong
      sendJson(res, err.status, err.body());
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse, path: string, rec: RequestLog): Promise<void> {
    const method = req.method ?? 'GET';
    const api = path === '/health' || path.startsWith('/v1/');
    if (method === 'OPTIONS') {
      res.writeHead(204, { ...CORS, 'Access-Control-Allow-Methods': 'GET, POST, OPTIONS', 'Access-Control-Allow-Headers': 'Authorization, Content-Type', 'Access-Control-Max-Age': '600' });
      res.end();
      return;
    }
    if (!api) {
      if (this.page(req, res)) return; // GET and HEAD: the page's files and the model's, or its 404
      throw new ApiError(405, `Method ${method} is not allowed on ${path}.`, null, 'method_not_allowed');
    }
    const m = this.o.model;
    const allow = (methods: string[]) => {
      if (methods.includes(method)) return;
      res.setHeader('Allow', methods.join(', '));
      throw new ApiError(405, `Method ${method} is not allowed on ${path}; use ${methods.join(' or ')}.`, null, 'method_not_allowed');
    };
    if (path === '/health') {
      allow(['GET']);
      const s = this.o.scheduler;
      sendJson(res, 200, { status: this.stopping ? 'stopping' : 'ok', model: m.id, active: s.active, queued: s.queued, max_batch: s.gen.slots });
      return;
    }
    this.authorize(req);
    if (path === '/v1/models') {
      allow(['GET']);
      sendJson(res, 200, modelList(m));
    } else if (path.startsWith('/v1/models/')) {
      allow(['GET']);
      const raw = path.slice('/v1/models/'.length);
      let id = raw;
      try { id = decodeURIComponent(raw); } catch { /* not percent-encoding: the id as sent */ }
      if (id !== m.id) throw new ApiError(404, `The model '${id}' does not exist; this server has '${m.id}'.`, 'model', 'model_not_found');
      sendJson(res, 200, modelObject(m));
    } else if (path === '/v1/chat/completions' || path === '/v1/completions') {
      allow(['POST']);
      const chat = path === '/v1/chat/completions';
      const body = parseJson(await readBody(req, this.o.maxBodyBytes ?? 1 << 20));
      const seed = () => randomBytes(4).readUInt32LE(0);
      const r = chat ? parseChatRequest(body, m, seed) : parseCompletionRequest(body, m, seed);
      if (this.stopping) throw shuttingDown();
      rec.prompt = r.prompt.length;
      if (r.droppedExchanges) rec.note = ` (dropped ${r.droppedExchanges} old exchange${r.droppedExchanges === 1 ? '' : 's'})`;
      this.generate(req, res, r, rec, { id: `${chat ? 'chatcmpl' : 'cmpl'}-${randomBytes(12).toString('hex')}`, created: Math.floor(Date.now() / 1000), model: m.id });
    } else {
      throw notFound(method, path);
    }
  }

  private authorize(req: IncomingMessage): void {
    const key = this.o.apiKey;
    if (!key) return;
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (!m) throw new ApiError(401, "You didn't provide an API key. Send it in the Authorization header: 'Authorization: Bearer YOUR_KEY'.", null, 'invalid_api_key');
    const given = Buffer.from(m[1].trim()), want = Buffer.from(key);
    if (given.length !== want.length || !timingSafeEqual(given, want)) throw new ApiError(401, 'Incorrect API key provided.', null, 'invalid_api_key');
  }

  /** Queue the request and answer it: one JSON object at the end, or a stream of chunks. */
  private generate(req: IncomingMessage, res: ServerResponse, r: GenerationRequest, rec: RequestLog, head: Head): void {
    const chat = r.kind === 'chat';
    const send = (o: unknown) => res.write(`data: ${JSON.stringify(o)}\n\n`);
    let started = !chat; // chat: the reply's leading space belongs to the format, not the content (as chat.js prints it)
    const visible = (s: string) => {
      if (!started) {
        s = s.replace(/^\s+/, '');
        started = s.length > 0;
      }
      return s;
    };
    const ended = () => {
      rec.generating = false;
      rec.whenDone?.();
      rec.whenDone = null;
    };
    const ticket = this.o.scheduler.submit({
      prompt: r.prompt,
      reply: r.reply,
      events: {
        onText: (s) => {
          const piece = visible(s);
          if (!r.stream || !piece || res.destroyed) return;
          send(chat ? chatChunk(head, { content: piece }, null, r.includeUsage) : textCompletion(head, piece, null));
        },
        onEnd: ({ reason, text, completionTokens }) => {
          rec.completion = completionTokens;
          ended();
          if (res.destroyed || res.writableEnded) return;
          const finish = finishReason(reason);
          const u = usage(r.prompt.length, completionTokens);
          if (r.stream) {
            send(chat ? chatChunk(head, {}, finish, r.includeUsage) : textCompletion(head, '', finish));
            if (r.includeUsage) send(usageChunk(head, chat ? 'chat.completion.chunk' : 'text_completion', u));
            res.end('data: [DONE]\n\n');
          } else if (reason === 'abort' && this.stopping && completionTokens === 0) {
            sendJson(res, 503, shuttingDown().body());
          } else {
            const content = chat ? text.replace(/^\s+/, '') : text;
            sendJson(res, 200, chat ? chatCompletion(head, content, finish, u) : textCompletion(head, content, finish, u));
          }
        },
        onError: (e) => {
          this.log(`error: ${e.stack ?? e.message}`);
          ended();
          const err = new ApiError(500, `The model failed: ${e.message}`, null, null, 'server_error');
          if (res.destroyed || res.writableEnded) return;
          if (res.headersSent) res.end(`data: ${JSON.stringify(err.body())}\n\n`);
          else sendJson(res, 500, err.body());
        },
      },
    });
    rec.generating = !!ticket;
    if (!ticket) throw new ApiError(503, `The server is busy: ${this.o.scheduler.queued} requests are waiting. Retry later.`, null, 'queue_full', 'server_error');
    // a client that goes away frees its slot at the next step
    res.on('close', () => ticket.cancel());
    req.on('error', () => ticket.cancel());
    if (r.stream) {
      res.writeHead(200, { ...CORS, 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
      send(chat ? chatChunk(head, { role: 'assistant', content: '' }, null, r.includeUsage) : textCompletion(head, '', null));
    }
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const data = `${JSON.stringify(body)}\n`; // a newline, so that curl's output ends its line
  res.writeHead(status, { ...CORS, 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(data) });
  res.end(data);
}

const notFound = (method: string, path: string) => new ApiError(404, `Unknown request URL: ${method} ${path.slice(0, 200)}.`, null, 'unknown_url');
const shuttingDown = () => new ApiError(503, 'The server is shutting down.', null, 'server_shutting_down', 'server_error');

/** the request body, at most `max` bytes (413 beyond; the client hanging up ends the request silently) */
function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const tooLarge = () => new ApiError(413, `The request body is larger than ${max} bytes.`, null, 'request_too_large');
  if (Number(req.headers['content-length'] ?? 0) > max) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    req.on('data', (b: Buffer) => {
      n += b.length;
      if (n > max) {
        req.removeAllListeners('data');
        req.pause();
        reject(tooLarge());
      } else parts.push(b);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
    req.on('close', () => reject(new ApiError(400, 'The client closed the connection before sending the whole body.')));
  });
}

function parseJson(b: Buffer): unknown {
  try {
    return JSON.parse(b.toString('utf8'));
  } catch {
    throw new ApiError(400, 'We could not parse the JSON body of your request. (HINT: the body must be JSON, e.g. {"messages": [{"role": "user", "content": "Hi"}]}.)', null, 'invalid_json');
  }
}
