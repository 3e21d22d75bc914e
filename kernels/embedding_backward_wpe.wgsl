// Position embedding gradient: dwpe[t] += sum over the batch of dout[b*T + t], in batch order,
// for the rows n0..n0+N of one row chunk. One workgroup per position, lanes over channels.
override WG: u32 = 64;

struct Params { N: u32, T: u32, C: u32, n0: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read_write> dwpe: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = wid.y * nwg.x + wid.x;
  if (t >= p.T) { return; }
  let first = (t + p.T - p.n0 % p.T) % p.T; // first chunk row at position t
  if (first >= p.N) { return; }
  for (var c = lid; c < p.C; c += WG) {
    var s = 0.0;
    for (var n = first; n < p.N; n += p.T) { s += dout[n * p.C + c]; }
    dwpe[t * p.C + c] += s;
  }
}
