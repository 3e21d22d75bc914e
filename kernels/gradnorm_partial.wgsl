// First pass of the global gradient norm: each workgroup sums the squares of WG*ITEMS
// consecutive elements of one gradient chunk into partials[base + workgroup]. Lanes stride
// by WG (neighbouring lanes read neighbouring elements), then lane 0 adds the lane sums in
// order: deterministic, and one barrier per workgroup.
override WG: u32 = 64;
override ITEMS: u32 = 64;

struct Params { n: u32, base: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;

var<workgroup> laneSums: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let group = wid.y * nwg.x + wid.x;
  let start = group * WG * ITEMS;
  // the 2-D grid may overshoot; surplus workgroups must not write into the next tensor's partials
  if (start >= p.n) { return; }
  var s = 0.0;
  for (var k = 0u; k < ITEMS; k++) {
    let i = start + k * WG + lid;
    if (i < p.n) {
      let x = grad[i];
      s += x * x;
    }
  }
  laneSums[lid] = s;
  workgroupBarrier();
  if (lid == 0u) {
    var total = 0.0;
    for (var j = 0u; j < WG; j++) { total += laneSums[j]; }
    partials[p.base + group] = total;
  }
}
