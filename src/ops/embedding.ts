// Token + position embedding (GPT-2's wte, wpe): forward, deterministic backward, CPU reference.
import { f16Weights, kernel, type Gpu, type Tensor } from '../gpu/index.ts';
import { alignedRows, grid1d, rowChunks } from './fit.ts';
import fwdCode from '../../kernels/embedding_forward.wgsl';
import wteCode from '../../kernels/embedding_backward_wte.wgsl';
import wpeCode from '../../kernels/embedding_backward_wpe.wgsl';

const fwd = kernel('embedding_forward', fwdCode);
const fwdF16 = f16Weights(fwd); // wte in f16 (weights never trained); the output is f32
const bwdWte = kernel('embedding_backward_wte', wteCode);
const bwdWpe = kernel('embedding_backward_wpe', wpeCode);
const WG = 64;

/**
 * out[N=B*T, C] = wte[tokens[n]] + wpe[n % T] (wpe null: wte's rows alone); tokens is a u32
 * tensor [N]; wte is [V, C] and may be larger than gpu.bindingLimit (GPT-2's fp32 wte is 154 MB
 * vs 128 MiB here): split it into row chunks with 256-byte-aligned byte offsets and dispatch per chunk.
 */
export function embeddingForward(tokens: Tensor, wte: Tensor, wpe: Tensor | null, out: Tensor, N: number, T: number, C: number, V: number): void {
  const gpu = out.gpu, eb = wte.elementBytes;
  // vocabulary chunks start on aligned byte offsets (64 rows do for 4-byte elements; 2-byte ones may need more)
  const vocab = rowChunks(V, C, gpu.bindingLimit, Math.max(64, alignedRows(C * eb, gpu.limits.minStorageBufferOffsetAlignment)), 'embeddingForward', eb);
  for (const [n0, n] of rowChunks(N, C, gpu.bindingLimit)) {
    for (const [v0, vn] of vocab) {
      gpu.dispatch(wte.dtype === 'f16' ? fwdF16 : fwd, {
        params: { N: n, T, C, n0, v0, vn, hasPos: wpe ? 1 : 0 },
        // without a position table the tokens stand in for it (two read-only bindings may alias)
        bindings: [tokens.binding(n0, n), wte.binding(v0 * C, vn * C), wpe ? wpe.binding(0, T * C) : tokens.binding(n0, n), out.binding(n0 * C, n * C)],
        workgroups: grid1d(n, 1),
        constants: { WG },
      });
    }
  }
}

/** Distinct ids ascending, and for each the rows holding it (ascending), as one u32 array: ids[U], starts[U+1], rows[n]. */
function bucketRows(ids: Uint32Array): { bucket: Uint32Array; unique: Uint32Array } {
  const n = ids.length;
  // the rows ordered by id, ascending within an id: a counting sort (a comparator sort was a
  // millisecond or more of every training step)
  let max = 0;
  for (let i = 0; i < n; i++) max = Math.max(max, ids[i]);
  const next = new Uint32Array(max + 2); // per id: where its next row goes in `order`
  for (let i = 0; i < n; i++) next[ids[i] + 1]++;
  for (let v = 0; v <= max; v++) next[v + 1] += next[v];
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[next[ids[i]]++] = i;
  let U = 0;
  for (let i = 0; i < n; i++) if (i === 0 || ids[order[i]] !== ids[order[i - 1]]) U++;
  const bucket = new Uint32Array(2 * U + 1 + n);
  let u = -1;
  for (let i = 0; i < n; i++) {
    if (i === 0 || ids[order[i]] !== ids[order[i - 1]]) {
      bucket[++u] = ids[order[i]];
      bucket[U + u] = i;
    }
    bucket[2 * U + 1 + i] = order[i];
  }
  bucket[2 * U] = n;
  return { bucket, unique: bucket.subarray(0, U) };
}

/** first index in the ascending `a` whose value is >= v */
function lowerBound(a: Uint32Array, v: number): number {
  let lo = 0, hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** token ids sorted into per-id row lists, uploaded: what embeddingBackward needs, prepared before a step's dispatches */
export interface EmbeddingBuckets {
  chunks: { n0: number; n: number; bucket: Tensor; unique: Uint32Array }[];
  release(): void;
}

/** Bucket the token ids on the CPU and upload them (one write per row chunk; do it before recording the step). */
export function embeddingBuckets(gpu: Gpu, tokenIds: Uint32Array, N: number, C: number, V: number): EmbeddingBuckets {
  if (tokenIds.length < N) throw new Error(`embeddingBackward: ${tokenIds.length} token ids for ${N} rows`);
  for (let i = 0; i < N; i++) if (tokenIds[i] >= V) throw new Error(`embeddingBackward: token ${tokenIds[i]} at row ${i} is outside the vocabulary of ${V}`);
  const chunks = rowChunks(N, C, gpu.bindingLimit).map(([n0, n]) => {
    const { bucket: ids, unique } = bucketRows(tokenIds.subarray(n0, n0 + n));
    const bucket = gpu.tensor([ids.length], 'embedding backward buckets', 'u32');
    bucket.write(ids);
    return { n0, n, bucket, unique };
  });
  return { chunks, release: () => chunks.forEach((c) => c.bucket.release()) };
}

/**
 * dwte[V,C] += sum of dout rows per token id; dwpe[T,C] += sum over the batch per position
 * (dwpe null: no position table). Deterministic, no atomics: one workgroup per distinct id sums
 * its rows in ascending order.
 * `tokens` are the ids on the CPU (bucketed and uploaded here, which flushes pending work) or
 * buckets prepared earlier with embeddingBuckets.
 */
export function embeddingBackward(dout: Tensor, tokens: Uint32Array | EmbeddingBuckets, dwte: Tensor, dwpe: Tensor | null, N: number, T: number, C: number, V: number): void {
  const gpu = dout.gpu;
  const buckets = tokens instanceof Uint32Array ? embeddingBuckets(gpu, tokens, N, C, V) : tokens;
  const vocab = rowChunks(V, C, gpu.bindingLimit);
  for (const { n0, n, bucket, unique } of buckets.chunks) {
    const rows = dout.binding(n0 * C, n * C);
    for (const [v0, vn] of vocab) {
      const u0 = lowerBound(unique, v0), count = lowerBound(unique, v0 + vn) - u0;
      if (count === 0) continue;
      gpu.dispatch(bwdWte, {
        params: { C, U: unique.length, u0, count, v0 },
        bindings: [rows, bucket, dwte.binding(v0 * C, vn * C)],
        workgroups: grid1d(count, 1),
        constants: { WG },
      });
    }
    if (dwpe) gpu.dispatch(bwdWpe, { params: { N: n, T, C, n0 }, bindings: [rows, dwpe.binding(0, T * C)], workgroups: grid1d(T, 1), constants: { WG } });
  }
  if (tokens instanceof Uint32Array) buckets.release();
}

// ---- CPU reference (float64) ----
export function embeddingForwardCpu(tokens: ArrayLike<number>, wte: ArrayLike<number>, wpe: ArrayLike<number>, N: number, T: number, C: number): Float64Array {
  const out = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    const t = n % T;
    for (let c = 0; c < C; c++) out[n * C + c] = wte[tokens[n] * C + c] + wpe[t * C + c];
  }
  return out;
}

export function embeddingBackwardCpu(dout: ArrayLike<number>, tokens: ArrayLike<number>, N: number, T: number, C: number, V: number): { dwte: Float64Array; dwpe: Float64Array } {
  const dwte = new Float64Array(V * C), dwpe = new Float64Array(T * C);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      dwte[tokens[n] * C + c] += dout[n * C + c];
      dwpe[(n % T) * C + c] += dout[n * C + c];
    }
  }
  return { dwte, dwpe };
}
