// d/dx of GELU (tanh approximation), times the upstream gradient, added into dinp; one element
// a lane: the last n % 4 elements, after gelu_backward_vec4.wgsl did the vec4s before `first`.
override WG: u32 = 256;

struct Params { n: u32, first: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read_write> dinp: array<f32>;

const S: f32 = 0.7978845608028654;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = p.first + (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n) { return; }
  let x = inp[i];
  // with s = sigmoid(2u) = 0.5 (1 + tanh(u)):  0.5 sech^2(u) = 2 s (1 - s)
  let u = S * (x + 0.044715 * x * x * x);
  let s = 1.0 / (1.0 + exp(-2.0 * u));
  let g = s + x * 2.0 * s * (1.0 - s) * S * (1.0 + 3.0 * 0.044715 * x * x);
  dinp[i] += g * dout[i];
}
