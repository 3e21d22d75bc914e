// LayerNorm backward, weight/bias gradients, pass 2 of 2: add the per-block partials in block
// order (deterministic) into dweight and dbias.
override WG: u32 = 64;

struct Params { C: u32, blocks: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> dweight: array<f32>;
@group(0) @binding(3) var<storage, read_write> dbias: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = (wid.y * nwg.x + wid.x) * WG + lid;
  if (c >= p.C) { return; }
  var dw = 0.0;
  var db = 0.0;
  for (var b = 0u; b < p.blocks; b++) {
    dw += partial[b * 2u * p.C + c];
    db += partial[b * 2u * p.C + p.C + c];
  }
  dweight[c] += dw;
  dbias[c] += db;
}
