// Second pass of the global gradient norm: one workgroup adds all partials in a fixed order
// (lane j takes partials j, j+WG, ...; lane 0 then adds the lane sums) into sumsq[0].
override WG: u32 = 64;

struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> sumsq: array<f32>;

var<workgroup> laneSums: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < p.n; i += WG) { s += partials[i]; }
  laneSums[lid] = s;
  workgroupBarrier();
  if (lid == 0u) {
    var total = 0.0;
    for (var j = 0u; j < WG; j++) { total += laneSums[j]; }
    sumsq[0] = total;
  }
}
