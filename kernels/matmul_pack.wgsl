// Packs op(X) (rows x K) into the 32-row panels that matmul.wgsl reads: vec4 (t*K4 + k4)*32 + r
// of `out` holds op(X)[32t + r][4k4 .. 4k4+3], zeros past `rows` and past K. op(X) is X stored
// [rows, K] (row stride ld), or with TRANS X stored [K, rows]. X may be f16 (its variant below):
// the panels are f32 either way, so an f16 weight costs the multiply nothing extra.
//
// On lavapipe every load and store here is a loop over the lanes, and a vec4 is one trip where
// four floats are four: X is read as vec4s, two of them funnelled into one (SHIFT) where its
// rows do not start on a vec4 (odd strides such as a vocabulary of 50257, unaligned views).
// One workgroup = 8 lanes = one lavapipe thread runs over KPW k-blocks, so the per-workgroup
// cost is paid once for many vec4s: 8 rows of a panel (4 workgroups a panel), or with TRANS
// 4 rows a lane, a 4x4 block transposed per k-block (one workgroup a panel).
override TRANS: bool = false;
override SHIFT: bool = false;      // off or ld not a multiple of 4
override KPW: u32 = 32;            // k-blocks per workgroup

struct Params {
  rows: u32, K: u32,
  ld: u32,                         // row stride of the stored X (elements)
  off: u32,                        // first element of X in the bound range
  K4: u32,                         // k-blocks per panel row: ceil(K / 4)
}
// X's storage type and its load as f32; the f16 variant (f16Weights in src/gpu: X an f16 weight
// matrix) takes the `// f16:` lines: 4 f16 in a vec2u, widened exactly by unpack2x16float
alias X4 = vec4f; // f16: alias X4 = vec2u;
fn x4(v: X4) -> vec4f { return v; } // f16: fn x4(v: X4) -> vec4f { return vec4f(unpack2x16float(v.x), unpack2x16float(v.y)); }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<X4>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4f>;

// floats e..e+3 of X (e a multiple of 4 unless SHIFT), zeroed where `keep` is false
fn floats4(e: u32, keep: vec4<bool>) -> vec4f {
  var v = x4(x[e / 4u]);
  if (SHIFT) {
    let w = x4(x[e / 4u + 1u]);
    let s = e & 3u;
    v = select(select(v, vec4f(v.yzw, w.x), s == 1u), select(vec4f(v.zw, w.xy), vec4f(v.w, w.xyz), s == 3u), s >= 2u);
  }
  return select(vec4f(0.0), v, keep);
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
  let t = wid.y;
  let km = p.K - 1u;
  if (TRANS) {
    // workgroup x: k-blocks KPW*x ..; lane: rows 4*lane..4*lane+3 of panel t
    let r = 4u * lane;
    let row = 32u * t + r;
    let rin = vec4u(row, row + 1u, row + 2u, row + 3u) < vec4u(p.rows);
    // a group wholly past `rows` reads the last group instead; floats past `rows` only feed masked lanes
    let col = p.off + min(row, (p.rows - 1u) & ~3u);
    let k0 = KPW * wid.x;
    let k1 = min(k0 + KPW, p.K4);
    for (var k4 = k0; k4 < k1; k4++) {
      let k = 4u * k4;
      let v0 = floats4(col + min(k, km) * p.ld, rin & vec4<bool>(k < p.K));
      let v1 = floats4(col + min(k + 1u, km) * p.ld, rin & vec4<bool>(k + 1u < p.K));
      let v2 = floats4(col + min(k + 2u, km) * p.ld, rin & vec4<bool>(k + 2u < p.K));
      let v3 = floats4(col + min(k + 3u, km) * p.ld, rin & vec4<bool>(k + 3u < p.K));
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
  let base = p.off + min(row, p.rows - 1u) * p.ld;
  let k0 = KPW * (wid.x / 4u);
  let k1 = min(k0 + KPW, p.K4);
  for (var k4 = k0; k4 < k1; k4++) {
    let k = 4u * k4;
    let kin = vec4u(k, k + 1u, k + 2u, k + 3u) < vec4u(select(0u, p.K, row < p.rows));
    // k < K always (K4 = ceil(K/4)); floats past K in the row only feed masked lanes
    out[(t * p.K4 + k4) * 32u + r] = floats4(base + k, kin);
  }
}
