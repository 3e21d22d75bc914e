// dbias[n] += sum over rows m of dout[m, n]. One lane per 4 columns, rows summed in order
// (deterministic, no atomics); runs of 4 columns are read as one load away from the N edge.
override WG: u32 = 64;

struct Params { M: u32, N: u32, offD: u32, offB: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read_write> dbias: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let n = ((wid.y * nwg.x + wid.x) * WG + lid) * 4u;
  let ln = p.N - 1u;
  var s = vec4f(0.0);
  if ((wid.y * nwg.x + wid.x + 1u) * WG * 4u <= p.N) {
    for (var m = 0u; m < p.M; m++) {
      let i = p.offD + m * p.N + n;
      s += vec4f(dout[i], dout[i + 1u], dout[i + 2u], dout[i + 3u]);
    }
  } else {
    let c = vec4u(min(n, ln), min(n + 1u, ln), min(n + 2u, ln), min(n + 3u, ln));
    for (var m = 0u; m < p.M; m++) {
      let r = p.offD + m * p.N;
      s += vec4f(dout[r + c.x], dout[r + c.y], dout[r + c.z], dout[r + c.w]);
    }
  }
  for (var j = 0u; j < 4u; j++) {
    if (n + j < p.N) { dbias[p.offB + n + j] += s[j]; }
  }
}
