// LayerNorm backward, weight/bias gradients, pass 1 of 2: per block of RB rows, column partial
// sums of dout * n (dweight) and dout (dbias), rows added in ascending order. One lane per column:
// loads along a row are contiguous across lanes and mean/rstd are lane-uniform; no barriers.
// partial layout: [block][2C] = dweight part (C) then dbias part (C).
override WG: u32 = 64;

struct Params { N: u32, C: u32, RB: u32, blockBase: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> inp: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> partial: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x * WG + lid;
  if (c >= p.C) { return; }
  let r0 = wid.y * p.RB;
  let r1 = min(r0 + p.RB, p.N);
  var dw = 0.0;
  var db = 0.0;
  for (var r = r0; r < r1; r++) {
    let d = dout[r * p.C + c];
    dw += d * (inp[r * p.C + c] - mean[r]) * rstd[r];
    db += d;
  }
  let o = (p.blockBase + wid.y) * 2u * p.C;
  partial[o + c] = dw;
  partial[o + p.C + c] = db;
}
