// matvec_t.wgsl for adapters with subgroups of >= 8 lanes, where a load inside a loop costs a
// gather over the lanes even when all lanes read the same address (lavapipe): lane l of each group of 8 loads
// one float of x, 8 consecutive k per load, and subgroupShuffle hands them to the others, so x
// costs one scalar load per 2 vec4 of W.
enable subgroups;

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
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<W4>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_invocation_id) sid: u32) {
  // no early return: the shuffles need every lane; lanes past R shadow the last row
  let rr = (wid.y * nwg.x + wid.x) * WG + lid;
  let r = min(rr, p.R - 1u);
  var acc: array<f32, MAXROWS>;
  for (var m = 0u; m < ROWS; m++) { acc[m] = 0.0; }
  let base = r * p.K4;
  let last = p.K4 - 1u;
  let K = 4u * p.K4;
  for (var kb = 0u; kb < p.K4; kb += 2u) {
    let kf = 4u * kb + (sid & 7u); // this lane's float of x: k-steps kb and kb+1
    let w0 = w4(w[base + kb]);
    let w1 = w4(w[base + min(kb + 1u, last)]); // past the end: multiplied by zeros of x
    for (var m = 0u; m < ROWS; m++) {
      let xs = select(0.0, x[(p.m0 + m) * K + min(kf, K - 1u)], kf < K);
      acc[m] += dot(w0, vec4f(subgroupShuffle(xs, 0u), subgroupShuffle(xs, 1u), subgroupShuffle(xs, 2u), subgroupShuffle(xs, 3u)))
              + dot(w1, vec4f(subgroupShuffle(xs, 4u), subgroupShuffle(xs, 5u), subgroupShuffle(xs, 6u), subgroupShuffle(xs, 7u)));
    }
  }
  if (rr >= p.R) { return; }
  for (var m = 0u; m < ROWS; m++) {
    out[(p.m0 + m) * p.ldo + p.r0 + r] = acc[m];
  }
}
