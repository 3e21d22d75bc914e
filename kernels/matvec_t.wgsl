// Decode-time product with a transposed matrix: out[r] = dot(W[r,:], x) for rows r of W[R,K]
// (the tied lm_head: logits = wte · x). One invocation per row, vec4 loads along K.
override WG: u32 = 64;

struct Params { K4: u32, R: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> w: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = (wid.y * nwg.x + wid.x) * WG + lid;
  if (r >= p.R) { return; }
  var acc = vec4f(0.0);
  let base = r * p.K4;
  for (var k = 0u; k < p.K4; k++) {
    acc += w[base + k] * x[k];
  }
  out[r] = acc.x + acc.y + acc.z + acc.w;
}
