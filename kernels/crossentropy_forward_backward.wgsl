// Fused softmax + cross-entropy + its gradient, one workgroup per row of logits[R, V].
// The row is swept three times while it is in cache: max, sum of exp (each exp is parked in
// the logits buffer so it is computed once), then scale; the buffer ends up holding
//   dlogits = (softmax(row) - onehot(target)) * gradScale.
// Partials are combined in a fixed order, so results do not depend on scheduling.
override WG: u32 = 64;

struct Params { R: u32, V: u32, gradScale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read_write> losses: array<f32>;

var<workgroup> partMax: array<f32, WG>;
var<workgroup> partSum: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.R) { return; }
  let base = row * p.V;
  let t = targets[row];
  // t < 0 masks the row out; t >= V is invalid and treated the same rather than read out of bounds
  if (t < 0 || u32(t) >= p.V) {
    for (var i = lid; i < p.V; i += WG) { logits[base + i] = 0.0; }
    if (lid == 0u) { losses[row] = 0.0; }
    return;
  }
  let tu = u32(t);
  let xt = logits[base + tu]; // every lane reads it before the barrier that precedes any write

  var m = -3.402823e38;
  for (var i = lid; i < p.V; i += WG) { m = max(m, logits[base + i]); }
  partMax[lid] = m;
  workgroupBarrier();
  var rowMax = partMax[0];
  for (var j = 1u; j < WG; j++) { rowMax = max(rowMax, partMax[j]); }

  var s = 0.0;
  for (var i = lid; i < p.V; i += WG) {
    let e = exp(logits[base + i] - rowMax);
    logits[base + i] = e;
    s += e;
  }
  partSum[lid] = s;
  workgroupBarrier();
  var rowSum = 0.0;
  for (var j = 0u; j < WG; j++) { rowSum += partSum[j]; }

  // each lane rescales only the elements it wrote itself, so no barrier is needed here
  let k = p.gradScale / rowSum;
  for (var i = lid; i < p.V; i += WG) { logits[base + i] *= k; }
  if (lid == tu % WG) { logits[base + tu] -= p.gradScale; }
  if (lid == 0u) { losses[row] = log(rowSum) + rowMax - xt; }
}
