// The interfaces between front ends and the model's KV-cached generation: BatchGenerator holds
// many sequences (slots), each with its own cache and length, and decodes any set of them in
// one batched forward; Generator is one sequence (the chat REPL, the eval), and SlotGenerator
// makes one slot of a BatchGenerator into a Generator. (GPT-2's BatchGenerator is in
// src/model/generate.ts; tests may use fakes.)

export interface Generator {
  /** context window in tokens (n_positions) */
  readonly contextLength: number;
  readonly vocabSize: number;
  /** forget the KV cache */
  reset(): void;
  /** number of tokens currently in the KV cache */
  readonly cached: number;
  /**
   * Append tokens to the cache (prefill when many, decode when one) and return the logits
   * (vocabSize floats) for the position after the last appended token.
   */
  append(tokens: number[]): Promise<Float32Array>;
  /** drop the cache back to its first `n` tokens (e.g. to reuse a shared prefix) */
  truncate(n: number): void;
}

/** one sequence's token in a batched decode step */
export interface DecodeStep { slot: number; token: number }

export interface BatchGenerator {
  readonly contextLength: number;
  readonly vocabSize: number;
  /** how many sequences it holds at once; slots are 0..slots-1 */
  readonly slots: number;
  /** tokens in a slot's cache */
  cached(slot: number): number;
  /** drop a slot's cache back to its first `n` tokens (0 or less empties it; n past its length keeps it whole) */
  truncate(slot: number, n: number): void;
  /** append tokens to one slot's cache in one forward (a prompt) and return the logits after the last */
  prefill(slot: number, tokens: number[]): Promise<Float32Array>;
  /** one token for each of several distinct slots in one batched forward; their logits, in order */
  decode(steps: readonly DecodeStep[]): Promise<Float32Array[]>;
}

/** One slot of a BatchGenerator as a Generator. */
export class SlotGenerator implements Generator {
  constructor(readonly batch: BatchGenerator, readonly slot = 0) {}

  get contextLength(): number {
    return this.batch.contextLength;
  }
  get vocabSize(): number {
    return this.batch.vocabSize;
  }
  get cached(): number {
    return this.batch.cached(this.slot);
  }
  reset(): void {
    this.batch.truncate(this.slot, 0);
  }
  truncate(n: number): void {
    this.batch.truncate(this.slot, n);
  }
  append(tokens: number[]): Promise<Float32Array> {
    return this.batch.prefill(this.slot, tokens);
  }
}
