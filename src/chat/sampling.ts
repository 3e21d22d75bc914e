// Next-token sampling on the CPU: repetition/frequency/presence penalties, temperature, top-k, top-p.
// Works on one row of vocabSize logits; selects candidates with a bounded heap instead of
// sorting the whole vocabulary.
import type { Rng } from '../util/rng.ts';

export interface SamplingOptions {
  /** 0 = greedy (argmax, ties to the lowest id) */
  temperature: number;
  /** keep only the k most likely tokens; 0 = off */
  topK: number;
  /** nucleus: keep the smallest most-likely prefix whose probability mass >= topP; 1 = off */
  topP: number;
  /** CTRL-style, for tokens present in the recent window: positive logits divided, negative multiplied; 1 = off */
  repetitionPenalty: number;
  /** logit -= frequencyPenalty * (count in the recent window); 0 = off (OpenAI's frequency_penalty) */
  frequencyPenalty: number;
  /** logit -= presencePenalty for every token in the recent window; 0 = off (OpenAI's presence_penalty) */
  presencePenalty: number;
  /** how many of the most recent tokens the penalties look at */
  penaltyWindow: number;
}

export const DEFAULT_SAMPLING: SamplingOptions = {
  temperature: 0.8,
  topK: 50,
  topP: 0.95,
  repetitionPenalty: 1.15,
  frequencyPenalty: 0.2,
  presencePenalty: 0,
  penaltyWindow: 64,
};

/**
 * Penalize tokens seen in the last `penaltyWindow` entries of `recent`, in place: repetition
 * first, then logit -= frequencyPenalty * count + presencePenalty (OpenAI's formula).
 */
export function applyPenalties(logits: Float32Array, recent: readonly number[], o: SamplingOptions): void {
  if (o.repetitionPenalty === 1 && o.frequencyPenalty === 0 && o.presencePenalty === 0) return;
  const counts = new Map<number, number>();
  for (let i = Math.max(0, recent.length - o.penaltyWindow); i < recent.length; i++) {
    const id = recent[i];
    if (id >= 0 && id < logits.length) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  for (const [id, n] of counts) {
    let v = logits[id];
    if (o.repetitionPenalty !== 1) v = v > 0 ? v / o.repetitionPenalty : v * o.repetitionPenalty;
    logits[id] = v - o.frequencyPenalty * n - o.presencePenalty;
  }
}

/** index of the largest value, ties to the lowest index */
function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/**
 * The k best indices of x, best first; ties go to the lower index. A min-heap of size k
 * whose root is the worst kept: O(V log k), and most elements lose against the root at once.
 */
export function topIndices(x: Float32Array, k: number): number[] {
  k = Math.min(k, x.length);
  const worse = (a: number, b: number) => x[a] < x[b] || (x[a] === x[b] && a > b);
  const heap = new Int32Array(k);
  let n = 0;
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < n && worse(heap[l], heap[m])) m = l;
      if (r < n && worse(heap[r], heap[m])) m = r;
      if (m === i) return;
      const t = heap[i]; heap[i] = heap[m]; heap[m] = t;
      i = m;
    }
  };
  for (let i = 0; i < x.length; i++) {
    if (n < k) {
      // sift up
      let j = n++;
      heap[j] = i;
      while (j > 0) {
        const p = (j - 1) >> 1;
        if (!worse(heap[j], heap[p])) break;
        const t = heap[j]; heap[j] = heap[p]; heap[p] = t;
        j = p;
      }
    } else if (worse(heap[0], i)) {
      heap[0] = i;
      siftDown(0);
    }
  }
  return Array.from(heap).sort((a, b) => x[b] - x[a] || a - b);
}

/** one draw from weights w (mass z), walking ids in order */
function drawInIdOrder(w: Float32Array, z: number, rng: Rng): number {
  const r = rng.next() * z;
  let c = 0, last = 0;
  for (let i = 0; i < w.length; i++) {
    if (w[i] === 0) continue;
    c += w[i];
    last = i;
    if (c > r) return i;
  }
  return last;
}

/** one draw from `ids` (best first) restricted to the smallest prefix whose mass >= topP * z */
function drawNucleus(ids: ArrayLike<number>, weight: (id: number) => number, z: number, topP: number, rng: Rng): number {
  const ws: number[] = [];
  let kept = 0;
  for (let i = 0; i < ids.length && (i === 0 || kept < topP * z); i++) kept += ws[i] = weight(ids[i]);
  const r = rng.next() * kept;
  let c = 0;
  for (let i = 0; i < ws.length; i++) {
    c += ws[i];
    if (c > r) return ids[i];
  }
  return ids[ws.length - 1];
}

// top-p without top-k: log-spaced buckets by weight (BUCKETS_PER_NAT per factor e) find the
// bucket where the nucleus ends; only that bucket is sorted.
const BUCKETS = 1024, BUCKETS_PER_NAT = 16;

/**
 * The next token. Order: penalties over the recent window, temperature (0 -> argmax), top-k,
 * top-p over the (renormalized) top-k distribution, then one draw from `rng`.
 * `logits` is not modified.
 */
export function sampleToken(logits: Float32Array, recent: readonly number[], o: SamplingOptions, rng: Rng): number {
  const x = Float32Array.from(logits);
  applyPenalties(x, recent, o);
  for (let i = 0; i < x.length; i++) if (Number.isNaN(x[i])) x[i] = -Infinity;
  if (!(o.temperature > 0)) return argmax(x);
  const V = x.length;
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (x[i] > max) max = x[i];
  if (max === -Infinity) return 0;
  const invT = 1 / o.temperature;
  const topK = o.topK > 0 && o.topK < V ? Math.floor(o.topK) : 0;
  const topP = o.topP > 0 ? o.topP : 0;

  if (topK) {
    const ids = topIndices(x, topK);
    const weight = (id: number) => Math.exp((x[id] - max) * invT);
    let z = 0; // top-p is measured on the renormalized top-k distribution
    for (const id of ids) z += weight(id);
    return drawNucleus(ids, weight, z, Math.min(topP, 1), rng);
  }

  if (topP >= 1) {
    let z = 0;
    for (let i = 0; i < V; i++) {
      x[i] = Math.exp((x[i] - max) * invT);
      z += x[i];
    }
    return drawInIdOrder(x, z, rng);
  }
  // bucket of each token: (max - logit) / T in 1/16 nats; weights replace the logits in x
  const bucket = new Uint16Array(V);
  const mass = new Float64Array(BUCKETS);
  let z = 0;
  for (let i = 0; i < V; i++) {
    const d = (max - x[i]) * invT;
    bucket[i] = Math.min(BUCKETS - 1, Math.floor(d * BUCKETS_PER_NAT));
    x[i] = Math.exp(-d);
    z += x[i];
    mass[bucket[i]] += x[i];
  }
  let edge = 0, below = 0; // the bucket holding the nucleus's end, and the mass before it
  while (edge < BUCKETS - 1 && below + mass[edge] < topP * z) below += mass[edge++];
  // buckets before `edge` are wholly inside the nucleus: they are drawn from in id order
  const r = rng.next();
  const inside: number[] = [], edgeIds: number[] = [];
  for (let i = 0; i < V; i++) {
    if (bucket[i] < edge) inside.push(i);
    else if (bucket[i] === edge) edgeIds.push(i);
  }
  edgeIds.sort((a, b) => x[b] - x[a] || a - b);
  // the nucleus's part of the edge bucket, then one draw over inside + that part
  let kept = below, n = 0;
  while (n < edgeIds.length && (n === 0 || kept < topP * z)) kept += x[edgeIds[n++]];
  let c = 0;
  const target = r * kept;
  for (const id of inside) {
    c += x[id];
    if (c > target) return id;
  }
  for (let i = 0; i < n; i++) {
    c += x[edgeIds[i]];
    if (c > target) return edgeIds[i];
  }
  return n ? edgeIds[n - 1] : inside[inside.length - 1];
}
