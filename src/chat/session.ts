// One conversation with the model, for every front end (the terminal REPL, the eval, and
// later a server and a browser page): options and their defaults, the settings that /set
// and the CLI flags change, the token-by-token reply generator, and ChatSession (history,
// persona, sampling state, KV-cache reuse). Plain TypeScript: no node:* imports.
import { EOT, StreamDecoder, encode } from '../data/tokenizer.ts';
import type { Speakers, Turn } from '../data/format.ts';
import type { Generator } from '../model/generator.ts';
import type { FlagSpec, Parsed } from '../util/args.ts';
import { UserError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import { buildPrompt, KvMirror, turnsInExchanges, type Prompt } from './context.ts';
import { DEFAULT_SAMPLING, sampleToken, type SamplingOptions } from './sampling.ts';
import { StopMatcher } from './stops.ts';

export interface ChatOptions {
  sampling: SamplingOptions;
  maxNewTokens: number;
  seed: number;
  speakers: Speakers;
  persona: string;
  /** --stop strings; in chat mode they come on top of `\n{human}:` and `\n{bot}:` */
  stops: string[];
  /** plain text continuation: no Human/Bot formatting, no history, no default stops */
  raw: boolean;
  /** no statistics lines */
  quiet: boolean;
}

export interface ReplyOptions {
  sampling: SamplingOptions;
  maxNewTokens: number;
  stops: string[];
  rng: Rng;
  /** each piece of reply text as soon as it cannot be part of a stop string */
  onText?: (text: string) => void;
  /** checked between tokens; true ends the reply */
  aborted?: () => boolean;
  /** the model's own earlier output (previous replies) the penalties also count; the human's words are not penalised, so recalling them stays cheap */
  penaltyContext?: number[];
}

export interface Reply {
  /** the printable reply (stop string excluded), untrimmed */
  text: string;
  /** sampled tokens, the final EOT excluded */
  tokens: number[];
  reason: 'eot' | 'stop' | 'length' | 'context' | 'abort';
  /** prompt tokens taken from the KV cache instead of being prefilled */
  reusedTokens: number;
  prefillTokens: number;
  prefillMs: number;
  /** one-token forward passes after the prefill */
  decodeTokens: number;
  decodeMs: number;
}

/**
 * Prefill `prompt` (only past its common prefix with the cache) and sample until EOT, a stop
 * string, maxNewTokens, a full context or an abort. The penalties look at the recent window of
 * the model's own output: earlier replies (o.penaltyContext), then this reply's tokens.
 */
export async function generateReply(gen: Generator, kv: KvMirror, prompt: number[], o: ReplyOptions): Promise<Reply> {
  if (prompt.length === 0) throw new Error('generateReply: empty prompt');
  const t0 = performance.now();
  const fresh = kv.sync(gen, prompt);
  let logits = await gen.append(fresh);
  kv.push(fresh);
  const t1 = performance.now();
  const decoder = new StreamDecoder();
  const stops = new StopMatcher(o.stops);
  const tokens: number[] = [];
  let text = '';
  let decodeTokens = 0;
  let reason: Reply['reason'];
  const emit = (s: string) => {
    if (!s) return;
    text += s;
    o.onText?.(s);
  };
  for (;;) {
    if (o.aborted?.()) { reason = 'abort'; break; }
    if (tokens.length >= o.maxNewTokens) { reason = 'length'; break; }
    const tok = sampleToken(logits, o.penaltyContext ? [...o.penaltyContext, ...tokens] : tokens, o.sampling, o.rng);
    if (tok === EOT) { reason = 'eot'; break; }
    tokens.push(tok);
    const r = stops.push(decoder.push(tok));
    emit(r.emit);
    if (r.stopped) { reason = 'stop'; break; }
    if (tokens.length >= o.maxNewTokens) { reason = 'length'; break; }
    if (gen.cached >= gen.contextLength) { reason = 'context'; break; }
    logits = await gen.append([tok]);
    kv.push([tok]);
    decodeTokens++;
  }
  emit(stops.flush());
  const t2 = performance.now();
  return {
    text, tokens, reason, reusedTokens: prompt.length - fresh.length,
    prefillTokens: fresh.length, prefillMs: t1 - t0, decodeTokens, decodeMs: t2 - t1,
  };
}

export const defaultStops = (sp: Speakers): string[] => [`\n${sp.human}:`, `\n${sp.bot}:`];

// ---- settings shared by /set and the CLI flags ----
interface Setting {
  /** the flag's help line (the flag is the name with '-' for '_') */
  help: string;
  int: boolean;
  get(o: ChatOptions): number;
  set(o: ChatOptions, v: number): void;
  /** why v is not acceptable, or null */
  check(v: number): string | null;
}
const int = (v: number) => Number.isInteger(v);
const SETTINGS: Record<string, Setting> = {
  temperature: { help: 'sampling temperature; 0 = greedy', int: false, get: (o) => o.sampling.temperature, set: (o, v) => (o.sampling.temperature = v), check: (v) => (v >= 0 ? null : 'must be >= 0 (0 = greedy)') },
  top_k: { help: 'sample among the k most likely tokens; 0 = off', int: true, get: (o) => o.sampling.topK, set: (o, v) => (o.sampling.topK = v), check: (v) => (int(v) && v >= 0 ? null : 'must be an integer >= 0 (0 = off)') },
  top_p: { help: 'nucleus sampling mass; 1 = off', int: false, get: (o) => o.sampling.topP, set: (o, v) => (o.sampling.topP = v), check: (v) => (v > 0 && v <= 1 ? null : 'must be in (0, 1] (1 = off)') },
  repetition_penalty: { help: 'CTRL-style penalty on tokens of the recent window; 1 = off', int: false, get: (o) => o.sampling.repetitionPenalty, set: (o, v) => (o.sampling.repetitionPenalty = v), check: (v) => (v > 0 ? null : 'must be > 0 (1 = off)') },
  frequency_penalty: { help: 'logit -= this * count in the recent window; 0 = off', int: false, get: (o) => o.sampling.frequencyPenalty, set: (o, v) => (o.sampling.frequencyPenalty = v), check: () => null },
  penalty_window: { help: "how many recent tokens of the model's own output (earlier replies, then this one) the penalties look at", int: true, get: (o) => o.sampling.penaltyWindow, set: (o, v) => (o.sampling.penaltyWindow = v), check: (v) => (int(v) && v >= 0 ? null : 'must be an integer >= 0') },
  max_new_tokens: { help: 'longest reply in tokens', int: true, get: (o) => o.maxNewTokens, set: (o, v) => (o.maxNewTokens = v), check: (v) => (int(v) && v >= 1 ? null : 'must be an integer >= 1') },
  seed: { help: 'sampling seed', int: true, get: (o) => o.seed, set: (o, v) => (o.seed = v), check: (v) => (int(v) ? null : 'must be an integer') },
};
export const SETTING_NAMES = Object.keys(SETTINGS);

/** chat.js's defaults: DEFAULT_SAMPLING, 128-token replies, seed 1337, Human/Bot, no persona */
export function defaultChatOptions(): ChatOptions {
  return {
    sampling: { ...DEFAULT_SAMPLING }, maxNewTokens: 128, seed: 1337, speakers: { human: 'Human', bot: 'Bot' },
    persona: '', stops: [], raw: false, quiet: false,
  };
}

/** one CLI flag per setting (--temperature, --top-k, ...), defaults taken from `o` */
export function settingFlags(o: ChatOptions): FlagSpec[] {
  return SETTING_NAMES.map((k) => ({ name: k.replace(/_/g, '-'), type: SETTINGS[k].int ? 'int' : 'number', default: SETTINGS[k].get(o), help: SETTINGS[k].help }));
}

/** apply the settingFlags values of parsed flags to `o`; a bad value is a UserError naming the flag */
export function applySettingFlags(o: ChatOptions, flags: Parsed): void {
  for (const k of SETTING_NAMES) {
    const flag = k.replace(/_/g, '-');
    const err = applySetting(o, flag, String(flags[flag]));
    if (err) throw new UserError(`--${flag}: ${err}`);
  }
}

/**
 * Set `name` (temperature, top_k, top-k, ...) from text; returns an error message, or null
 * when set. `contextLength` bounds max_new_tokens.
 */
export function applySetting(o: ChatOptions, name: string, value: string, contextLength = Infinity): string | null {
  const key = name.replace(/-/g, '_');
  const s = SETTINGS[key];
  if (!s) return `unknown setting '${name}' (one of ${SETTING_NAMES.join(', ')})`;
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v)) return `${key} expects a number, got '${value}'`;
  const why = s.check(v) ?? (key === 'max_new_tokens' && v >= contextLength ? `must be < the context length ${contextLength}` : null);
  if (why) return `${key} ${why}, got ${value}`;
  s.set(o, v);
  return null;
}

export function listSettings(o: ChatOptions): string {
  return SETTING_NAMES.map((k) => `  ${k.padEnd(20)} ${SETTINGS[k].get(o)}`).join('\n');
}

// ---- one conversation ----
export interface Answer {
  reply: Reply;
  prompt: Prompt;
}

export class ChatSession {
  history: Turn[] = [];
  /** leading history turns that no longer fit the context (dropped for good, until /reset) */
  forgotten = 0;
  persona: string;
  rng: Rng;
  readonly kv = new KvMirror();

  constructor(readonly gen: Generator, readonly opts: ChatOptions) {
    this.persona = opts.persona;
    this.rng = new Rng(opts.seed);
  }

  get stops(): string[] {
    return this.opts.raw ? this.opts.stops : [...defaultStops(this.opts.speakers), ...this.opts.stops];
  }

  /** tokens the prompt may use, leaving room for the reply (at most half the context, so a short context still holds a conversation) */
  get budget(): number {
    const ctx = this.gen.contextLength;
    return Math.max(1, ctx - Math.min(this.opts.maxNewTokens, Math.floor(ctx / 2)));
  }

  /** new conversation: history and cache cleared (the persona stays) */
  reset(): void {
    this.history = [];
    this.forgotten = 0;
    this.kv.reset(this.gen);
  }

  /** continue from these turns instead (the eval replays a conversation's gold history) */
  setHistory(turns: Turn[]): void {
    this.history = [...turns];
    this.forgotten = 0;
  }

  reseed(seed: number): void {
    this.opts.seed = seed;
    this.rng = new Rng(seed);
  }

  promptFor(message: string): Prompt {
    if (this.opts.raw) {
      let tokens = encode(message);
      if (tokens.length === 0) tokens = [EOT]; // unconditional: start from <|endoftext|>, as GPT-2 does
      const messageCut = Math.max(0, tokens.length - this.budget);
      return { tokens: tokens.slice(messageCut), dropped: 0, personaCut: 0, messageCut };
    }
    const sp = this.opts.speakers;
    const visible = this.history.slice(this.forgotten);
    let p = buildPrompt(this.persona, visible, message, sp, this.budget);
    if (p.dropped > 0) {
      // Dropping shifts the whole prompt, so the cache is lost for it; drop down to 3/4 of the
      // budget and remember that, so the next exchanges reuse the cache again.
      const roomier = buildPrompt(this.persona, visible, message, sp, Math.floor(this.budget * 0.75));
      if (roomier.personaCut === 0 && roomier.messageCut === 0) p = roomier;
      this.forgotten += turnsInExchanges(visible, p.dropped);
    }
    return p;
  }

  /** answer one message (raw mode: continue it); the exchange joins the history */
  async say(message: string, onText?: (text: string) => void, aborted?: () => boolean): Promise<Answer> {
    const prompt = this.promptFor(message);
    const ownWords = this.history.slice(this.forgotten).filter((t) => t.speaker === 'bot').flatMap((t) => encode(` ${t.text}`));
    const reply = await generateReply(this.gen, this.kv, prompt.tokens, {
      sampling: this.opts.sampling, maxNewTokens: this.opts.maxNewTokens, stops: this.stops, rng: this.rng, onText, aborted,
      penaltyContext: ownWords.slice(-this.opts.sampling.penaltyWindow),
    });
    if (!this.opts.raw) this.history.push({ speaker: 'human', text: message }, { speaker: 'bot', text: reply.text.trim() });
    return { reply, prompt };
  }
}
