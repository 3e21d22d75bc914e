// Residual connection: out = a + b, elementwise.
override WG: u32 = 256;
override K: u32 = 8; // elements per invocation, WG apart: on lavapipe per-invocation overhead, not memory, dominates

struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let base = (wid.y * nwg.x + wid.x) * WG * K + lid;
  for (var j = 0u; j < K; j++) {
    let i = base + j * WG;
    if (i >= p.n) { return; }
    out[i] = a[i] + b[i];
  }
}
