// out[M, C] = x[M, K] · P[C, K]ᵀ (+ bias[C]) for a few rows (decode), on CPU adapters with
// subgroups of 8 (lavapipe), the weight read from a copy packed once into matmul's 32-row panels
// in a texture (matvec.ts keeps it: P is W's columns for matvec, W's rows for matvecT):
// texel (t*K4 + k4)*32 + r holds P[32t + r][4k4 .. 4k4+3], zeros past C.
// Why (lavapipe, measured): a storage-buffer load at a per-lane address is a loop over the 8
// lanes, a storage-texture load one gather of vector loads; and in panels a subgroup's 8 lanes
// read 32 consecutive texels per k-block, where W in place is up to 32 streams pages apart.
// Lane n (of the whole grid) owns columns 4n..4n+3: rows 4(n%8).. of panel n/8. x is shared
// across the lanes as in matvec_sg: lane l loads k-block kb+l of each row, subgroupShuffle
// hands it to the others. Each row's sums are in the same order whatever ROWS is, so a
// sequence decodes the same alone or in a batch.
enable subgroups;

override WG: u32 = 64;
override ROWS: u32 = 1;           // rows of x in this dispatch: a constant, so the loops over rows unroll
override TW_LOG2: u32 = 12;       // texels per texture row = 1 << TW_LOG2 (TEXEL_ROW in gpu.ts)
const MAXROWS: u32 = 8u;

struct Params {
  K4: u32,    // k-blocks: K / 4 (the row stride of x in vec4)
  C: u32,     // columns of out (rows of P)
  ldo: u32,   // row stride of out
  m0: u32,    // first row of x and out
  flags: u32, // 1: add bias
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var pw: texture_storage_2d<rgba32float, read>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn texel(i: u32) -> vec4f {
  return textureLoad(pw, vec2u(i & ((1u << TW_LOG2) - 1u), i >> TW_LOG2));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_invocation_id) sid: u32) {
  // no early return: the shuffles need every lane; lanes past the last shadow it
  let lanes = (p.C + 3u) / 4u;
  let nn = (wid.y * nwg.x + wid.x) * WG + lid;
  let n = min(nn, lanes - 1u);
  let first = (n / 8u) * p.K4 * 32u + 4u * (n % 8u); // texel of this lane's rows at k-block 0
  var acc: array<vec4f, MAXROWS>;
  for (var m = 0u; m < ROWS; m++) { acc[m] = vec4f(0.0); }
  let last = p.K4 - 1u;
  for (var kb = 0u; kb < p.K4; kb += 8u) {
    // lane l (of 8) holds x at k-block kb+l of every row (zero past the end)
    let kl = kb + (sid & 7u);
    var xs: array<vec4f, MAXROWS>;
    for (var m = 0u; m < ROWS; m++) {
      xs[m] = select(vec4f(0.0), x[(p.m0 + m) * p.K4 + min(kl, last)], kl < p.K4);
    }
    // 8 steps always (a constant trip count: unrolled, the accumulators stay in registers);
    // past the last k-block x is zero and the texels are the last block's again
    for (var j = 0u; j < 8u; j++) {
      let i = first + min(kb + j, last) * 32u;
      let w0 = texel(i);
      let w1 = texel(i + 1u);
      let w2 = texel(i + 2u);
      let w3 = texel(i + 3u);
      for (var m = 0u; m < ROWS; m++) {
        let xv = subgroupShuffle(xs[m], j);
        acc[m] += vec4f(dot(w0, xv), dot(w1, xv), dot(w2, xv), dot(w3, xv));
      }
    }
  }
  if (nn >= lanes) { return; }
  let c0 = 4u * n;
  var b = vec4f(0.0);
  if ((p.flags & 1u) != 0u) {
    for (var i = 0u; i < 4u; i++) { if (c0 + i < p.C) { b[i] = bias[c0 + i]; } }
  }
  for (var m = 0u; m < ROWS; m++) {
    let v = acc[m] + b;
    let o = (p.m0 + m) * p.ldo + c0;
    for (var i = 0u; i < 4u; i++) {
      if (c0 + i < p.C) { out[o + i] = v[i]; }
    }
  }
}
