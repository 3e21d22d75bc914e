// residual_forward.wgsl on vec4s, K of them a lane, WG apart (why: src/ops/elementwise.ts).
// The first n4 vec4s of the chunk; residual_forward.wgsl does the rest.
override WG: u32 = 256;
override K: u32 = 4;

struct Params { n4: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4f>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let base = (wid.y * nwg.x + wid.x) * WG * K + lid;
  for (var j = 0u; j < K; j++) {
    let i = base + j * WG;
    if (i >= p.n4) { return; }
    out[i] = a[i] + b[i];
  }
}
