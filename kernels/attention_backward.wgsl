// Causal self-attention backward, FlashAttention-2 style: probabilities are recomputed from
// q, k and the saved log-sum-exp, nothing T×T is stored, and every gradient element is owned
// by one invocation (no atomics, deterministic). Two entry points over the same bindings:
//   dq:  one invocation per query row; first writes delta_i = dout_i·out_i (needed by dkv),
//        then loops over keys j <= i and adds dq_i.
//   dkv: one invocation per key row; loops over queries i >= j and adds dk_j and dv_j.
// With s = scale q·k, P = exp(s - lse), dP = dout_i·v_j, dS = P (dP - delta_i):
//   dq_i += scale sum_j dS k_j,  dk_j += scale sum_i dS q_i,  dv_j += sum_i P dout_i.
override WG: u32 = 32;  // rows per workgroup
const MAXHS4: u32 = 32u;

struct Params {
  T: u32,
  C4: u32,    // C / 4
  hs4: u32,   // head size / 4; a uniform, not an override, so CPU compilers keep the loops over it rolled
  b0: u32,    // first batch of this dispatch (lse/delta are bound whole; big tensors as views)
  scale: f32, // 1/sqrt(head size)
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<vec4f>;           // [B, T, 3C]
@group(0) @binding(2) var<storage, read> out: array<vec4f>;           // [B, T, C]
@group(0) @binding(3) var<storage, read> lse: array<f32>;             // [B, NH, T]
@group(0) @binding(4) var<storage, read> dout: array<vec4f>;          // [B, T, C]
@group(0) @binding(5) var<storage, read_write> delta: array<f32>;     // [B, NH, T]
@group(0) @binding(6) var<storage, read_write> dqkv: array<vec4f>;    // [B, T, 3C], accumulated

@compute @workgroup_size(WG)
fn dq(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  let b = wid.z;
  let r0 = wid.x * WG;
  let r = r0 + lid;
  let i = min(r, p.T - 1u); // lanes past the end shadow the last row and store nothing
  let R3 = 3u * p.C4;
  let base = b * p.T * R3 + h * p.hs4; // q of row 0
  let ob = (b * p.T + i) * p.C4 + h * p.hs4;
  let li = ((p.b0 + b) * nwg.y + h) * p.T + i;
  var q: array<vec4f, MAXHS4>;
  var g: array<vec4f, MAXHS4>; // dout_i
  var acc: array<vec4f, MAXHS4>;
  var D = 0.0;
  for (var c = 0u; c < p.hs4; c++) {
    q[c] = qkv[base + i * R3 + c] * p.scale;
    g[c] = dout[ob + c];
    D += dot(g[c], out[ob + c]);
    acc[c] = vec4f(0.0);
  }
  if (r < p.T) { delta[li] = D; }
  let L = lse[li];
  let kEnd = min(r0 + WG, p.T); // uniform bound; keys past row i are masked
  for (var j = 0u; j < kEnd; j++) {
    let ko = base + p.C4 + j * R3;
    var s = 0.0;
    var dp = 0.0;
    for (var c = 0u; c < p.hs4; c++) {
      s += dot(q[c], qkv[ko + c]);
      dp += dot(g[c], qkv[ko + p.C4 + c]);
    }
    let dS = select(exp(s - L) * (dp - D), 0.0, j > i);
    for (var c = 0u; c < p.hs4; c++) {
      acc[c] += dS * qkv[ko + c];
    }
  }
  if (r >= p.T) { return; }
  for (var c = 0u; c < p.hs4; c++) {
    dqkv[base + i * R3 + c] += acc[c] * p.scale;
  }
}

@compute @workgroup_size(WG)
fn dkv(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  let b = wid.z;
  let r0 = wid.x * WG;
  let r = r0 + lid;
  let j = min(r, p.T - 1u);
  let R3 = 3u * p.C4;
  let base = b * p.T * R3 + h * p.hs4;
  let kj = base + j * R3 + p.C4;
  var k: array<vec4f, MAXHS4>;
  var v: array<vec4f, MAXHS4>;
  var dk: array<vec4f, MAXHS4>;
  var dv: array<vec4f, MAXHS4>;
  for (var c = 0u; c < p.hs4; c++) {
    k[c] = qkv[kj + c] * p.scale;
    v[c] = qkv[kj + p.C4 + c];
    dk[c] = vec4f(0.0);
    dv[c] = vec4f(0.0);
  }
  let lb = ((p.b0 + b) * nwg.y + h) * p.T;
  // queries before the workgroup's first key see none of its keys (uniform start)
  for (var i = r0; i < p.T; i++) {
    let qo = base + i * R3;
    let go = (b * p.T + i) * p.C4 + h * p.hs4;
    var s = 0.0;
    var dp = 0.0;
    for (var c = 0u; c < p.hs4; c++) {
      s += dot(k[c], qkv[qo + c]);
      dp += dot(v[c], dout[go + c]);
    }
    let P = select(exp(s - lse[lb + i]), 0.0, i < j);
    let dS = P * (dp - delta[lb + i]);
    for (var c = 0u; c < p.hs4; c++) {
      dv[c] += P * dout[go + c];
      dk[c] += dS * qkv[qo + c];
    }
  }
  if (r >= p.T) { return; }
  for (var c = 0u; c < p.hs4; c++) {
    dqkv[kj + c] += dk[c] * p.scale;
    dqkv[kj + p.C4 + c] += dv[c];
  }
}
