// Packs op(X) (rows x K) into the 32-row panels that matmul.wgsl reads: vec4 (t*K4 + k4)*32 + r
// of `out` holds op(X)[32t + r][4k4 .. 4k4+3], zeros past `rows` and past K. op(X) is X stored
// [rows, K] (row stride ld), or with TRANS X stored [K, rows]. Any offset and stride; with VEC
// (offset and stride multiples of 4) the loads are vec4s: on lavapipe every load and store here
// is a loop over the lanes, and a vec4 is one trip where four floats are four.
//
// One workgroup = 8 lanes = one lavapipe thread: a panel's 32 rows over KPW k-blocks, so the
// per-workgroup cost is paid once for many vec4s (4 workgroups per panel without VEC, 8 rows each).
override TRANS: bool = false;
override VEC: bool = false;
override KPW: u32 = 32;            // k-blocks per workgroup

struct Params {
  rows: u32, K: u32,
  ld: u32,                         // row stride of the stored X (floats)
  off: u32,                        // first float of X in the bound range
  K4: u32,                         // k-blocks per panel row: ceil(K / 4)
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> x4: array<vec4f>;   // the same range as x, read with VEC
@group(0) @binding(3) var<storage, read_write> out: array<vec4f>;

// op(X)[row][k], or 0 outside rows x K (indices clamped first: every load stays in the range)
fn at(row: u32, k: u32) -> f32 {
  let r = min(row, p.rows - 1u);
  let kk = min(k, p.K - 1u);
  var v: f32;
  if (TRANS) { v = x[p.off + kk * p.ld + r]; } else { v = x[p.off + r * p.ld + kk]; }
  return select(0.0, v, row < p.rows && k < p.K);
}

// floats f..f+3 of X (f a multiple of 4), zeroed where `keep` is false
fn at4(f: u32, keep: vec4<bool>) -> vec4f {
  return select(vec4f(0.0), x4[f / 4u], keep);
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
  let t = wid.y;
  if (VEC && TRANS) {
    // workgroup x: k-blocks KPW*x ..; lane: rows 4*lane..4*lane+3 of panel t, a 4x4 block per k-block, transposed
    let r = 4u * lane;
    let row = 32u * t + r;
    let rin = vec4u(row, row + 1u, row + 2u, row + 3u) < vec4u(p.rows);
    let col = p.off + min(row, (p.rows - 1u) & ~3u);   // clamped to the last whole vec4 of a row
    let k0 = KPW * wid.x;
    let k1 = min(k0 + KPW, p.K4);
    for (var k4 = k0; k4 < k1; k4++) {
      let k = 4u * k4;
      let km = p.K - 1u;
      let v0 = at4(col + min(k, km) * p.ld, rin & vec4<bool>(k < p.K));
      let v1 = at4(col + min(k + 1u, km) * p.ld, rin & vec4<bool>(k + 1u < p.K));
      let v2 = at4(col + min(k + 2u, km) * p.ld, rin & vec4<bool>(k + 2u < p.K));
      let v3 = at4(col + min(k + 3u, km) * p.ld, rin & vec4<bool>(k + 3u < p.K));
      let o = (t * p.K4 + k4) * 32u + r;
      out[o] = vec4f(v0.x, v1.x, v2.x, v3.x);
      out[o + 1u] = vec4f(v0.y, v1.y, v2.y, v3.y);
      out[o + 2u] = vec4f(v0.z, v1.z, v2.z, v3.z);
      out[o + 3u] = vec4f(v0.w, v1.w, v2.w, v3.w);
    }
    return;
  }
  // workgroup x: rows 8*(x % 4) + lane of panel t, k-blocks KPW*(x / 4) ..
  let r = 8u * (wid.x % 4u) + lane;
  let row = 32u * t + r;
  let k0 = KPW * (wid.x / 4u);
  let k1 = min(k0 + KPW, p.K4);
  for (var k4 = k0; k4 < k1; k4++) {
    let k = 4u * k4;
    var v: vec4f;
    if (VEC) {
      let kin = vec4u(k, k + 1u, k + 2u, k + 3u) < vec4u(select(0u, p.K, row < p.rows));
      v = at4(p.off + min(row, p.rows - 1u) * p.ld + min(k, (p.K - 1u) & ~3u), kin);
    } else {
      v = vec4f(at(row, k), at(row, k + 1u), at(row, k + 2u), at(row, k + 3u));
    }
    out[(t * p.K4 + k4) * 32u + r] = v;
  }
}
