// f16 -> f32, elementwise (exact): out[i] = f16 element i of inp, two to a u32, widened by
// unpack2x16float. For the few places that need an f32 copy of an f16 weight for a moment
// (prefill's matmul).

override WG: u32 = 256;

struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> inp: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n) { return; }
  out[i] = unpack2x16float(inp[i >> 1u])[i & 1u];
}
