// GPT-2 byte-level BPE via js-tiktoken (long texts: its tables with our own merge, see LONG_TEXT).
// Only the gpt2 rank file is imported (the lite entry point bundles no other encodings). The
// encoder is built on first use (~0.2 s).
import { Tiktoken } from 'js-tiktoken/lite';
import gpt2 from 'js-tiktoken/ranks/gpt2';

/** `<|endoftext|>`: GPT-2's document separator, used here as the end-of-turn token. */
export const EOT = 50256;
export const VOCAB_SIZE = 50257;

/**
 * Texts longer than this (UTF-16 units) are encoded by `encodeLong`, not by js-tiktoken,
 * whose merge rescans a whole regex piece after every merge: quadratic in the piece, so one
 * run of letters with no spaces (a pasted base64 blob, a hash, a minified line) of 10,000
 * letters took seconds and 1 MB took hours. A text this short takes at most ~30 ms there.
 */
export const LONG_TEXT = 256;

let enc: Tiktoken | null = null;
let bytesOf: Map<number, Uint8Array> | null = null;
let idOf: Map<string, number> | null = null;

function encoder(): Tiktoken {
  if (!enc) enc = new Tiktoken(gpt2);
  return enc;
}

/** Plain text to token ids. `<|endoftext|>` typed in the text stays text (never the EOT id). */
export function encode(text: string): number[] {
  // allowed = none, disallowed = none: special-token strings are encoded as ordinary bytes
  return text.length <= LONG_TEXT ? encoder().encode(text, [], []) : encodeLong(text);
}

/**
 * js-tiktoken's encode(text, [], []) step for step, with a merge that is O(n log n) in the piece:
 * with no special token allowed it splits the whole text with the GPT-2 regex (one pass, so the
 * `\s+(?!\S)` lookahead sees the same next character), and each piece is one vocabulary entry or
 * byte-pair merged. Exported for the tests, which check the ids equal js-tiktoken's.
 */
export function encodeLong(text: string): number[] {
  if (!idOf) {
    // js-tiktoken's bytes -> id table, keyed by the bytes joined with ',' (pinned version 1.0.21)
    const table = (encoder() as unknown as { rankMap?: unknown }).rankMap;
    if (!(table instanceof Map)) throw new Error('js-tiktoken internals changed: no rankMap (bytes -> token)');
    idOf = table as Map<string, number>;
  }
  const ids: number[] = [], utf8 = new TextEncoder();
  for (const m of text.matchAll(new RegExp(gpt2.pat_str, 'ug'))) {
    const piece = utf8.encode(m[0]);
    const id = idOf.get(piece.join(','));
    if (id !== undefined) ids.push(id);
    else mergePiece(piece, idOf, ids);
  }
  return ids;
}

/**
 * Byte-pair merge of one piece, the result js-tiktoken's gives: repeatedly merge the adjacent
 * pair of parts whose joined bytes have the lowest id, the leftmost among equal ids, until no
 * pair is in the vocabulary. js-tiktoken finds that pair by scanning all pairs after each merge;
 * here a heap holds every pair, and a pair that changed since it was pushed is skipped when popped.
 */
function mergePiece(piece: Uint8Array, idOf: Map<string, number>, out: number[]): void {
  const n = piece.length;
  // parts are byte ranges [i, end[i]), named by their first byte; prev links them backwards
  const end = new Int32Array(n), prev = new Int32Array(n);
  // pairId[i]: id of part i joined with the part after it, -1 if none (or i is no longer a part)
  const pairId = new Int32Array(n).fill(-1);
  const heap = new MinHeap();
  const setPair = (i: number) => {
    pairId[i] = end[i] < n ? idOf.get(piece.subarray(i, end[end[i]]).join(',')) ?? -1 : -1;
    if (pairId[i] >= 0) heap.push(pairId[i] * POS + i); // ordered by id, then position
  };
  for (let i = 0; i < n; i++) (end[i] = i + 1), (prev[i] = i - 1);
  for (let i = 0; i < n - 1; i++) setPair(i);
  while (heap.size > 0) {
    const key = heap.pop(), i = key % POS;
    // a part's bytes only grow, so an older pair at i had other bytes, hence another id
    if (pairId[i] !== (key - i) / POS) continue;
    const j = end[i];
    end[i] = end[j];
    pairId[j] = -1;
    if (end[i] < n) prev[end[i]] = i;
    setPair(i);
    if (prev[i] >= 0) setPair(prev[i]);
  }
  for (let i = 0; i < n; i = end[i]) out.push(idOf.get(piece.subarray(i, end[i]).join(','))!);
}

/** heap keys are id * POS + position: ids < 2^16, so keys stay exact in a double */
const POS = 2 ** 32;

/** binary min-heap of numbers */
class MinHeap {
  private a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  push(x: number): void {
    const a = this.a;
    let i = a.push(x) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= x) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = x;
  }
  pop(): number {
    const a = this.a, top = a[0], last = a.pop()!;
    if (a.length === 0) return top;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= a.length) break;
      if (c + 1 < a.length && a[c + 1] < a[c]) c++;
      if (a[c] >= last) break;
      a[i] = a[c];
      i = c;
    }
    a[i] = last;
    return top;
  }
}

/** Token ids to text; EOT decodes as `<|endoftext|>`, broken UTF-8 as U+FFFD. */
export function decode(ids: readonly number[]): string {
  return encoder().decode(ids as number[]);
}

/** The raw bytes of one token (a token may hold part of a multi-byte UTF-8 character). */
export function tokenBytes(id: number): Uint8Array {
  if (!bytesOf) {
    // js-tiktoken keeps the id -> bytes table internally (pinned version 1.0.21); its public
    // decode() only returns strings, which would turn half a character into U+FFFD.
    const table = (encoder() as unknown as { textMap?: unknown }).textMap;
    if (!(table instanceof Map)) throw new Error('js-tiktoken internals changed: no textMap (token -> bytes)');
    bytesOf = table as Map<number, Uint8Array>;
  }
  if (id === EOT) return new TextEncoder().encode('<|endoftext|>');
  const b = bytesOf.get(id);
  if (!b) throw new Error(`token id ${id} is not in the GPT-2 vocabulary (0..${VOCAB_SIZE - 1})`);
  return b;
}

/**
 * Streaming detokenizer for generation: push one token at a time and get back only complete
 * UTF-8 text; a character whose bytes span several tokens (emoji, CJK) comes out once whole.
 */
export class StreamDecoder {
  private utf8 = new TextDecoder('utf-8');

  push(id: number): string {
    return this.utf8.decode(tokenBytes(id), { stream: true });
  }

  /** Whatever is still held back (an incomplete character becomes U+FFFD); resets the decoder. */
  flush(): string {
    return this.utf8.decode();
  }
}
