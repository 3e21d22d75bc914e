// matvec.wgsl for adapters with subgroups of >= 8 lanes, where a load inside a loop costs a
// gather over the lanes even when all lanes read the same address (lavapipe, measured): instead
// of every lane loading x, lane l of each group of 8 loads x at k-step kb+l and subgroupShuffle
// hands it to the others, so x costs one load per 8 k-steps. ROWS is 3..8 (1 or 2 compiled to
// 3x slower code on lavapipe, measured); rows past M repeat row M-1 and are not stored.
enable subgroups;

override WG: u32 = 64;
override ROWS: u32 = 3;
const MAXROWS: u32 = 8u;

// W's storage type and its load as f32; the f16-weight variant (f16Weights in src/gpu) takes the
// `// f16:` lines: 4 f16 in a vec2u, widened exactly by unpack2x16float (core WGSL, no shader-f16)
alias W4 = vec4f; // f16: alias W4 = vec2u;
fn w4(v: W4) -> vec4f { return v; } // f16: fn w4(v: W4) -> vec4f { return vec4f(unpack2x16float(v.x), unpack2x16float(v.y)); }

struct Params {
  K4: u32,    // rows of this chunk of W / 4
  N4: u32,    // N / 4
  ldx4: u32,  // row stride of x in vec4
  x0: u32,    // first vec4 of x's rows this chunk multiplies (k0 / 4)
  m0: u32,    // first row of x and out
  M: u32,     // rows of this dispatch (<= ROWS)
  flags: u32, // 1: add bias, 2: accumulate into out
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> w: array<W4>;
@group(0) @binding(3) var<storage, read> bias: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4f>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_invocation_id) sid: u32) {
  // no early return: the shuffles need every lane; lanes past N4 shadow the last column
  let nn = (wid.y * nwg.x + wid.x) * WG + lid;
  let n = min(nn, p.N4 - 1u);
  var acc: array<vec4f, MAXROWS>;
  for (var m = 0u; m < ROWS; m++) {
    let row = p.m0 + min(m, p.M - 1u);
    var a = vec4f(0.0);
    if ((p.flags & 2u) != 0u) { a = out[row * p.N4 + n]; }
    if ((p.flags & 1u) != 0u) { a += bias[n]; }
    acc[m] = a;
  }
  let last = p.K4 - 1u;
  for (var kb = 0u; kb < p.K4; kb += 8u) {
    // lane l (of 8) holds x at k-step kb+l of every row (zero past the end)
    let kl = kb + (sid & 7u);
    var xs: array<vec4f, MAXROWS>;
    for (var m = 0u; m < ROWS; m++) {
      let row = p.m0 + min(m, p.M - 1u);
      xs[m] = select(vec4f(0.0), x[row * p.ldx4 + p.x0 + min(kl, last)], kl < p.K4);
    }
    let steps = min(8u, p.K4 - kb);
    for (var j = 0u; j < steps; j++) {
      let r = 4u * (kb + j) * p.N4 + n;
      let w0 = w4(w[r]);
      let w1 = w4(w[r + p.N4]);
      let w2 = w4(w[r + 2u * p.N4]);
      let w3 = w4(w[r + 3u * p.N4]);
      for (var m = 0u; m < ROWS; m++) {
        let xv = subgroupShuffle(xs[m], j);
        acc[m] += xv.x * w0 + xv.y * w1 + xv.z * w2 + xv.w * w3;
      }
    }
  }
  if (nn >= p.N4) { return; }
  for (var m = 0u; m < ROWS; m++) {
    if (m < p.M) { out[(p.m0 + m) * p.N4 + n] = acc[m]; }
  }
}
