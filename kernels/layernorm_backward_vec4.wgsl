// LayerNorm backward, input gradient, rows read as vec4s (C % 4 == 0): with n = (x - mean) * rstd
// and g = weight * dout,
//   dinp += (g - mean(g) - n * mean(g * n)) * rstd
// Same row layout and fixed-order reduction as the forward (LANES per row, ROWS per workgroup).
override LANES: u32 = 8;
override ROWS: u32 = 8;

struct Params { N: u32, C: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dout: array<vec4f>;
@group(0) @binding(2) var<storage, read> inp: array<vec4f>;
@group(0) @binding(3) var<storage, read> weight: array<vec4f>;
@group(0) @binding(4) var<storage, read> mean: array<f32>;
@group(0) @binding(5) var<storage, read> rstd: array<f32>;
@group(0) @binding(6) var<storage, read_write> dinp: array<vec4f>;

var<workgroup> gsum: array<f32, LANES * ROWS>;
var<workgroup> gnsum: array<f32, LANES * ROWS>;

@compute @workgroup_size(LANES, ROWS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let row = (wid.y * nwg.x + wid.x) * ROWS + l.y;
  let valid = row < p.N; // no early return before the barrier
  let C4 = p.C / 4u;
  let base = row * C4;
  let slot = l.y * LANES;
  var m = 0.0;
  var rs = 0.0;
  var a = vec4f(0.0);
  var b = vec4f(0.0);
  if (valid) {
    m = mean[row];
    rs = rstd[row];
    for (var c = l.x; c < C4; c += LANES) {
      let g = weight[c] * dout[base + c];
      a += g;
      b += g * (inp[base + c] - m) * rs;
    }
  }
  gsum[slot + l.x] = (a.x + a.y) + (a.z + a.w);
  gnsum[slot + l.x] = (b.x + b.y) + (b.z + b.w);
  workgroupBarrier();
  if (!valid) { return; }
  var ga = 0.0;
  var gb = 0.0;
  for (var i = 0u; i < LANES; i++) {
    ga += gsum[slot + i];
    gb += gnsum[slot + i];
  }
  let gMean = ga / f32(p.C);
  let gnMean = gb / f32(p.C);
  for (var c = l.x; c < C4; c += LANES) {
    let n = (inp[base + c] - m) * rs;
    dinp[base + c] += (weight[c] * dout[base + c] - gMean - n * gnMean) * rs;
  }
}
