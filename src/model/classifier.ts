// The tied lm_head and the loss, fused and in row chunks (as llm.c's fused classifier):
// logits for a chunk of rows are computed, turned into dlogits in place by the cross-entropy
// kernel, and immediately consumed by the two backward matmuls. The [B·T, V] logits tensor
// never exists, and neither does a separate dlogits.
import type { Tensor } from '../gpu/index.ts';
import type { Tape } from '../tape.ts';
import { matmul } from '../ops/matmul.ts';
import { crossEntropyForwardBackward } from '../ops/crossentropy.ts';
import { addInto } from '../ops/residual.ts';

/** rows per chunk: a multiple of 64 (so u32/f32 views stay 256-byte aligned) whose logits fit one binding */
export function classifierChunkRows(rows: number, V: number, bindingLimit: number): number {
  const fit = Math.floor(bindingLimit / (V * 4));
  const r = Math.max(64, Math.min(256, Math.floor(fit / 64) * 64));
  return Math.min(rows, r);
}

/**
 * Per-row losses[N] of predicting `targets` (-1 = ignored) from hidden states x[N,C] through the
 * tied embedding wte[V,C]. With the tape on, the gradients for x and wte are computed here,
 * scaled by gradScale (dLoss/dlossRow), and x's is handed to the tape.
 */
export function classifierLoss(tape: Tape, x: Tensor, wte: Tensor, targets: Int32Array, N: number, C: number, V: number, gradScale: number): Tensor {
  const gpu = x.gpu;
  const R = classifierChunkRows(N, V, gpu.bindingLimit);
  const tgt = tape.track(gpu.fromArray(targets, [N], 'targets'));
  const losses = tape.track(gpu.tensor([N], 'losses'));
  const logits = gpu.tensor([R, V], 'logits chunk');
  const train = tape.enabled;
  const dx = train ? tape.track(gpu.tensor([N, C], 'd(ln_f out)')) : null;
  const dwte = train ? tape.grad(wte) : null;
  for (let r0 = 0; r0 < N; r0 += R) {
    const rc = Math.min(R, N - r0);
    const lg = logits.view(0, [rc, V]);
    const xr = x.view(r0 * C, [rc, C]);
    matmul(xr, wte, lg, rc, V, C, { transB: true });
    crossEntropyForwardBackward(lg, tgt.view(r0, [rc]), losses.view(r0, [rc]), rc, V, gradScale);
    if (dx && dwte) {
      matmul(lg, wte, dx.view(r0 * C, [rc, C]), rc, C, V);
      matmul(lg, xr, dwte, V, C, rc, { transA: true, accumulate: true });
    }
  }
  logits.release();
  if (dx) {
    tape.record([], [x], () => {
      if (x.grad) addInto(x.grad, dx);
      else x.grad = dx.reshape(dx.shape); // a view: dx itself is released by tape.clear()
    });
  }
  return losses;
}

/** logits[1,V] of the last of `rows` hidden states (generation) */
export function lastLogits(x: Tensor, wte: Tensor, rows: number, C: number, V: number, out: Tensor): void {
  matmul(x.view((rows - 1) * C, [1, C]), wte, out, 1, V, C, { transB: true });
}
