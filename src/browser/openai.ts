// A client for OpenAI's streaming Chat Completions API (POST /v1/chat/completions with
// stream: true): the page's "on the server" engine, talking to `node dist/serve.js` or any
// server that speaks the API. Server-sent events: `data: {chat.completion.chunk}` lines, each
// event ended by a blank line, the stream by `data: [DONE]`. Plain fetch: browsers and Node.
import { DROPPED_HEADER } from '../server/page_headers.ts';
import { isWebPage } from './web_page.ts';

export interface ChatMessage { role: 'system' | 'user' | 'assistant'; content: string }

/** Sampling parameters by their API names (top_k and repetition_penalty are extensions serve.js accepts). */
export interface CompletionParams {
  temperature?: number;
  top_p?: number;
  top_k?: number;
  repetition_penalty?: number;
  frequency_penalty?: number;
  seed?: number;
  max_tokens?: number;
}

export interface StreamedReply {
  content: string;
  /** 'stop' | 'length' | ...; null when the stream ended without one (aborted) */
  finishReason: string | null;
  /** old exchanges the server left out to fit the context (serve.js says so in a header; 0 when a server does not) */
  dropped: number;
  /** the token counts of the stream's last chunk (asked for with stream_options.include_usage); null when none came */
  usage: { prompt_tokens: number; completion_tokens: number } | null;
}

/** an error the server reported ({"error": {"message", "code", "param"}}), or a failed request */
export class ApiError extends Error {
  /** `said`: the server's own message, without the URL (the message names it); `param`: the request's field it is about, if it says */
  constructor(message: string, readonly status: number, readonly code: string | null = null, readonly said = message, readonly param: string | null = null) {
    super(message);
  }
}

/** can `key` travel in an Authorization header? (printable ASCII, no spaces: fetch refuses anything else, and Node reads headers as latin1) */
export const isSendableKey = (key: string) => /^[\x21-\x7e]+$/.test(key);

/** the Authorization header of a server started with --api-key ('' = none) */
const auth = (apiKey: string): Record<string, string> => (apiKey ? { Authorization: `Bearer ${apiKey}` } : {});

/** a model GET /v1/models lists */
export interface ListedModel {
  id: string;
  /** its context in tokens, where the server says it (serve.js and OpenRouter: context_length; vLLM: max_model_len), else null */
  contextLength: number | null;
}

/** The models the server offers (GET /v1/models), to check it is there and to name one in requests; `apiKey` as the server wants it. */
export async function listModels(base: string, { signal, apiKey = '' }: { signal?: AbortSignal; apiKey?: string } = {}): Promise<ListedModel[]> {
  const res = await request(`${base}/v1/models`, { signal, headers: auth(apiKey) });
  const body = (await res.json()) as { data?: { id?: unknown; context_length?: unknown; max_model_len?: unknown }[] };
  const tokens = (v: unknown) => (Number.isSafeInteger(v) && (v as number) > 0 ? (v as number) : null);
  return (body.data ?? []).map((m) => ({ id: String(m.id), contextLength: tokens(m.context_length) ?? tokens(m.max_model_len) }));
}

/**
 * Streams one reply: `onDelta` gets each piece of content as it arrives. Resolves when the
 * server sends [DONE] (or closes the stream); `signal` aborts the request (then finishReason
 * is null and the content is what arrived).
 */
export async function streamChat(
  base: string,
  body: { model: string; messages: ChatMessage[] } & CompletionParams,
  onDelta: (text: string) => void,
  signal?: AbortSignal,
  apiKey = '',
): Promise<StreamedReply> {
  let res: Response;
  try {
    res = await request(`${base}/v1/chat/completions`, {
      method: 'POST', signal, headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream', ...auth(apiKey) },
      body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
    });
  } catch (e) {
    // stopped before the server answered (queued, or reading a long prompt): an empty reply, as a stop later is a short one
    if (signal?.aborted) return { content: '', finishReason: null, dropped: 0, usage: null };
    throw e;
  }
  const reply: StreamedReply = { content: '', finishReason: null, dropped: Number(res.headers.get(DROPPED_HEADER) ?? 0) || 0, usage: null };
  const events = new SseParser();
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (e) {
        if (signal?.aborted) return reply;
        throw e;
      }
      if (chunk.done) return reply;
      for (const data of events.push(chunk.value)) {
        if (data === '[DONE]') return reply;
        const c = JSON.parse(data) as { error?: { message?: string; code?: unknown }; choices?: { delta?: { content?: string | null }; finish_reason?: string | null }[]; usage?: StreamedReply['usage'] };
        // an error after the text so far (serve.js stopping: server_shutting_down), with its code as a refusal has it
        if (c.error) throw new ApiError(c.error.message ?? 'the server reported an error', res.status, typeof c.error.code === 'string' ? c.error.code : null);
        if (c.usage) reply.usage = { prompt_tokens: c.usage.prompt_tokens, completion_tokens: c.usage.completion_tokens };
        const choice = c.choices?.[0];
        const text = choice?.delta?.content;
        if (text) {
          reply.content += text;
          onDelta(text);
        }
        if (choice?.finish_reason) reply.finishReason = choice.finish_reason;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * Why a server's reply ended, in the browser engine's terms: OpenAI's finish_reason 'length' is
 * both max_tokens reached and a full context; the token counts and the model's context tell them apart.
 */
export function serverReason(r: Pick<StreamedReply, 'finishReason' | 'usage'>, contextLength: number, maxTokens: number): string {
  if (r.finishReason === null) return 'abort';
  const u = r.usage;
  const full = r.finishReason === 'length' && u && u.completion_tokens < maxTokens && u.prompt_tokens + u.completion_tokens >= contextLength;
  return full ? 'context' : r.finishReason;
}

/**
 * Server-sent events, fed text as it arrives: returns the data of each event completed so far
 * (its `data:` lines joined by newlines). Comments (`:`) and other fields are skipped; CRLF,
 * LF and CR all end lines.
 */
export class SseParser {
  private buffer = '';
  private data: string[] = [];

  push(text: string): string[] {
    this.buffer += text;
    const out: string[] = [];
    for (;;) {
      // a CR at the very end may be the first half of a CRLF: wait for the next piece
      const m = /\r\n|\n|\r(?!$)/.exec(this.buffer);
      if (!m) return out;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      if (line === '') {
        if (this.data.length) out.push(this.data.join('\n'));
        this.data = [];
      } else if (!line.startsWith(':')) {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1);
        if (field === 'data') this.data.push(value.startsWith(' ') ? value.slice(1) : value);
      }
    }
  }
}

async function request(url: string, init: RequestInit): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(`could not reach ${url} (${(e as Error).message})`, 0);
  }
  // a static host answers a path it does not have with its page: there is no API there
  if (res.ok && isWebPage(res)) throw new ApiError(`${url}: not an API (the host answered with a web page): no OpenAI-compatible server is there`, 404);
  if (res.ok) return res;
  let message = `${res.status} ${res.statusText}`, code: string | null = null, param: string | null = null;
  try {
    const j = (await res.json()) as { error?: { message?: string; code?: unknown; param?: unknown } };
    if (j.error?.message) message = j.error.message;
    if (typeof j.error?.code === 'string') code = j.error.code;
    if (typeof j.error?.param === 'string') param = j.error.param;
  } catch {
    /* not JSON: keep the status line */
  }
  throw new ApiError(`${url}: ${message}`, res.status, code, message, param);
}
