// Token embedding gradient, deterministic without atomics: one workgroup per distinct token id
// sums that token's dout rows in ascending row order (a bucketing built on the CPU) and adds
// the sum into its dwte row. dwte may be bound one vocabulary chunk at a time (rows from v0).
// bucket layout: ids[U] (ascending), starts[U + 1], rows[...] (row indices grouped by id).
override WG: u32 = 64;

struct Params { C: u32, U: u32, u0: u32, count: u32, v0: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> bucket: array<u32>;
@group(0) @binding(3) var<storage, read_write> dwte: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = wid.y * nwg.x + wid.x;
  if (k >= p.count) { return; }
  let u = p.u0 + k;
  let row = (bucket[u] - p.v0) * p.C;
  let first = bucket[p.U + u];
  let last = bucket[p.U + u + 1u];
  let rows = 2u * p.U + 1u;
  for (var c = lid; c < p.C; c += WG) {
    var s = 0.0;
    for (var i = first; i < last; i++) { s += dout[bucket[rows + i] * p.C + c]; }
    dwte[row + c] += s;
  }
}
