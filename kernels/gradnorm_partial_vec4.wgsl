// gradnorm_partial.wgsl on vec4s: each workgroup sums the squares of WG*ITEMS consecutive vec4s of
// one gradient chunk (a whole number of vec4s) into partials[base + workgroup]. On lavapipe every
// storage load is a loop over the lanes, and a vec4 is one trip where four floats are four.
override WG: u32 = 64;
override ITEMS: u32 = 64;

struct Params { n4: u32, base: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grad: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;

var<workgroup> laneSums: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let group = wid.y * nwg.x + wid.x;
  let start = group * WG * ITEMS;
  // the 2-D grid may overshoot; surplus workgroups must not write into the next tensor's partials
  if (start >= p.n4) { return; }
  var s = vec4f(0.0);
  for (var k = 0u; k < ITEMS; k++) {
    let i = start + k * WG + lid;
    if (i < p.n4) {
      let x = grad[i];
      s += x * x;
    }
  }
  laneSums[lid] = s.x + s.y + s.z + s.w;
  workgroupBarrier();
  if (lid == 0u) {
    var total = 0.0;
    for (var j = 0u; j < WG; j++) { total += laneSums[j]; }
    partials[p.base + group] = total;
  }
}
