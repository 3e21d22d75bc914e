// The chat loop: a ChatSession (history, persona, sampling state, KV-cache reuse), the
// token-by-token reply generator shared with --prompt mode, and the line-based REPL with
// its /commands, for a terminal or a pipe.
import { createInterface } from 'node:readline';
import { EOT, StreamDecoder, encode } from '../data/tokenizer.ts';
import type { Speakers, Turn } from '../data/format.ts';
import type { Generator } from '../model/generator.ts';
import { Rng } from '../util/rng.ts';
import { buildPrompt, KvMirror, turnsInExchanges, type Prompt } from './context.ts';
import { sampleToken, type SamplingOptions } from './sampling.ts';
import { StopMatcher } from './stops.ts';

export interface ReplOptions {
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
  get(o: ReplOptions): number;
  set(o: ReplOptions, v: number): void;
  /** why v is not acceptable, or null */
  check(v: number): string | null;
}
const int = (v: number) => Number.isInteger(v);
const SETTINGS: Record<string, Setting> = {
  temperature: { get: (o) => o.sampling.temperature, set: (o, v) => (o.sampling.temperature = v), check: (v) => (v >= 0 ? null : 'must be >= 0 (0 = greedy)') },
  top_k: { get: (o) => o.sampling.topK, set: (o, v) => (o.sampling.topK = v), check: (v) => (int(v) && v >= 0 ? null : 'must be an integer >= 0 (0 = off)') },
  top_p: { get: (o) => o.sampling.topP, set: (o, v) => (o.sampling.topP = v), check: (v) => (v > 0 && v <= 1 ? null : 'must be in (0, 1] (1 = off)') },
  repetition_penalty: { get: (o) => o.sampling.repetitionPenalty, set: (o, v) => (o.sampling.repetitionPenalty = v), check: (v) => (v > 0 ? null : 'must be > 0 (1 = off)') },
  frequency_penalty: { get: (o) => o.sampling.frequencyPenalty, set: (o, v) => (o.sampling.frequencyPenalty = v), check: () => null },
  penalty_window: { get: (o) => o.sampling.penaltyWindow, set: (o, v) => (o.sampling.penaltyWindow = v), check: (v) => (int(v) && v >= 0 ? null : 'must be an integer >= 0') },
  max_new_tokens: { get: (o) => o.maxNewTokens, set: (o, v) => (o.maxNewTokens = v), check: (v) => (int(v) && v >= 1 ? null : 'must be an integer >= 1') },
  seed: { get: (o) => o.seed, set: (o, v) => (o.seed = v), check: (v) => (int(v) ? null : 'must be an integer') },
};
export const SETTING_NAMES = Object.keys(SETTINGS);

/**
 * Set `name` (temperature, top_k, top-k, ...) from text; returns an error message, or null
 * when set. `contextLength` bounds max_new_tokens.
 */
export function applySetting(o: ReplOptions, name: string, value: string, contextLength = Infinity): string | null {
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

export function listSettings(o: ReplOptions): string {
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

  constructor(readonly gen: Generator, readonly opts: ReplOptions) {
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

function rate(n: number, ms: number): string {
  return ms > 0 ? `${(n / (ms / 1000)).toFixed(1)} tok/s` : '- tok/s';
}

/** the statistics line printed after a reply */
export function statsLine({ reply: r, prompt: p }: Answer): string {
  let s = `prefill ${r.prefillTokens} tok in ${r.prefillMs.toFixed(0)} ms (${rate(r.prefillTokens, r.prefillMs)})`;
  if (r.reusedTokens) s += ` + ${r.reusedTokens} reused from the cache`;
  s += `, decode ${r.decodeTokens} tok in ${r.decodeMs.toFixed(0)} ms (${rate(r.decodeTokens, r.decodeMs)})`;
  if (p.dropped) s += ` (dropped ${p.dropped} old exchange${p.dropped === 1 ? '' : 's'} to fit the context)`;
  if (p.personaCut) s += ` (persona cut by ${p.personaCut} tokens from its start to fit the context)`;
  if (p.messageCut) s += ` (message cut by ${p.messageCut} tokens from its start to fit the context)`;
  if (r.reason === 'context') s += ' (stopped: context window full)';
  if (r.reason === 'abort') s += ' (interrupted)';
  return s;
}

export interface AnswerIo {
  output: NodeJS.WritableStream;
  /** where the statistics line goes (default: output) */
  log?: NodeJS.WritableStream;
  /** print `{bot}: ` before the reply */
  tag: boolean;
}

/** Answer `message` on `io.output`, streamed, then the statistics line unless quiet. */
export async function answer(session: ChatSession, message: string, io: AnswerIo, aborted?: () => boolean): Promise<Answer> {
  const { output } = io;
  const log = io.log ?? output;
  const raw = session.opts.raw;
  if (io.tag && !raw) output.write(`${session.opts.speakers.bot}: `);
  let started = raw;
  const a = await session.say(message, (s) => {
    if (!started) {
      s = s.replace(/^\s+/, ''); // the reply's leading space belongs to the format, not the text
      if (!s) return;
      started = true;
    }
    output.write(s);
  }, aborted);
  output.write('\n');
  if (!session.opts.quiet) {
    const line = statsLine(a);
    log.write((log as { isTTY?: boolean }).isTTY ? `\x1b[2m${line}\x1b[22m\n` : `${line}\n`);
  }
  return a;
}

// ---- the REPL ----
const HELP = `Commands:
  /reset               start a new conversation (history and cache cleared)
  /persona TEXT        text placed before the conversation; /persona shows it, /persona - clears it
  /set NAME VALUE      change ${SETTING_NAMES.join(', ')}; /set lists them
  /history             show the conversation so far
  /help                this list
  /quit                leave (also Ctrl-D); Ctrl-C interrupts a reply`;

export interface ReplIo {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** interactive terminal: prompt, line editing, Ctrl-C handling */
  isTTY: boolean;
  /** statistics lines (default: output) */
  log?: NodeJS.WritableStream;
}

/** A queue over readline's lines so a pipe's lines wait while a reply is generated. */
function lineReader(rl: ReturnType<typeof createInterface>): () => Promise<string | null> {
  const lines: string[] = [];
  const waiting: ((l: string | null) => void)[] = [];
  let closed = false;
  rl.on('line', (l) => (waiting.length ? waiting.shift()!(l) : lines.push(l)));
  rl.on('close', () => {
    closed = true;
    for (const w of waiting.splice(0)) w(null);
  });
  return () => (lines.length ? Promise.resolve(lines.shift()!) : closed ? Promise.resolve(null) : new Promise((r) => waiting.push(r)));
}

/**
 * Chat over `io` until /quit or the end of input. In a pipe every line is a message or a
 * command and the only decoration is `{bot}: ` before each reply.
 */
export async function runRepl(gen: Generator, opts: ReplOptions, io: ReplIo): Promise<void> {
  const session = new ChatSession(gen, opts);
  const { output, isTTY } = io;
  const say = (s: string) => output.write(`${s}\n`);
  const rl = createInterface({ input: io.input, output: isTTY ? output : undefined, terminal: isTTY, crlfDelay: Infinity });
  rl.setPrompt(opts.raw ? '> ' : `${opts.speakers.human}: `);
  const next = lineReader(rl);
  let generating = false;
  let abort = false;
  rl.on('SIGINT', () => {
    if (generating) abort = true;
    else {
      output.write('\n(Ctrl-C interrupts a reply; /quit or Ctrl-D leaves)\n');
      rl.prompt();
    }
  });
  const prompt = () => isTTY && rl.prompt();
  if (isTTY) say(opts.raw ? 'Raw mode: each line is continued as plain text. /help for commands.' : 'Type a message; /help for commands, Ctrl-D to leave.');
  prompt();

  const command = (line: string): 'quit' | void => {
    const [cmd] = line.split(/\s+/, 1);
    const rest = line.slice(cmd.length).trim();
    switch (cmd) {
      case '/quit':
      case '/exit':
        return 'quit';
      case '/help':
        return void say(HELP);
      case '/reset':
        session.reset();
        return void say('(new conversation)');
      case '/persona':
        if (!rest) return void say(session.persona ? `persona: ${session.persona}` : '(no persona)');
        session.persona = rest === '-' ? '' : rest;
        return void say(session.persona ? '(persona set)' : '(persona cleared)');
      case '/history':
        if (session.persona) say(`(persona) ${session.persona}`);
        if (!session.history.length) return void say('(no history)');
        session.history.forEach((t, i) => {
          if (i === session.forgotten && i > 0) say('(the turns above no longer fit the context)');
          say(`${t.speaker === 'human' ? opts.speakers.human : opts.speakers.bot}: ${t.text}`);
        });
        return;
      case '/set': {
        if (!rest) return void say(listSettings(opts));
        const [name, value = ''] = rest.split(/\s+/);
        const err = applySetting(opts, name, value, gen.contextLength);
        if (err) return void say(err);
        const key = name.replace(/-/g, '_');
        if (key === 'seed') session.reseed(opts.seed);
        return void say(`${key} = ${value}`);
      }
      default:
        return void say(`unknown command ${cmd}; /help lists the commands`);
    }
  };

  for (;;) {
    const line = await next();
    if (line === null) {
      if (isTTY) output.write('\n'); // Ctrl-D: leave the shell prompt on a fresh line
      break;
    }
    const text = line.trim();
    if (!text) {
      prompt();
      continue;
    }
    if (text.startsWith('/')) {
      if (command(text) === 'quit') break;
      prompt();
      continue;
    }
    generating = true;
    abort = false;
    try {
      await answer(session, text, { output, log: io.log, tag: true }, () => abort);
    } finally {
      generating = false;
    }
    prompt();
  }
  rl.close();
}
