// GPT-2 byte-level BPE via js-tiktoken. Only the gpt2 rank file is imported (the lite entry
// point bundles no other encodings). The encoder is built on first use (~0.2 s).
import { Tiktoken } from 'js-tiktoken/lite';
import gpt2 from 'js-tiktoken/ranks/gpt2';

/** `<|endoftext|>`: GPT-2's document separator, used here as the end-of-turn token. */
export const EOT = 50256;
export const VOCAB_SIZE = 50257;

let enc: Tiktoken | null = null;
let bytesOf: Map<number, Uint8Array> | null = null;

function encoder(): Tiktoken {
  if (!enc) enc = new Tiktoken(gpt2);
  return enc;
}

/** Plain text to token ids. `<|endoftext|>` typed in the text stays text (never the EOT id). */
export function encode(text: string): number[] {
  // allowed = none, disallowed = none: special-token strings are encoded as ordinary bytes
  return encoder().encode(text, [], []);
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
