// Gradient clipping factor from the squared global norm, on the GPU so nothing is read back:
// scale = min(1, maxNorm / (norm + 1e-6)), or 1 when clipping is off (maxNorm <= 0).
struct Params { maxNorm: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> sumsq: array<f32>;
@group(0) @binding(2) var<storage, read_write> scale: array<f32>;

@compute @workgroup_size(1)
fn main() {
  var s = 1.0;
  if (p.maxNorm > 0.0) { s = min(1.0, p.maxNorm / (sqrt(sumsq[0]) + 1e-6)); }
  scale[0] = s;
}
