// Decode-time thin matrix product: out[m,:] (= or +=) x[m,:] · W[K,N] (+ bias) for ROWS <= 8 rows
// (the current token of each sequence of a batch; HF Conv1D layout). Each invocation owns 4
// adjacent columns and streams its vec4 of every W row once, using it for all ROWS rows: the
// cost is reading W once, however many sequences decode together (the 32-row tiles of matmul
// would do up to 32x the arithmetic). W may be bound in row chunks k0..: the first chunk adds
// the bias, later ones accumulate. N and K are multiples of 4.
override WG: u32 = 64;
override ROWS: u32 = 1; // rows of x in this dispatch: a constant, so the loops over rows unroll
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
  flags: u32, // 1: add bias, 2: accumulate into out
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> w: array<W4>;
@group(0) @binding(3) var<storage, read> bias: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4f>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let n = (wid.y * nwg.x + wid.x) * WG + lid;
  if (n >= p.N4) { return; }
  var acc: array<vec4f, MAXROWS>;
  for (var m = 0u; m < ROWS; m++) {
    var a = vec4f(0.0);
    if ((p.flags & 2u) != 0u) { a = out[(p.m0 + m) * p.N4 + n]; }
    if ((p.flags & 1u) != 0u) { a += bias[n]; }
    acc[m] = a;
  }
  for (var k4 = 0u; k4 < p.K4; k4++) {
    let r = 4u * k4 * p.N4 + n;
    let w0 = w4(w[r]);
    let w1 = w4(w[r + p.N4]);
    let w2 = w4(w[r + 2u * p.N4]);
    let w3 = w4(w[r + 3u * p.N4]);
    for (var m = 0u; m < ROWS; m++) {
      let xv = x[(p.m0 + m) * p.ldx4 + p.x0 + k4]; // the same for every invocation: a broadcast
      acc[m] += xv.x * w0 + xv.y * w1 + xv.z * w2 + xv.w * w3;
    }
  }
  for (var m = 0u; m < ROWS; m++) {
    out[(p.m0 + m) * p.N4 + n] = acc[m];
  }
}
