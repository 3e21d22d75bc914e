// Decode-time product with a transposed matrix, for ROWS <= 8 rows of x: out[m, r] = dot(W[r,:], x[m,:])
// for rows r of W[R,K] (the tied lm_head: logits = x · wteᵀ). One invocation per row of W,
// vec4 loads along K; each W load serves every row of x. W may be bound in row chunks (r0..).
override WG: u32 = 64;
override ROWS: u32 = 1; // rows of x in this dispatch: a constant, so the loops over rows unroll
const MAXROWS: u32 = 8u;

// W's storage type and its load as f32; the f16-weight variant (f16Weights in src/gpu) takes the
// `// f16:` lines: 4 f16 in a vec2u, widened exactly by unpack2x16float (core WGSL, no shader-f16)
alias W4 = vec4f; // f16: alias W4 = vec2u;
fn w4(v: W4) -> vec4f { return v; } // f16: fn w4(v: W4) -> vec4f { return vec4f(unpack2x16float(v.x), unpack2x16float(v.y)); }

struct Params {
  K4: u32,
  R: u32,   // rows of W in this chunk
  r0: u32,  // first row of W of this chunk (= first column of out it writes)
  ldo: u32, // row stride of out (all of R)
  m0: u32,  // first row of x and out
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> w: array<W4>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = (wid.y * nwg.x + wid.x) * WG + lid;
  if (r >= p.R) { return; }
  var acc: array<f32, MAXROWS>;
  for (var m = 0u; m < ROWS; m++) { acc[m] = 0.0; }
  let base = r * p.K4;
  for (var k = 0u; k < p.K4; k++) {
    let wv = w4(w[base + k]);
    for (var m = 0u; m < ROWS; m++) {
      acc[m] += dot(wv, x[(p.m0 + m) * p.K4 + k]);
    }
  }
  for (var m = 0u; m < ROWS; m++) {
    out[(p.m0 + m) * p.ldo + p.r0 + r] = acc[m];
  }
}
