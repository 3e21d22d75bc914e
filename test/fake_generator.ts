// A scripted stand-in for the model, for tests of the chat front end: it keeps the token
// sequence a real KV cache would hold and asks a script for the next position's logits.
import type { Generator } from '../src/model/generator.ts';

/** all tokens in the cache so far -> logits (vocabSize values) for the next position */
export type Script = (tokens: readonly number[]) => ArrayLike<number>;

export class FakeGenerator implements Generator {
  readonly contextLength: number;
  readonly vocabSize: number;
  /** what the cache holds */
  tokens: number[] = [];
  /** every append() call's tokens, in order */
  appends: number[][] = [];
  resets = 0;

  constructor(private script: Script, o: { vocabSize?: number; contextLength?: number } = {}) {
    this.vocabSize = o.vocabSize ?? 50257;
    this.contextLength = o.contextLength ?? 1024;
  }

  get cached(): number {
    return this.tokens.length;
  }

  reset(): void {
    this.tokens = [];
    this.resets++;
  }

  truncate(n: number): void {
    if (!(n >= 0 && n <= this.tokens.length)) throw new Error(`truncate(${n}) with ${this.tokens.length} cached`);
    this.tokens.length = n;
  }

  async append(tokens: number[]): Promise<Float32Array> {
    if (tokens.length === 0) throw new Error('append of no tokens');
    if (this.tokens.length + tokens.length > this.contextLength) {
      throw new Error(`context overflow: ${this.tokens.length} + ${tokens.length} > ${this.contextLength}`);
    }
    for (const t of tokens) {
      if (!(Number.isInteger(t) && t >= 0 && t < this.vocabSize)) throw new Error(`bad token ${t}`);
      this.tokens.push(t);
    }
    this.appends.push([...tokens]);
    const logits = Float32Array.from(this.script(this.tokens));
    if (logits.length !== this.vocabSize) throw new Error(`script gave ${logits.length} logits, want ${this.vocabSize}`);
    return logits;
  }
}

/** logits where `id` beats every other token by `margin` */
export function oneHot(vocabSize: number, id: number, margin = 100): Float32Array {
  const l = new Float32Array(vocabSize);
  l[id] = margin;
  return l;
}

function lastIndexOf(tokens: readonly number[], seq: readonly number[]): number {
  for (let i = tokens.length - seq.length; i >= 0; i--) {
    let j = 0;
    while (j < seq.length && tokens[i + j] === seq[j]) j++;
    if (j === seq.length) return i;
  }
  return -1;
}

/**
 * A script that, after the last occurrence of `marker` (e.g. the tokens of `Bot:`), says
 * `reply(tokens up to and including the marker)` token by token; past its end it repeats
 * the last token. Before any marker it says `fallback`.
 */
export function replyScript(marker: number[], reply: (prompt: readonly number[]) => number[], vocabSize = 50257, fallback = 0): Script {
  return (tokens) => {
    const at = lastIndexOf(tokens, marker);
    if (at < 0) return oneHot(vocabSize, fallback);
    const start = at + marker.length;
    const said = reply(tokens.slice(0, start));
    const k = tokens.length - start;
    return oneHot(vocabSize, said[Math.min(k, said.length - 1)]);
  };
}
