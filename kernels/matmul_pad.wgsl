// dst[r, c] = src[r, c] for c < cols, 0 for cols <= c < ldd: copies a matrix into rows of a
// 16-byte multiple (ldd), zero padded, so that matmul.wgsl can read it as vec4s.
override WG: u32 = 256;

struct Params { rows: u32, cols: u32, lds: u32, ldd: u32, offS: u32, offD: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x * WG + lid;
  let r = wid.y;
  if (c >= p.ldd || r >= p.rows) { return; }
  var v = 0.0;
  if (c < p.cols) { v = src[p.offS + r * p.lds + c]; }
  dst[p.offD + r * p.ldd + c] = v;
}
