// Decode-time matrix-vector product: out[N] = x[K] · W[K,N] + bias[N] (one token, HF Conv1D layout).
// Each invocation owns 4 adjacent columns and streams its vec4 of every W row: the cost is
// reading W once, which is all a single token needs. N and K are multiples of 4.
override WG: u32 = 64;

struct Params { K: u32, N4: u32, has_bias: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> w: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4f>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let n = gid.x;
  if (n >= p.N4) { return; }
  var acc = vec4f(0.0);
  for (var k4 = 0u; k4 < p.K / 4u; k4++) {
    let xv = x[k4];
    let r = 4u * k4 * p.N4 + n;
    acc += xv.x * w[r] + xv.y * w[r + p.N4] + xv.z * w[r + 2u * p.N4] + xv.w * w[r + 3u * p.N4];
  }
  if (p.has_bias != 0u) { acc += bias[n]; }
  out[n] = acc;
}
