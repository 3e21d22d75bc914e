// Fused softmax + cross-entropy + its gradient, one workgroup per row of logits[R, V].
// The row is swept three times while it is in cache: max, sum of exp (each exp is parked in
// the logits buffer so it is computed once), then scale; the buffer ends up holding
//   dlogits = (softmax(row) - onehot(target)) * gradScale.
// Partials are combined in a fixed order, so results do not depend on scheduling.
// The buffer is read and written as vec4s (a per-lane load is a loop over the lanes on CPU
// adapters, one per vec4 instead of one per float); a row starts anywhere in a vec4 (V is
// odd for GPT-2), so its first and last few floats are components of vec4s it shares with the
// rows beside it, which only ever write their own components.
override WG: u32 = 64;

struct Params { R: u32, V: u32, gradScale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> logits: array<vec4f>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read_write> losses: array<f32>;

var<workgroup> partMax: array<f32, WG>;
var<workgroup> partSum: array<f32, WG>;

fn at(e: u32) -> f32 { return logits[e >> 2u][e & 3u]; }
fn setAt(e: u32, v: f32) { logits[e >> 2u][e & 3u] = v; }

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.R) { return; }
  let base = row * p.V;
  let end = base + p.V;
  // whole vec4s q0..q1-1 of the row; floats base..4*q0-1 (head) and 4*q1..end-1 (tail) one by one,
  // lane j taking head float j and tail float j (at most 3 each)
  let q0 = (base + 3u) / 4u;
  let q1 = end / 4u; // q1 < q0: the row lies inside one vec4 (then it is all head)
  let head = min(4u * q0, end);
  let tail = max(4u * q1, head);
  let t = targets[row];
  // t < 0 masks the row out; t >= V is invalid and treated the same rather than read out of bounds
  if (t < 0 || u32(t) >= p.V) {
    for (var q = q0 + lid; q < q1; q += WG) { logits[q] = vec4f(0.0); }
    if (base + lid < head) { setAt(base + lid, 0.0); }
    if (tail + lid < end) { setAt(tail + lid, 0.0); }
    if (lid == 0u) { losses[row] = 0.0; }
    return;
  }
  let tu = u32(t);
  let xt = at(base + tu); // every lane reads it before the barrier that precedes any write

  var m = -3.402823e38;
  for (var q = q0 + lid; q < q1; q += WG) {
    let v = logits[q];
    m = max(m, max(max(v.x, v.y), max(v.z, v.w)));
  }
  if (base + lid < head) { m = max(m, at(base + lid)); }
  if (tail + lid < end) { m = max(m, at(tail + lid)); }
  partMax[lid] = m;
  workgroupBarrier();
  var rowMax = partMax[0];
  for (var j = 1u; j < WG; j++) { rowMax = max(rowMax, partMax[j]); }

  var s = 0.0;
  for (var q = q0 + lid; q < q1; q += WG) {
    let e = exp(logits[q] - rowMax);
    logits[q] = e;
    s += (e.x + e.y) + (e.z + e.w);
  }
  if (base + lid < head) { let e = exp(at(base + lid) - rowMax); setAt(base + lid, e); s += e; }
  if (tail + lid < end) { let e = exp(at(tail + lid) - rowMax); setAt(tail + lid, e); s += e; }
  partSum[lid] = s;
  workgroupBarrier();
  var rowSum = 0.0;
  for (var j = 0u; j < WG; j++) { rowSum += partSum[j]; }

  // each lane rescales only the floats it wrote itself, so no barrier is needed here; the lane
  // that owns the target's float then takes gradScale off it
  let k = p.gradScale / rowSum;
  for (var q = q0 + lid; q < q1; q += WG) { logits[q] *= k; }
  if (base + lid < head) { setAt(base + lid, at(base + lid) * k); }
  if (tail + lid < end) { setAt(tail + lid, at(tail + lid) * k); }
  let et = base + tu;
  var owner: u32;
  if (et < head) { owner = et - base; } else if (et >= tail) { owner = et - tail; } else { owner = (et / 4u - q0) % WG; }
  if (lid == owner) { setAt(et, at(et) - p.gradScale); }
  if (lid == 0u) { losses[row] = log(rowSum) + rowMax - xt; }
}
