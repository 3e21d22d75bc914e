// One AdamW step (PyTorch semantics, decoupled weight decay) on elements first..n-1 of a chunk
// of one tensor (adamw_step_vec4.wgsl does the whole vec4s before `first`).
// The gradient is multiplied by gradScale[0] (the clip scale, computed on the GPU) when
// hasScale is set; otherwise that binding is a stand-in and is not read.
override WG: u32 = 256;

struct Params {
  n: u32,
  first: u32,
  hasScale: u32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  weightDecay: f32,
  biasCorrection1: f32, // 1 - beta1^step
  biasCorrection2: f32, // 1 - beta2^step
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> gradScale: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = p.first + (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n) { return; }
  var g = grad[i];
  if (p.hasScale != 0u) { g *= gradScale[0]; }
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  let mhat = mi / p.biasCorrection1;
  let vhat = vi / p.biasCorrection2;
  let x = param[i];
  param[i] = x - p.lr * (p.weightDecay * x + mhat / (sqrt(vhat) + p.eps));
}
