// Packs op(X) (rows x K) into the 32-row panels that matmul.wgsl reads: vec4 (t*K4 + k4)*32 + r
// of `out` holds op(X)[32t + r][4k4 .. 4k4+3], zeros past `rows` and past K. op(X) is X stored
// [rows, K] (row stride ld), or with TRANS X stored [K, rows]. Any offset and stride: the copy is
// also what aligns the operands.
//
// One workgroup = 8 lanes = one lavapipe thread: 8 rows of a panel over KPW k-blocks, so the
// per-workgroup cost is paid once for many vec4s.
override TRANS: bool = false;
override KPW: u32 = 32;            // k-blocks per workgroup

struct Params {
  rows: u32, K: u32,
  ld: u32,                         // row stride of the stored X (floats)
  off: u32,                        // first float of X in the bound range
  K4: u32,                         // k-blocks per panel row: ceil(K / 4)
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4f>;

// op(X)[row][k], or 0 outside rows x K (indices clamped first: every load stays in the range)
fn at(row: u32, k: u32) -> f32 {
  let r = min(row, p.rows - 1u);
  let kk = min(k, p.K - 1u);
  var v: f32;
  if (TRANS) { v = x[p.off + kk * p.ld + r]; } else { v = x[p.off + r * p.ld + kk]; }
  return select(0.0, v, row < p.rows && k < p.K);
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
  // workgroup (x, y): rows 8*(x % 4) + lane of panel y, k-blocks KPW*(x / 4) ..
  let r = 8u * (wid.x % 4u) + lane;
  let row = 32u * wid.y + r;
  let k0 = KPW * (wid.x / 4u);
  let k1 = min(k0 + KPW, p.K4);
  for (var k4 = k0; k4 < k1; k4++) {
    let k = 4u * k4;
    out[(wid.y * p.K4 + k4) * 32u + r] = vec4f(at(row, k), at(row, k + 1u), at(row, k + 2u), at(row, k + 3u));
  }
}
