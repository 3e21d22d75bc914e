// Dropout with a counter-based mask, and plain scaling: out (+)= scale · x · keep / (1 - p), each
// element kept with probability 1 - p. The mask is a hash of (seed, element index), so it is
// deterministic, costs no memory, and the backward (the same op on the gradient, same seed)
// regenerates it. LoRA uses it on the adapter's input (PEFT's lora_dropout) and, with p = 0,
// to scale by alpha / r. CPU reference beside it.
import { kernel, type Tensor } from '../gpu/index.ts';
import { elementChunks, grid1d } from './fit.ts';
import { seedState } from '../util/rng.ts';
import code from '../../kernels/dropout.wgsl';

const k = kernel('dropout', code);
const WG = 256;

/** the kernel's threshold: an element is dropped when its hash is below p · 2^32 */
const threshold = (p: number) => Math.min(0xffffffff, Math.round(p * 2 ** 32));

function checkP(p: number): void {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
}

/**
 * out = (accumulate ? out : 0) + scale · x · keep(seed, i) / (1 - p) over all elements (p = 0:
 * out (+)= scale · x). x and out must be different tensors of the same size.
 */
export function dropout(x: Tensor, out: Tensor, p: number, seed: number, scale = 1, accumulate = false): void {
  checkP(p);
  if (x.size !== out.size) throw new Error(`dropout: '${x.label}' has ${x.size} elements, '${out.label}' ${out.size}`);
  if (x.buffer === out.buffer) throw new Error(`dropout: out '${out.label}' shares a GPU buffer with x`);
  for (const [s, n] of elementChunks(x.size, x.gpu.bindingLimit)) {
    x.gpu.dispatch(k, {
      params: { n, base: s, seed: seed >>> 0, threshold: threshold(p), scale: scale / (1 - p), accumulate: accumulate ? 1 : 0 },
      bindings: [x.binding(s, n), out.binding(s, n)],
      workgroups: grid1d(n, WG),
      constants: { WG },
    });
  }
}

// ---- CPU reference ----

/** lowbias32, as kernels/dropout.wgsl's mix() (u32 arithmetic: Math.imul wraps like WGSL) */
function mix(v: number): number {
  let h = v >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** whether element i survives dropout p under `seed` */
export function dropoutKeep(seed: number, i: number, p: number): boolean {
  return (mix(mix(i) ^ (seed >>> 0)) >>> 0) >= threshold(p);
}

/** scale · x · keep / (1 - p) in float64 (the backward is the same function applied to the gradient) */
export function dropoutCpu(x: ArrayLike<number>, p: number, seed: number, scale = 1): Float64Array {
  checkP(p);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = dropoutKeep(seed, i, p) ? (scale * x[i]) / (1 - p) : 0;
  return out;
}

/** a seed for one use of dropout, from a run-level seed and indices (step, micro-batch, layer, ...) */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const v of parts) h = mix(h ^ mix(seedState(v))); // a seed past 32 bits keeps its high bits (util/rng.ts)
  return h;
}
