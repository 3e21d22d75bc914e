// Row softmax of logits[R, V] into probs, one workgroup per row: max, sum of exp (parked in
// probs), scale. Fixed-order combination of lane partials keeps it deterministic.
override WG: u32 = 64;

struct Params { R: u32, V: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> probs: array<f32>;

var<workgroup> partMax: array<f32, WG>;
var<workgroup> partSum: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.R) { return; }
  let base = row * p.V;

  var m = -3.402823e38;
  for (var i = lid; i < p.V; i += WG) { m = max(m, logits[base + i]); }
  partMax[lid] = m;
  workgroupBarrier();
  var rowMax = partMax[0];
  for (var j = 1u; j < WG; j++) { rowMax = max(rowMax, partMax[j]); }

  var s = 0.0;
  for (var i = lid; i < p.V; i += WG) {
    let e = exp(logits[base + i] - rowMax);
    probs[base + i] = e;
    s += e;
  }
  partSum[lid] = s;
  workgroupBarrier();
  var rowSum = 0.0;
  for (var j = 0u; j < WG; j++) { rowSum += partSum[j]; }

  // each lane rescales only the elements it wrote itself
  let k = 1.0 / rowSum;
  for (var i = lid; i < p.V; i += WG) { probs[base + i] *= k; }
}
