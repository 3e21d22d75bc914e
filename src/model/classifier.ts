// The tied lm_head and the loss, fused and in row chunks (as llm.c's fused classifier):
// logits for a chunk of rows are computed, turned into dlogits in place by the cross-entropy
// kernel, and immediately consumed by the two backward matmuls. The [B·T, V] logits tensor
// never exists, and neither does a separate dlogits.
import type { Gpu, Tensor } from '../gpu/index.ts';
import type { Tape } from '../tape.ts';
import { asMatmulOperand, matmul } from '../ops/matmul.ts';
import { crossEntropyForwardBackward } from '../ops/crossentropy.ts';
import { addInto } from '../ops/residual.ts';
import { embeddingForward } from '../ops/embedding.ts';
import { pieces, rowsPerBinding } from '../ops/fit.ts';

/**
 * Rows per chunk: at most 256 (a small logits buffer) whose logits fit one binding; when there
 * is more than one chunk, a multiple of 64 (so the u32/f32 views of later chunks stay 256-byte aligned).
 */
export function classifierChunkRows(rows: number, V: number, bindingLimit: number): number {
  const fit = rows * V * 4 <= bindingLimit ? rows : rowsPerBinding(V * 4, bindingLimit, 64, 'classifierLoss');
  return Math.min(rows, 256, fit);
}

/** maximal runs [start, end) of rows whose target is not ignored */
export function targetRuns(targets: Int32Array): [number, number][] {
  const runs: [number, number][] = [];
  for (let i = 0; i < targets.length; i++) {
    if (targets[i] < 0) continue;
    if (runs.length && runs[runs.length - 1][1] === i) runs[runs.length - 1][1] = i + 1;
    else runs.push([i, i + 1]);
  }
  return runs;
}

/** the rows that have targets, and their targets uploaded (before the step's dispatches are recorded) */
export interface ClassifierTargets {
  /** rows with a target */
  count: number;
  /** their targets, compacted, on the GPU */
  targets: Tensor | null;
  /**
   * Unless every row has a target: u32 `rows` [count], the row of each compacted target, and
   * `slots` [N], each row's place among them (NO_SLOT: none), for gathering the rows with targets
   * and scattering their gradient back in one dispatch each (the embedding lookup, x as the table)
   */
  rows: Tensor | null;
  slots: Tensor | null;
}

/** a row without a target: outside every table, so the gather kernel skips it */
const NO_SLOT = 0xffffffff;

export function classifierTargets(gpu: Gpu, targets: Int32Array): ClassifierTargets {
  const runs = targetRuns(targets);
  const count = runs.reduce((n, [a, b]) => n + b - a, 0);
  if (count === 0) return { count, targets: null, rows: null, slots: null };
  if (count === targets.length) return { count, targets: gpu.fromArray(targets, [count], 'targets'), rows: null, slots: null };
  const ta = new Int32Array(count), rows = new Uint32Array(count), slots = new Uint32Array(targets.length).fill(NO_SLOT);
  let k = 0;
  for (const [a, b] of runs) {
    ta.set(targets.subarray(a, b), k);
    for (let r = a; r < b; r++, k++) {
      rows[k] = r;
      slots[r] = k;
    }
  }
  // tracked by classifierLoss, not here: a no-grad forward sweeps tracked tensors between layers
  return {
    count,
    targets: gpu.fromArray(ta, [count], 'targets'),
    rows: gpu.fromArray(rows, [count], 'rows with targets'),
    slots: gpu.fromArray(slots, [targets.length], 'row slots'),
  };
}

/**
 * Losses of predicting the targets (see classifierTargets; -1 = ignored) from hidden states
 * x[N,C] through the tied embedding wte[V,C], one per row that has a target (ignored rows are
 * skipped entirely: with loss masking most rows are, and the lm_head is most of a small model's
 * cost). With the tape on, the gradients for x and wte (unless frozen) are computed here, scaled
 * by gradScale (dLoss/dlossRow). `logitBias` [V], if given, is added to every row's logits.
 */
export function classifierLoss(tape: Tape, x: Tensor, wte: Tensor, t: ClassifierTargets, N: number, C: number, V: number, gradScale: number, logitBias?: Tensor): Tensor {
  const gpu = x.gpu;
  const { count: Na } = t;
  if (!t.targets) return tape.track(gpu.zeros([1], 'losses'));
  const tgt = tape.track(t.targets);
  // gather the rows that have targets into one contiguous block
  const xa = t.rows ? tape.track(gpu.tensor([Na, C], 'rows with targets')) : x;
  if (t.rows) embeddingForward(tape.track(t.rows), x, null, xa, Na, 1, C, N);
  const slots = t.slots ? tape.track(t.slots) : null;
  const R = classifierChunkRows(Na, V, gpu.bindingLimit);
  const losses = tape.track(gpu.tensor([Na], 'losses'));
  const logits = gpu.tensor([R, V], 'logits chunk');
  const train = tape.enabled;
  const dxa = train ? tape.track(gpu.tensor([Na, C], 'd(rows with targets)')) : null;
  const dwte = train && tape.needsGrad(wte) ? tape.grad(wte) : null; // frozen (LoRA): no lm_head weight gradient
  // an f16 wte (a frozen f16 base) is widened once for every chunk where matmul does not read f16
  asMatmulOperand(wte, (w) => {
    for (const [r0, rc] of pieces(Na, R)) {
      const lg = logits.view(0, [rc, V]);
      const xr = xa.view(r0 * C, [rc, C]);
      matmul(xr, w, lg, rc, V, C, { transB: true, bias: logitBias });
      crossEntropyForwardBackward(lg, tgt.view(r0, [rc]), losses.view(r0, [rc]), rc, V, gradScale);
      if (dxa) matmul(lg, w, dxa.view(r0 * C, [rc, C]), rc, C, V);
      if (dwte) matmul(lg, xr, dwte, V, C, rc, { transA: true, accumulate: true });
    }
  });
  logits.release();
  if (dxa) {
    tape.record([], [x], () => {
      // scatter the rows back; rows without a target get no gradient
      const dx = slots ? gpu.zeros([N, C], 'd(ln_f out)') : dxa;
      if (slots) {
        embeddingForward(slots, dxa, null, dx, N, 1, C, Na);
        tape.track(dx);
      }
      if (x.grad) addInto(x.grad, dx);
      else x.grad = dx.reshape(dx.shape); // a view: dx itself is released by tape.clear()
    });
  }
  return losses;
}
