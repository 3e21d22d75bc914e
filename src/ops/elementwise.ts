// Elementwise kernels (GELU, the residual add, gradient accumulation) over vec4s, several a lane:
// on lavapipe every storage access is a loop over the lanes and every invocation has a fixed
// cost, so 4K floats a lane take a third to a fifth of the time of one (bench: gelu, residual).
// Each op has two kernels: NAME_vec4.wgsl for a chunk's whole vec4s, NAME.wgsl (one element a
// lane) for its last n % 4 elements.
import type { Binding, Gpu, Kernel } from '../gpu/index.ts';
import { elementChunks, grid1d } from './fit.ts';

/** vec4s a lane (K, WG apart) and lanes a workgroup; tests shrink them to reach a 2-D grid */
export const elementwiseTuning = { vec4sPerLane: 4, workgroupSize: 256 };

/**
 * Elementwise work over `n` f32 elements, in binding-limit chunks: the whole vec4s of a chunk
 * by `vec4` (params { n4 }, overrides WG and K), its last c % 4 elements by `tail` (params
 * { n, first }: one element a lane from `first`, override WG). `bindings(s, c)`: the kernel's
 * storage bindings for elements s..s+c of every tensor.
 */
export function elementwise(gpu: Gpu, n: number, vec4: Kernel, tail: Kernel, bindings: (s: number, c: number) => Binding[]): void {
  const { workgroupSize: WG, vec4sPerLane: K } = elementwiseTuning;
  for (const [s, c] of elementChunks(n, gpu.bindingLimit)) {
    const c4 = c - (c % 4);
    if (c4) gpu.dispatch(vec4, { params: { n4: c4 / 4 }, bindings: bindings(s, c4), workgroups: grid1d(c4 / 4, WG * K), constants: { WG, K } });
    if (c4 < c) gpu.dispatch(tail, { params: { n: c, first: c4 }, bindings: bindings(s, c), workgroups: grid1d(c - c4, WG), constants: { WG } });
  }
}
