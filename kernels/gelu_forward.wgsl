// GELU, tanh approximation (GPT-2's gelu_new): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))),
// one element a lane: the last n % 4 elements, after gelu_forward_vec4.wgsl did the vec4s before `first`.
override WG: u32 = 256;

struct Params { n: u32, first: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const S: f32 = 0.7978845608028654; // sqrt(2/pi)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = p.first + (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n) { return; }
  let x = inp[i];
  // 0.5 (1 + tanh(u)) = sigmoid(2u): no cancellation in the negative tail
  let u = S * (x + 0.044715 * x * x * x);
  out[i] = x / (1.0 + exp(-2.0 * u));
}
