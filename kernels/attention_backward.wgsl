// Causal self-attention backward, FlashAttention-2 style: probabilities are recomputed from
// q, k and the saved log-sum-exp, nothing T×T is stored, and every gradient element is owned
// by one invocation (no atomics, deterministic). Two entry points over the same bindings:
//   dq:  one invocation per query row; first writes delta_i = dout_i·out_i (needed by dkv),
//        then loops over keys j <= i and adds dq_i.
//   dkv: one invocation per key row; loops over queries i >= j and adds dk_j and dv_j.
// With s = scale q·k, P = exp(s - lse), dP = dout_i·v_j, dS = P (dP - delta_i):
//   dq_i += scale sum_j dS k_j,  dk_j += scale sum_i dS q_i,  dv_j += sum_i P dout_i.
override HS4: u32 = 16; // head size / 4
override WG: u32 = 32;  // rows per workgroup
const MAXHS4: u32 = 32u;

struct Params {
  T: u32,
  C4: u32,    // C / 4
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
  let base = b * p.T * R3 + h * HS4; // q of row 0
  let ob = (b * p.T + i) * p.C4 + h * HS4;
  let li = (b * nwg.y + h) * p.T + i;
  var q: array<vec4f, MAXHS4>;
  var g: array<vec4f, MAXHS4>; // dout_i
  var acc: array<vec4f, MAXHS4>;
  var D = 0.0;
  for (var c = 0u; c < HS4; c++) {
    q[c] = qkv[base + i * R3 + c] * p.scale;
    g[c] = dout[ob + c];
    D += dot(g[c], out[ob + c]);
    acc[c] = vec4f(0.0);
  }
  if (r < p.T) { delta[li] = D; }
  let L = lse[li];
  let kEnd = min(r0 + WG, p.T); // uniform bound; keys past row i are masked
  for (var j0 = 0u; j0 < kEnd; j0 += 4u) {
    let o = vec4u(base + p.C4) + min(vec4u(j0) + vec4u(0u, 1u, 2u, 3u), vec4u(kEnd - 1u)) * R3;
    var s = vec4f(0.0);
    var dp = vec4f(0.0);
    for (var c = 0u; c < HS4; c++) {
      let qc = q[c];
      let gc = g[c];
      s += vec4f(dot(qc, qkv[o.x + c]), dot(qc, qkv[o.y + c]), dot(qc, qkv[o.z + c]), dot(qc, qkv[o.w + c]));
      let v = o + p.C4;
      dp += vec4f(dot(gc, qkv[v.x + c]), dot(gc, qkv[v.y + c]), dot(gc, qkv[v.z + c]), dot(gc, qkv[v.w + c]));
    }
    let P = select(exp(s - L), vec4f(0.0), vec4u(j0) + vec4u(0u, 1u, 2u, 3u) > vec4u(i));
    let dS = P * (dp - D);
    for (var c = 0u; c < HS4; c++) {
      acc[c] += dS.x * qkv[o.x + c] + dS.y * qkv[o.y + c] + dS.z * qkv[o.z + c] + dS.w * qkv[o.w + c];
    }
  }
  if (r >= p.T) { return; }
  for (var c = 0u; c < HS4; c++) {
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
  let base = b * p.T * R3 + h * HS4;
  let kj = base + j * R3 + p.C4;
  var k: array<vec4f, MAXHS4>;
  var v: array<vec4f, MAXHS4>;
  var dk: array<vec4f, MAXHS4>;
  var dv: array<vec4f, MAXHS4>;
  for (var c = 0u; c < HS4; c++) {
    k[c] = qkv[kj + c] * p.scale;
    v[c] = qkv[kj + p.C4 + c];
    dk[c] = vec4f(0.0);
    dv[c] = vec4f(0.0);
  }
  let lb = (b * nwg.y + h) * p.T;
  // queries before the workgroup's first key see none of its keys (uniform start)
  for (var i0 = r0; i0 < p.T; i0 += 4u) {
    let iv = vec4u(i0) + vec4u(0u, 1u, 2u, 3u);
    let ic = min(iv, vec4u(p.T - 1u)); // clamped rows are masked below
    let qo = vec4u(base) + ic * R3;
    let go = (vec4u(b * p.T) + ic) * p.C4 + h * HS4;
    var s = vec4f(0.0);
    var dp = vec4f(0.0);
    for (var c = 0u; c < HS4; c++) {
      let kc = k[c];
      let vc = v[c];
      s += vec4f(dot(kc, qkv[qo.x + c]), dot(kc, qkv[qo.y + c]), dot(kc, qkv[qo.z + c]), dot(kc, qkv[qo.w + c]));
      dp += vec4f(dot(vc, dout[go.x + c]), dot(vc, dout[go.y + c]), dot(vc, dout[go.z + c]), dot(vc, dout[go.w + c]));
    }
    let L = vec4f(lse[lb + ic.x], lse[lb + ic.y], lse[lb + ic.z], lse[lb + ic.w]);
    let D = vec4f(delta[lb + ic.x], delta[lb + ic.y], delta[lb + ic.z], delta[lb + ic.w]);
    let P = select(exp(s - L), vec4f(0.0), (iv < vec4u(j)) | (iv >= vec4u(p.T)));
    let dS = P * (dp - D);
    for (var c = 0u; c < HS4; c++) {
      dv[c] += P.x * dout[go.x + c] + P.y * dout[go.y + c] + P.z * dout[go.z + c] + P.w * dout[go.w + c];
      dk[c] += dS.x * qkv[qo.x + c] + dS.y * qkv[qo.y + c] + dS.z * qkv[qo.z + c] + dS.w * qkv[qo.w + c];
    }
  }
  if (r >= p.T) { return; }
  for (var c = 0u; c < HS4; c++) {
    dqkv[kj + c] += dk[c] * p.scale;
    dqkv[kj + p.C4 + c] += dv[c];
  }
}
