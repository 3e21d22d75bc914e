// The OpenAI-compatible API as plain data: a request body in, a generation request (prompt
// tokens, sampling, limits) or an ApiError out; and the response objects (completions, stream
// chunks, models, errors) in the shapes of OpenAI's API (checked against the `openai` package's
// types by the tests). Conversations become prompts through the chat's one prompt builder
// (src/chat/context.ts over src/data/format.ts). Host-neutral: no node:* imports.
import { buildPrompt, promptBudget } from '../chat/context.ts';
import type { ReplyEnd, ReplyOptions } from '../chat/reply.ts';
import { defaultStops, isEmptyBotTurn } from '../chat/session.ts';
import { DEFAULT_SPEAKERS, type Speakers, type Turn } from '../data/format.ts';
import { encode, EOT } from '../data/tokenizer.ts';
import { Rng } from '../util/rng.ts';
import { integerWanted } from '../util/args.ts';
import { API_LIMITS, type ApiLimitName } from '../chat/api_limits.ts';

/** An error with OpenAI's error body `{"error": {"message", "type", "param", "code"}}` and an HTTP status. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly param: string | null = null, readonly code: string | null = null,
    readonly type = status >= 500 ? 'server_error' : 'invalid_request_error') {
    super(message);
  }
  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** what the server knows about its model */
export interface ModelInfo {
  /** the model id clients pass (the checkpoint's name) */
  id: string;
  contextLength: number;
  vocabSize: number;
  /** unix seconds */
  created: number;
  /** the tags chat prompts are built with (default Human/Bot): those the model was trained with */
  speakers?: Speakers;
}

/** a request turned into what the scheduler runs */
export interface GenerationRequest {
  kind: 'chat' | 'text';
  prompt: number[];
  /** whole old exchanges left out to fit the context (chat) */
  droppedExchanges: number;
  reply: ReplyOptions;
  stream: boolean;
  /** stream_options.include_usage: a last chunk with the token counts */
  includeUsage: boolean;
}

// ---- validation of the JSON body ----
type Body = Record<string, unknown>;
const bad = (param: string, why: string) => new ApiError(400, `Invalid value for '${param}': ${why}`, param, 'invalid_value');
const typeError = (param: string, want: string, v: unknown) =>
  new ApiError(400, `Invalid type for '${param}': expected ${want}, but got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`}.`, param, 'invalid_type');

function num(b: Body, name: string, check: (v: number) => string | null): number | undefined {
  const v = b[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw typeError(name, 'a number', v);
  const why = check(v);
  if (why) throw bad(name, `${v} ${why}.`);
  return v;
}
function int(b: Body, name: string, check: (v: number) => string | null): number | undefined {
  const v = num(b, name, () => null);
  if (v === undefined) return undefined;
  const want = integerWanted(v);
  if (want) throw Number.isInteger(v) ? bad(name, `${v} must be ${want}.`) : typeError(name, 'an integer', v);
  const why = check(v);
  if (why) throw bad(name, `${v} ${why}.`);
  return v;
}
function bool(b: Body, name: string): boolean | undefined {
  const v = b[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw typeError(name, 'a boolean', v);
  return v;
}

/** stop: a string or up to 4 strings, none empty (as vLLM refuses it: '' would match everywhere, and the stop matcher drops it) */
function stops(b: Body): string[] {
  const v = b.stop;
  if (v === undefined || v === null) return [];
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string')) throw typeError('stop', 'a string or an array of strings', v);
  if (list.length > 4) throw bad('stop', 'at most 4 stop sequences.');
  if (list.includes('')) throw bad('stop', 'an empty string stops nothing: give the text to stop at, or leave it out.');
  return list as string[];
}

/** a message's text: a string, or an array of {type: 'text', text} parts */
function content(v: unknown, param: string): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    return v.map((part, i) => {
      const p = part as Body;
      if (!p || typeof p !== 'object' || p.type !== 'text' || typeof p.text !== 'string') throw bad(`${param}[${i}]`, "only {type: 'text', text} content parts are supported.");
      return p.text;
    }).join('');
  }
  throw typeError(param, 'a string or an array of text parts', v);
}

function checkModel(b: Body, model: ModelInfo): void {
  const v = b.model;
  if (v === undefined || v === null) return; // optional here: this server has one model
  if (typeof v !== 'string') throw typeError('model', 'a string', v);
  if (v !== model.id) throw new ApiError(404, `The model '${v}' does not exist; this server has '${model.id}' (GET /v1/models).`, 'model', 'model_not_found');
}

const unsupported = (param: string, v: unknown, why: string) =>
  new ApiError(400, `Unsupported parameter: '${param}' (${JSON.stringify(v).slice(0, 60)}): ${why}; leave it out.`, param, 'unsupported_parameter');
/** a field that asks for something: not absent, null, false, 0, '', [] or {} */
const asks = (v: unknown) => v !== undefined && v !== null && v !== false && v !== 0 && v !== '' &&
  !(typeof v === 'object' && Object.keys(v as object).length === 0);

/**
 * OpenAI fields that ask for something this server cannot give: refused, as vLLM and llama.cpp's
 * server refuse them, rather than answered without it, which a client would take for the model's
 * doing (or trip on: `logprobs: null` where it asked for them). Other unknown fields (user,
 * metadata, store, ...) change nothing a client reads and are ignored.
 */
function refuseUnsupported(b: Body, chat: boolean): void {
  const no = (name: string, why: string, when = asks(b[name])) => {
    if (when) throw unsupported(name, b[name], why);
  };
  // completions' logprobs 0 asks for the chosen tokens' log-probabilities
  no('logprobs', 'this server does not return log-probabilities', chat ? asks(b.logprobs) : b.logprobs !== undefined && b.logprobs !== null);
  no('top_logprobs', 'this server does not return log-probabilities');
  no('logit_bias', 'this server does not bias tokens');
  no('audio', 'this server answers in text only');
  if (chat) {
    // tools the model is told not to call change nothing
    no('tools', 'this server does not call tools', asks(b.tools) && b.tool_choice !== 'none');
    no('functions', 'this server does not call functions', asks(b.functions) && b.function_call !== 'none');
    no('response_format', 'this server does not constrain the reply to JSON (only {"type": "text"})', asks(b.response_format) && (b.response_format as Body).type !== 'text');
    no('modalities', 'this server answers in text only', Array.isArray(b.modalities) && b.modalities.some((m) => m !== 'text'));
  } else {
    no('echo', 'this server does not echo the prompt');
    no('suffix', 'this server does not insert text before a suffix');
    no('best_of', 'this server makes one completion per request (only 1)', asks(b.best_of) && b.best_of !== 1);
  }
}

/** the sampling and length fields shared by both endpoints */
function generation(b: Body, model: ModelInfo, defaultMaxTokens: number | undefined, seedFallback: () => number) {
  checkModel(b, model);
  // n over 1 is a value this server cannot give: OpenAI's error for that (a model that takes only n = 1) is unsupported_value
  const n = int(b, 'n', (v) => (v >= 1 ? null : 'must be >= 1'));
  if (n !== undefined && n > 1) throw new ApiError(400, `Unsupported value: 'n' does not support ${n} with this server. Only the default (1) value is supported.`, 'n', 'unsupported_value');
  // each field read as API_LIMITS says (whole number or not, its range): the page's form applies the same
  const limited = (name: ApiLimitName) => (API_LIMITS[name].int ? int : num)(b, name, API_LIMITS[name].check);
  // max_completion_tokens is OpenAI's newer name for max_tokens: each is checked, and both at once are refused, as
  // OpenAI refuses them (which one a client meant is not ours to guess); a later refusal names the field given
  const completionTokens = limited('max_completion_tokens'), oldMaxTokens = limited('max_tokens');
  if (completionTokens !== undefined && oldMaxTokens !== undefined) {
    throw new ApiError(400, "Setting 'max_tokens' and 'max_completion_tokens' at the same time is not supported: give one of them.", 'max_tokens', 'invalid_parameter_combination');
  }
  const given = completionTokens ?? oldMaxTokens;
  const maxTokensParam = completionTokens !== undefined ? 'max_completion_tokens' : 'max_tokens';
  // as OpenAI refuses more than a model's output limit: here the context, less the prompt's one token at least
  const most = model.contextLength - 1;
  if (given !== undefined && given > most) {
    throw new ApiError(400, `${maxTokensParam} is too large: ${given}. This model supports at most ${most} completion tokens (its context is ${model.contextLength} tokens, the prompt included), whereas you provided ${given}.`, maxTokensParam, 'invalid_value');
  }
  const maxTokens = given ?? defaultMaxTokens;
  const sampling = {
    temperature: limited('temperature') ?? 1,
    topP: limited('top_p') ?? 1,
    topK: limited('top_k') ?? 0,
    repetitionPenalty: limited('repetition_penalty') ?? 1,
    frequencyPenalty: limited('frequency_penalty') ?? 0,
    presencePenalty: limited('presence_penalty') ?? 0,
    // OpenAI's penalties count every token generated so far in this completion
    penaltyWindow: Infinity,
  };
  const seed = limited('seed') ?? seedFallback();
  const stream = bool(b, 'stream') ?? false;
  const so = b.stream_options;
  if (so !== undefined && so !== null && (typeof so !== 'object' || Array.isArray(so))) throw typeError('stream_options', 'an object', so);
  // OpenAI's words: a non-streamed reply has no usage chunk to ask for
  if (so !== undefined && so !== null && !stream) throw new ApiError(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.", 'stream_options');
  const includeUsage = !!so && (bool(so as Body, 'include_usage') ?? false);
  return { maxTokens, maxTokensByDefault: given === undefined, maxTokensParam, sampling, rng: new Rng(seed), stream, includeUsage, stops: stops(b) };
}

/** where the remedy, in the API's words, starts in a tooLong message */
const SHORTEN = ' Shorten the ';

/**
 * `n` prompt tokens do not fit beside a reply of `g.maxTokens` (undefined: any length; by default: the endpoint's).
 * Its `param` says which case: the max tokens field (as the request named it) where the prompt fits and a shorter
 * reply would too, else `param` (the prompt alone fills the context): a client (the page) tells them apart by it, not by the prose.
 */
function tooLong(n: number, model: ModelInfo, param: 'messages' | 'prompt', g: ReturnType<typeof generation>, oldExchanges = false): ApiError {
  const ctx = model.contextLength;
  const needs = `This model's context is ${ctx} tokens; the prompt needs ${n} tokens${oldExchanges ? ' even with old exchanges dropped' : ''}`;
  const max = g.maxTokensParam;
  return n < ctx && g.maxTokens !== undefined
    ? new ApiError(400, `${needs}, which leaves ${ctx - n} for the reply next to ${max} ${g.maxTokens}${g.maxTokensByDefault ? ' (the default)' : ''}.${SHORTEN}${param}, or set ${max} to at most ${ctx - n}.`, max, 'context_length_exceeded')
    : new ApiError(400, `${needs}, and a reply needs at least one more.${SHORTEN}${param}.`, param, 'context_length_exceeded');
}

/** A context_length_exceeded message without its remedy in the API's words: for a client that says what to do in its own (the page) */
export function contextFacts(message: string): string {
  const i = message.indexOf(SHORTEN);
  return i < 0 ? message : message.slice(0, i);
}

function object(body: unknown): Body {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ApiError(400, 'The request body must be a JSON object.');
  return body as Body;
}

/**
 * POST /v1/chat/completions: system (and developer) messages are the persona, user messages
 * Human turns, assistant messages Bot turns; the last message must be the user's. Old
 * exchanges that do not fit the context are dropped (the persona kept), as chat.js does.
 */
export function parseChatRequest(body: unknown, model: ModelInfo, seedFallback: () => number): GenerationRequest {
  const b = object(body);
  const msgs = b.messages;
  if (!Array.isArray(msgs)) throw msgs === undefined ? new ApiError(400, "Missing required parameter: 'messages'.", 'messages', 'missing_required_parameter') : typeError('messages', 'an array', msgs);
  if (msgs.length === 0) throw bad('messages', 'at least one message is required.');
  const persona: string[] = [];
  const turns: Turn[] = [];
  msgs.forEach((m, i) => {
    if (!m || typeof m !== 'object' || Array.isArray(m)) throw typeError(`messages[${i}]`, 'an object', m);
    const { role } = m as Body;
    const text = () => content((m as Body).content, `messages[${i}].content`);
    if (role === 'system' || role === 'developer') persona.push(text().trim());
    else if (role === 'user') turns.push({ speaker: 'human', text: text() });
    else if (role === 'assistant') turns.push({ speaker: 'bot', text: (m as Body).content === null ? '' : text() });
    else throw bad(`messages[${i}].role`, `unknown role ${JSON.stringify(role)}: one of system, developer, user, assistant.`);
  });
  const last = turns.pop();
  if (!last || last.speaker !== 'human') throw bad('messages', 'the last message (after any system messages) must be from the user.');
  const history = turns.filter((t) => !isEmptyBotTurn(t)); // as chat.js and the page keep them
  const g = generation(b, model, undefined, seedFallback);
  refuseUnsupported(b, true);
  const ctx = model.contextLength;
  const sp = model.speakers ?? DEFAULT_SPEAKERS;
  const build = (room: number) => buildPrompt(persona.filter(Boolean).join('\n'), history, last.text, sp, room);
  // as chat.js budgets: room for the reply, at most half the context, so that old exchanges go before a long reply is cut off
  let p = build(promptBudget(ctx, g.maxTokens ?? Infinity));
  // what is left when even the persona and the last message do not fit that way: every old exchange dropped
  const needs = p.tokens.length + p.personaCut + p.messageCut;
  // without max_tokens (OpenAI's default: the reply gets the rest) they may use all of the context but one token
  if ((p.personaCut || p.messageCut) && g.maxTokens === undefined && needs < ctx) p = build(needs);
  if (p.personaCut || p.messageCut) throw tooLong(needs, model, 'messages', g, history.length > 0);
  return {
    kind: 'chat', prompt: p.tokens, droppedExchanges: p.dropped, stream: g.stream, includeUsage: g.includeUsage,
    reply: { sampling: g.sampling, maxNewTokens: g.maxTokens ?? Infinity, stops: [...defaultStops(sp), ...g.stops], rng: g.rng },
  };
}

/** POST /v1/completions: plain-text continuation of `prompt` (a string, one string in an array, or token ids), like chat.js --raw */
export function parseCompletionRequest(body: unknown, model: ModelInfo, seedFallback: () => number): GenerationRequest {
  const b = object(body);
  let v = b.prompt;
  if (Array.isArray(v) && v.length === 1 && (typeof v[0] === 'string' || Array.isArray(v[0]))) v = v[0];
  let prompt: number[];
  if (v === undefined || v === null) prompt = [];
  else if (typeof v === 'string') prompt = encode(v);
  else if (Array.isArray(v) && v.every((t) => Number.isInteger(t) && t >= 0 && t < model.vocabSize)) prompt = v as number[];
  else throw bad('prompt', `a string, or an array of token ids below ${model.vocabSize} (one prompt per request).`);
  if (prompt.length === 0) prompt = [EOT]; // unconditional: start from <|endoftext|>, as GPT-2 does
  const g = generation(b, model, 16, seedFallback); // OpenAI's default max_tokens for completions
  refuseUnsupported(b, false);
  if (prompt.length > promptBudget(model.contextLength, g.maxTokens!)) throw tooLong(prompt.length, model, 'prompt', g);
  return {
    kind: 'text', prompt, droppedExchanges: 0, stream: g.stream, includeUsage: g.includeUsage,
    reply: { sampling: g.sampling, maxNewTokens: g.maxTokens ?? Infinity, stops: g.stops, rng: g.rng },
  };
}

// ---- responses ----
export type FinishReason = 'stop' | 'length';
/** EOT and stop strings are 'stop'; the token limit, a full context and a cut-short reply are 'length' */
export const finishReason = (r: ReplyEnd): FinishReason => (r === 'eot' || r === 'stop' ? 'stop' : 'length');

export interface Usage { prompt_tokens: number; completion_tokens: number; total_tokens: number }
export const usage = (prompt: number, completion: number): Usage => ({ prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion });

/** the fields every response object of one request shares */
export interface Head { id: string; created: number; model: string }

export function chatCompletion(h: Head, text: string, finish: FinishReason, u: Usage) {
  return {
    id: h.id, object: 'chat.completion' as const, created: h.created, model: h.model,
    choices: [{ index: 0, message: { role: 'assistant' as const, content: text, refusal: null }, logprobs: null, finish_reason: finish }],
    usage: u,
  };
}

/** a streamed piece: the first carries the role, the last the finish reason; with include_usage every chunk has usage null and a final one (no choices) the counts */
export function chatChunk(h: Head, delta: { role?: 'assistant'; content?: string }, finish: FinishReason | null, includeUsage: boolean) {
  return {
    id: h.id, object: 'chat.completion.chunk' as const, created: h.created, model: h.model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(includeUsage ? { usage: null } : {}),
  };
}

/** a text completion, or (finish null, no usage) a streamed piece of one */
export function textCompletion<F extends FinishReason | null>(h: Head, text: string, finish: F, u?: Usage) {
  return {
    id: h.id, object: 'text_completion' as const, created: h.created, model: h.model,
    choices: [{ index: 0, text, logprobs: null, finish_reason: finish }],
    ...(u ? { usage: u } : {}),
  };
}

/** the final usage chunk of a stream (stream_options.include_usage); `object` is the stream's chunk type */
export function usageChunk<O extends 'chat.completion.chunk' | 'text_completion'>(h: Head, object: O, u: Usage) {
  return { id: h.id, object, created: h.created, model: h.model, choices: [], usage: u };
}

export function modelObject(m: ModelInfo) {
  // context_length is not OpenAI's (its Model has no such field) but OpenRouter's and others' name
  // for it (vLLM says max_model_len): clients, the page among them, check max_tokens against it
  return { id: m.id, object: 'model' as const, created: m.created, owned_by: 'gpt2-webgpu', context_length: m.contextLength };
}
export function modelList(m: ModelInfo) {
  return { object: 'list' as const, data: [modelObject(m)] };
}
