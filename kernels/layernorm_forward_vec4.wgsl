// LayerNorm forward: out = (x - mean) * rstd * weight + bias over each row of C channels, read as
// vec4s (C % 4 == 0; on lavapipe about half the time of scalar loads).
// LANES invocations share a row (x), ROWS rows per workgroup (y). Statistics are two-pass
// (mean, then the sum of squared deviations), rereading the row from cache: no cancellation.
// Each lane sums its strided slice, then every lane of the row adds the LANES partials in the
// same fixed order, so one barrier per statistic and identical results in every lane.
override LANES: u32 = 8;
override ROWS: u32 = 8;

struct Params { N: u32, C: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> inp: array<vec4f>;
@group(0) @binding(2) var<storage, read> weight: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd: array<f32>;

var<workgroup> sums: array<f32, LANES * ROWS>;
var<workgroup> sqs: array<f32, LANES * ROWS>;

@compute @workgroup_size(LANES, ROWS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let row = (wid.y * nwg.x + wid.x) * ROWS + l.y;
  let valid = row < p.N; // no early return: every lane must reach the barriers
  let C4 = p.C / 4u;
  let base = row * C4;
  let slot = l.y * LANES;

  var s = vec4f(0.0);
  if (valid) {
    for (var c = l.x; c < C4; c += LANES) { s += inp[base + c]; }
  }
  sums[slot + l.x] = (s.x + s.y) + (s.z + s.w);
  workgroupBarrier();
  var tot = 0.0;
  for (var i = 0u; i < LANES; i++) { tot += sums[slot + i]; }
  let m = tot / f32(p.C);

  var q = vec4f(0.0);
  if (valid) {
    for (var c = l.x; c < C4; c += LANES) {
      let d = inp[base + c] - m;
      q += d * d;
    }
  }
  sqs[slot + l.x] = (q.x + q.y) + (q.z + q.w);
  workgroupBarrier();
  var vt = 0.0;
  for (var i = 0u; i < LANES; i++) { vt += sqs[slot + i]; }
  let rs = 1.0 / sqrt(vt / f32(p.C) + p.eps);

  if (!valid) { return; }
  if (l.x == 0u) {
    mean[row] = m;
    rstd[row] = rs;
  }
  for (var c = l.x; c < C4; c += LANES) {
    out[base + c] = (inp[base + c] - m) * rs * weight[c] + bias[c];
  }
}
