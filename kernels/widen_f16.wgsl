// f16 -> f32, elementwise (exact): out[i] = f16 element i of inp, widened by unpack2x16float.
// Four elements a lane (two u32 in, one vec4f out): on lavapipe each load and store is a trip
// over the lanes, so a vec4 costs what one float would. n is a multiple of 4.
// For an f32 copy of an f16 weight for a moment (prefill's matmul, a LoRA run's frozen base).

override WG: u32 = 256;

struct Params { n4: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> inp: array<vec2u>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4f>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n4) { return; }
  let h = inp[i];
  out[i] = vec4f(unpack2x16float(h.x), unpack2x16float(h.y));
}
