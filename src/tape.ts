// A minimal autograd tape: forward ops record a backward closure; backward() runs them in
// reverse. Backward kernels add (+=) into gradients, so a tensor used twice (the residual
// stream) simply receives two contributions. Activations are reference-counted by the
// closures that still need them and go back to the buffer pool as soon as none do.
// A frozen parameter (LoRA's base weights) takes part in the forward and passes gradients
// through to its inputs, but gets no gradient buffer of its own: layers ask needsGrad() first.
import type { Tensor } from './gpu/index.ts';

interface Entry {
  backward: () => void;
  saved: Tensor[];
  outputs: Tensor[];
}

export class Tape {
  /** false = no-grad mode (evaluation, generation): nothing is recorded */
  enabled = true;
  private entries: Entry[] = [];
  private refs = new Map<Tensor, number>();
  private params = new WeakSet<Tensor>();
  private frozen = new WeakSet<Tensor>();
  /** every activation created since the last clear(), so none leaks */
  private live: Tensor[] = [];

  markParam(t: Tensor): void {
    this.params.add(t);
  }
  isParam(t: Tensor): boolean {
    return this.params.has(t);
  }
  /** A parameter that is not trained: no gradient buffer, no weight-gradient work. */
  freeze(t: Tensor): void {
    this.markParam(t);
    this.frozen.add(t);
  }
  /** false for frozen parameters: their layers skip the weight-gradient work */
  needsGrad(t: Tensor): boolean {
    return !this.frozen.has(t);
  }

  /** Register a freshly allocated activation. */
  track<T extends Tensor>(t: T): T {
    this.live.push(t);
    return t;
  }

  /** The gradient of t, allocated (zeroed) on first use. */
  grad(t: Tensor): Tensor {
    if (this.frozen.has(t)) throw new Error(`'${t.label}' is frozen: it has no gradient`);
    return (t.grad ??= t.gpu.zeros(t.shape, `d(${t.label})`));
  }

  /** Record an op: `saved` are the tensors its backward reads, `outputs` the tensors it wrote. */
  record(outputs: Tensor[], saved: Tensor[], backward: () => void): void {
    if (!this.enabled) return;
    for (const t of [...saved, ...outputs]) this.refs.set(t, (this.refs.get(t) ?? 0) + 1);
    this.entries.push({ backward, saved, outputs });
  }

  /** Run every recorded backward in reverse order, freeing activations and their grads on the way. */
  backward(): void {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i];
      e.backward();
      for (const o of e.outputs) {
        // an output's gradient is complete once its producer has consumed it
        if (!this.isParam(o) && o.grad) {
          o.grad.release();
          o.grad = null;
        }
      }
      for (const t of [...e.saved, ...e.outputs]) this.unref(t);
    }
    this.entries = [];
  }

  private unref(t: Tensor): void {
    const n = (this.refs.get(t) ?? 1) - 1;
    if (n > 0) {
      this.refs.set(t, n);
      return;
    }
    this.refs.delete(t);
    if (!this.isParam(t)) t.release();
  }

  /** Release every activation except `keep` (no-grad mode: call between layers to bound memory). */
  sweep(keep: Tensor[] = []): void {
    const k = new Set(keep);
    const rest: Tensor[] = [];
    for (const t of this.live) {
      if (k.has(t)) rest.push(t);
      else if (!this.refs.has(t)) t.release();
      else rest.push(t);
    }
    this.live = rest;
  }

  /** Drop the recording and free all activations (after backward, or to abandon a forward). */
  clear(): void {
    this.entries = [];
    this.refs.clear();
    for (const t of this.live) t.release();
    this.live = [];
  }

  /** Run fn with recording off. */
  noGrad<T>(fn: () => T): T {
    const was = this.enabled;
    this.enabled = false;
    try {
      return fn();
    } finally {
      this.enabled = was;
    }
  }
}
