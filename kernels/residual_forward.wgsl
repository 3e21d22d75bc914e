// Residual connection: out = a + b, elementwise, one element a lane: the last n % 4 elements,
// after residual_forward_vec4.wgsl did the vec4s before `first`.
override WG: u32 = 256;

struct Params { n: u32, first: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = p.first + (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n) { return; }
  out[i] = a[i] + b[i];
}
