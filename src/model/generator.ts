// The interface between the chat front end and the model's KV-cached generation.
// (Implemented by the GPT-2 model in src/model/generate.ts; tests may use a fake.)

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
