// One optimizer step, and the validation loss. A step is recorded whole (forward, backward and
// AdamW for every micro-batch) and read back once: the per-token losses and the gradient norm.
import type { Tensor } from '../gpu/index.ts';
import type { GPT2 } from '../model/gpt2.ts';
import type { AdamW } from '../optim.ts';
import { getBatch, getRows, type TokenDataset } from '../data/windows.ts';
import { mixSeed } from '../ops/dropout.ts';

export interface Batch { x: Uint32Array; y: Int32Array }

/** target tokens (y >= 0) in a batch: the ones the loss covers */
export const countTargets = (y: Int32Array) => y.reduce((n, t) => n + (t >= 0 ? 1 : 0), 0);
const sum = (a: Float32Array) => a.reduce((s, v) => s + v, 0);

/** the micro-batches of an optimizer step whose first row is element `position` of the data order */
export function stepBatches(ds: TokenDataset, position: number, o: { batchSize: number; gradAccum: number; order: 'random' | 'sequential'; seed: number }): Batch[] {
  return Array.from({ length: o.gradAccum }, (_, micro) => getRows(ds, position + micro * o.batchSize, o.batchSize, o.order, o.seed));
}

export interface StepResult {
  /** mean loss over the step's target tokens; 0 when it has none */
  loss: number;
  /** global gradient norm before clipping */
  gradNorm: number;
  /** target tokens in the step: 0 means the step was skipped (nothing to learn, no update) */
  targets: number;
}

/**
 * Forward, backward and an AdamW update over `batches` ([B, T] micro-batches of one step), in
 * one submit and one readback into `out` (at least B*T*batches.length + 1 floats). The loss is
 * the mean over all the step's target tokens, as one batch holding them all would have it (a
 * mean of the micro-batches' means would weigh the tokens of a micro-batch with few replies
 * above the others). `seed` (one per step) drives the dropout of a LoRA adapter that has some.
 * A step whose batches hold no target tokens (windows of conversations without a Bot reply)
 * has no loss and no gradient: it is skipped, the weights and the optimizer's moments stay as
 * they are.
 */
export async function trainStep(model: GPT2, opt: AdamW, batches: Batch[], B: number, T: number, lr: number, out: Tensor, seed = 0): Promise<StepResult> {
  const counts = batches.map((b) => countTargets(b.y));
  const targets = counts.reduce((a, b) => a + b, 0);
  if (targets === 0) return { loss: 0, gradNorm: 0, targets };
  let rows = 0;
  batches.forEach(({ x, y }, i) => {
    const n = counts[i];
    if (!n) return; // nothing to learn from this micro-batch
    const perToken = model.lossPerToken(x, y, B, T, 1 / targets, mixSeed(seed, i));
    model.tape.backward();
    model.gpu.copy(perToken, out, n, 0, rows);
    rows += n;
    model.tape.clear();
  });
  model.gpu.copy(opt.update(lr), out, 1, 0, out.size - 1);
  opt.zeroGrad(); // for the next step, in this step's submit
  const readBack = await out.read();
  return { loss: sum(readBack.subarray(0, rows)) / targets, gradNorm: Math.sqrt(readBack[out.size - 1]), targets };
}

/**
 * Mean loss over the target tokens of the first `steps` batches of `ds` in order, each window
 * counted once (a last batch that would wrap to the first windows scores only the new ones,
 * and a set smaller than a batch is one batch of its size); null when they hold none, or when
 * `stop` says so before a batch (a Stop pressed during it: the rest is not waited for).
 */
export async function evaluate(model: GPT2, ds: TokenDataset, steps: number, batchSize: number, T: number, stop?: () => boolean): Promise<number | null> {
  let total = 0, count = 0;
  const windows = ds.stats.windows, B = Math.max(1, Math.min(batchSize, windows));
  model.tape.enabled = false;
  try {
    const n = Math.min(steps, Math.ceil(windows / B));
    for (let s = 0; s < n; s++) {
      if (stop?.()) return null;
      const { x, y } = getBatch(ds, s, B, 'sequential', 0);
      y.fill(-1, Math.max(0, windows - s * B) * T); // rows past the last window: wrapped around, already scored
      const c = countTargets(y);
      if (!c) continue;
      total += sum(await model.lossPerToken(x, y, B, T, 0).read());
      count += c;
      model.tape.clear();
    }
  } finally {
    model.tape.enabled = true;
  }
  return count ? total / count : null;
}
