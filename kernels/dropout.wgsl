// out (+)= scale * x * keep(i): inverted dropout with the 1/(1-p) folded into `scale` by the
// caller, or a plain scaled copy when threshold = 0 (nothing is dropped). keep(i) is a hash
// of (seed, global element index) compared with threshold (= p * 2^32): the mask is never
// stored, the backward regenerates it from the same seed, and it does not depend on how the
// tensor is split into dispatches (`base` is the chunk's first element).
override WG: u32 = 256;

struct Params { n: u32, base: u32, seed: u32, threshold: u32, scale: f32, accumulate: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// lowbias32 (Chris Wellons): a 32-bit integer hash with good avalanche; must match dropoutKeep in src/ops/dropout.ts
fn mix(v: u32) -> u32 {
  var h = v;
  h ^= h >> 16u;
  h *= 0x7feb352du;
  h ^= h >> 15u;
  h *= 0x846ca68bu;
  h ^= h >> 16u;
  return h;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n) { return; }
  var v = 0.0;
  if (mix(mix(p.base + i) ^ p.seed) >= p.threshold) { v = p.scale * x[i]; }
  if (p.accumulate != 0u) { v += out[i]; }
  out[i] = v;
}
