// A sampled softmax for training small models from scratch: the lm_head over all 50257 tokens is
// most of such a model's step (4 layers of width 128: 85% of the multiply-adds). The tokens of
// the training data are always in the softmax (every target is one of them); the others, which
// the data never asks for, are represented each step by a few thousand drawn at random, their
// logits raised by log(others / drawn) so that they stand for all of them (the usual logQ
// correction of a sampled softmax, with uniform sampling). The model still learns that those
// tokens do not come, and ends with a softmax over the whole vocabulary that a plain GPT-2
// sampler can use. The weights stay GPT-2's (wte keeps every row).
import { Rng } from '../util/rng.ts';
import { mixSeed } from '../ops/dropout.ts';

/** The tokens one loss's softmax covers, each with a logit offset (0 for an exact member). */
export class OutputVocab {
  private readonly index: Int32Array;
  /**
   * `ids`: distinct token ids; `logitBias` (same length) is added to their logits. Targets
   * must be among them (remap throws otherwise).
   */
  constructor(readonly ids: Uint32Array, readonly logitBias: Float32Array, readonly V: number) {
    if (!ids.length) throw new Error('OutputVocab: no tokens');
    if (logitBias.length !== ids.length) throw new Error(`OutputVocab: ${logitBias.length} biases for ${ids.length} tokens`);
    this.index = new Int32Array(V).fill(-1);
    ids.forEach((t, i) => {
      if (t >= V) throw new Error(`OutputVocab: token ${t} is outside the vocabulary (${V})`);
      if (this.index[t] >= 0) throw new Error(`OutputVocab: token ${t} twice`);
      this.index[t] = i;
    });
  }
  /** targets as positions in ids (-1, no loss, stays -1) */
  remap(y: Int32Array): Int32Array {
    return y.map((t) => {
      if (t < 0) return t;
      const i = this.index[t];
      if (i < 0) throw new Error(`OutputVocab: target token ${t} is not in the output vocabulary`);
      return i;
    });
  }
}

/** The data's tokens plus `drawn` of the other tokens per step, seeded by (seed, step). */
export class SampledSoftmax {
  /** the data's distinct tokens, ascending */
  readonly exact: Uint32Array;
  private readonly others: Uint32Array;
  /** others drawn per step: `drawn`, or all of them when there are fewer */
  readonly perStep: number;
  /** `data`: the token arrays whose tokens are always in (the training and validation sets) */
  constructor(data: ArrayLike<number>[], readonly V: number, readonly drawn: number, readonly seed: number) {
    if (!(Number.isInteger(drawn) && drawn > 0)) throw new Error(`SampledSoftmax: drawn=${drawn} must be a positive integer`);
    const seen = new Uint8Array(V);
    for (const tokens of data) {
      for (let i = 0; i < tokens.length; i++) {
        const t = tokens[i];
        if (!(t >= 0 && t < V)) throw new Error(`SampledSoftmax: token ${t} is outside the vocabulary (${V})`);
        seen[t] = 1;
      }
    }
    this.exact = Uint32Array.from({ length: V }, (_, i) => i).filter((i) => seen[i]);
    this.others = Uint32Array.from({ length: V }, (_, i) => i).filter((i) => !seen[i]);
    this.perStep = Math.min(drawn, this.others.length);
  }
  /** how many tokens are not in the data */
  get otherCount(): number {
    return this.others.length;
  }
  /** the softmax of step `step`: the data's tokens, then min(drawn, others) others without repeats */
  forStep(step: number): OutputVocab {
    const n = this.perStep;
    const pool = this.others.slice();
    const rng = new Rng(mixSeed(this.seed, step));
    for (let i = 0; i < n; i++) { // partial Fisher-Yates: the first n of a random permutation
      const j = i + rng.int(pool.length - i);
      [pool[i], pool[j]] = [pool[j], pool[i]];
    }
    const ids = new Uint32Array(this.exact.length + n);
    ids.set(this.exact);
    ids.set(pool.subarray(0, n), this.exact.length);
    const bias = new Float32Array(ids.length);
    if (n) bias.fill(Math.log(this.others.length / n), this.exact.length);
    return new OutputVocab(ids, bias, this.V);
  }
}
