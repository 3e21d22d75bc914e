// One reply being generated, one token at a time: penalties over the model's own recent output,
// sampling, the stream decoder (characters split across tokens), stop strings held back until
// they can no longer match, and the limits (max tokens, a full context). It takes the logits of
// each step and says what to feed back and what became printable; whoever owns the model drives
// it: generateReply for one conversation (chat.js, eval.js), the server's scheduler for a batch
// of them. Plain TypeScript: no node:* imports.
import { EOT, StreamDecoder } from '../data/tokenizer.ts';
import type { Generator } from '../model/generator.ts';
import type { Rng } from '../util/rng.ts';
import type { KvMirror } from './context.ts';
import { sampleToken, type SamplingOptions } from './sampling.ts';
import { StopMatcher } from './stops.ts';

export type ReplyEnd = 'eot' | 'stop' | 'length' | 'context' | 'abort';

export interface ReplyOptions {
  sampling: SamplingOptions;
  maxNewTokens: number;
  stops: string[];
  rng: Rng;
  /** the model's own earlier output (previous replies) the penalties also count; the human's words are not penalised (ChatSession.penaltyContext leaves them out of its replies too), so recalling them stays cheap */
  penaltyContext?: number[];
}

/** what one step produced */
export interface ReplyStep {
  /** the sampled token to feed back to the model, or null when the reply is over */
  token: number | null;
  /** text that became printable (stop strings are never part of it) */
  text: string;
}

export class ReplyState {
  /** sampled tokens, the final EOT excluded */
  readonly tokens: number[] = [];
  /** the printable reply so far (stop string excluded), untrimmed */
  text = '';
  /** why the reply ended, or null while it goes on */
  reason: ReplyEnd | null = null;
  private readonly decoder = new StreamDecoder();
  private readonly stops: StopMatcher;

  /** `room`: how many more tokens the model's context takes after the prompt */
  constructor(readonly o: ReplyOptions, readonly room: number) {
    this.stops = new StopMatcher(o.stops);
  }

  get done(): boolean {
    return this.reason !== null;
  }

  /** Sample from the logits of the next position (`logits` is not modified). */
  next(logits: Float32Array): ReplyStep {
    if (this.reason) throw new Error(`ReplyState.next after the reply ended (${this.reason})`);
    if (this.tokens.length >= this.o.maxNewTokens) return { token: null, text: this.end('length') };
    const recent = this.o.penaltyContext?.length ? [...this.o.penaltyContext, ...this.tokens] : this.tokens;
    const tok = sampleToken(logits, recent, this.o.sampling, this.o.rng);
    if (tok === EOT) return { token: null, text: this.end('eot') };
    this.tokens.push(tok);
    const r = this.stops.push(this.decoder.push(tok));
    this.text += r.emit;
    if (r.stopped) return { token: null, text: r.emit + this.end('stop') };
    if (this.tokens.length >= this.o.maxNewTokens) return { token: null, text: r.emit + this.end('length') };
    // the token before this one was the last the context had room for
    if (this.tokens.length > this.room) return { token: null, text: r.emit + this.end('context') };
    return { token: tok, text: r.emit };
  }

  /** End the reply (also from outside: an abort); returns the text held back for a possible stop string. */
  end(reason: ReplyEnd): string {
    if (this.reason) return '';
    this.reason = reason;
    const rest = this.stops.flush();
    this.text += rest;
    return rest;
  }
}

export interface Reply {
  /** the printable reply (stop string excluded), untrimmed */
  text: string;
  /** sampled tokens, the final EOT excluded */
  tokens: number[];
  reason: ReplyEnd;
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
export async function generateReply(gen: Generator, kv: KvMirror, prompt: number[], o: ReplyOptions & {
  /** each piece of reply text as soon as it cannot be part of a stop string */
  onText?: (text: string) => void;
  /** checked between tokens; true ends the reply */
  aborted?: () => boolean;
}): Promise<Reply> {
  if (prompt.length === 0) throw new Error('generateReply: empty prompt');
  const t0 = performance.now();
  const fresh = kv.sync(gen, prompt);
  let logits = await gen.append(fresh);
  kv.push(fresh);
  const t1 = performance.now();
  const reply = new ReplyState(o, gen.contextLength - gen.cached);
  const emit = (s: string) => s && o.onText?.(s);
  let decodeTokens = 0;
  for (;;) {
    if (o.aborted?.()) {
      emit(reply.end('abort'));
      break;
    }
    const step = reply.next(logits);
    emit(step.text);
    if (step.token === null) break;
    logits = await gen.append([step.token]);
    kv.push([step.token]);
    decodeTokens++;
  }
  return {
    text: reply.text, tokens: reply.tokens, reason: reply.reason!, reusedTokens: prompt.length - fresh.length,
    prefillTokens: fresh.length, prefillMs: t1 - t0, decodeTokens, decodeMs: performance.now() - t1,
  };
}
