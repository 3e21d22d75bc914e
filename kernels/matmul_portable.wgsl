// matmul.wgsl without subgroups, for adapters that lack them (or have subgroups under 8
// lanes): same parameters, bindings and 32 x 4*WGX tile per workgroup, but every lane
// loads its own 4x4 block's operands. Correct everywhere, not tuned for anything.
override WGX: u32 = 8;
override TRANS_A: bool = false;
override TRANS_B: bool = false;

struct Params {
  M: u32, N: u32, K: u32,
  lda: u32, ldb: u32, ldc: u32,
  offA: u32, offB: u32, offC: u32,
  strideA: u32, strideB: u32, strideC: u32,
  offBias: u32,
  flags: u32,                               // 1: C += result (else C = result), 2: add bias
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(WGX, 8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let m0 = wid.y * 32u + lid.y * 4u;
  let n0 = (wid.x * WGX + lid.x) * 4u;
  if (m0 >= p.M || n0 >= p.N) { return; }
  let aoff = p.offA + wid.z * p.strideA;
  let boff = p.offB + wid.z * p.strideB;
  // clamped rows/columns only feed outputs that are not stored
  let m = min(vec4u(m0, m0 + 1u, m0 + 2u, m0 + 3u), vec4u(p.M - 1u));
  let n = min(vec4u(n0, n0 + 1u, n0 + 2u, n0 + 3u), vec4u(p.N - 1u));
  var acc = mat4x4f();   // acc[r] = row m0+r, columns n0..n0+3
  for (var k = 0u; k < p.K; k++) {
    var av: vec4f;
    var bv: vec4f;
    for (var j = 0u; j < 4u; j++) {
      if (TRANS_A) { av[j] = a[aoff + k * p.lda + m[j]]; } else { av[j] = a[aoff + m[j] * p.lda + k]; }
      if (TRANS_B) { bv[j] = b[boff + n[j] * p.ldb + k]; } else { bv[j] = b[boff + k * p.ldb + n[j]]; }
    }
    acc = mat4x4f(fma(vec4f(av.x), bv, acc[0]), fma(vec4f(av.y), bv, acc[1]), fma(vec4f(av.z), bv, acc[2]), fma(vec4f(av.w), bv, acc[3]));
  }
  var bsum = vec4f(0.0);
  if ((p.flags & 2u) != 0u) { bsum = vec4f(bias[p.offBias + n.x], bias[p.offBias + n.y], bias[p.offBias + n.z], bias[p.offBias + n.w]); }
  let cbase = p.offC + wid.z * p.strideC;
  for (var r = 0u; r < 4u; r++) {
    if (m0 + r < p.M) {
      let row = acc[r] + bsum;
      for (var j = 0u; j < 4u; j++) {
        if (n0 + j < p.N) {
          let i = cbase + (m0 + r) * p.ldc + n0 + j;
          if ((p.flags & 1u) != 0u) { c[i] = c[i] + row[j]; } else { c[i] = row[j]; }
        }
      }
    }
  }
}
