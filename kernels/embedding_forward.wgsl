// Token + position embedding: out[n] = wte[tokens[n]] + wpe[n % T] (hasPos = 0: no position
// table; wpe is then a stand-in binding, never read), one row per workgroup, lanes over
// channels. wte may be bound one vocabulary chunk at a time (rows v0..v0+vn); a dispatch writes
// only the rows whose token falls in its chunk.
override WG: u32 = 64;

// wte's storage type and element i of it as f32; the f16-weight variant (f16Weights in src/gpu) takes
// the `// f16:` lines: 2 f16 per u32, widened exactly by unpack2x16float (core WGSL, no shader-f16)
alias W = f32; // f16: alias W = u32;
fn wte_at(i: u32) -> f32 { return wte[i]; } // f16: fn wte_at(i: u32) -> f32 { return unpack2x16float(wte[i >> 1u])[i & 1u]; }

struct Params { N: u32, T: u32, C: u32, n0: u32, v0: u32, vn: u32, hasPos: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<storage, read> wte: array<W>;
@group(0) @binding(3) var<storage, read> wpe: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let n = wid.y * nwg.x + wid.x; // row within this dispatch's row chunk (global row n0 + n)
  if (n >= p.N) { return; }
  let tok = tokens[n];
  if (tok < p.v0 || tok - p.v0 >= p.vn) { return; }
  let e = (tok - p.v0) * p.C;
  let q = ((p.n0 + n) % p.T) * p.C;
  if (p.hasPos == 0u) {
    for (var c = lid; c < p.C; c += WG) { out[n * p.C + c] = wte_at(e + c); }
    return;
  }
  for (var c = lid; c < p.C; c += WG) {
    out[n * p.C + c] = wte_at(e + c) + wpe[q + c];
  }
}
