// Causal self-attention backward for adapters with subgroups (see attention_forward_sg.wgsl
// for why). Same math and entry points as attention_backward.wgsl, register-tiled: each
// invocation owns 2 rows (queries in dq, keys in dkv), and the other side is streamed in
// blocks of 8 rows that each lane of a subgroup loads one of and shares by subgroupBroadcast.
// Two rows, not four, and one streamed load per loop: on CPU adapters the compile time grows
// steeply with the private arrays and lane loads in a loop body.
// Needs subgroups of at least 8 invocations; head size <= 4*MAXHS4.
enable subgroups;

override WG: u32 = 8;   // invocations per workgroup; 2*WG rows per workgroup
const MAXHS4: u32 = 16u;

struct Params {
  T: u32,
  C4: u32,
  hs4: u32,   // head size / 4; a uniform, not an override, so CPU compilers keep the loops over it rolled
  b0: u32,    // first batch of this dispatch (lse/delta are bound whole; big tensors as views)
  scale: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<vec4f>;           // [B, T, 3C]
@group(0) @binding(2) var<storage, read> out: array<vec4f>;           // [B, T, C]
@group(0) @binding(3) var<storage, read> lse: array<f32>;             // [B, NH, T]
@group(0) @binding(4) var<storage, read> dout: array<vec4f>;          // [B, T, C]
@group(0) @binding(5) var<storage, read_write> delta: array<f32>;     // [B, NH, T]
@group(0) @binding(6) var<storage, read_write> dqkv: array<vec4f>;    // [B, T, 3C], accumulated

// 8 scalars, one per streamed row of a block: a = rows 0..3, b = rows 4..7
struct V8 { a: vec4f, b: vec4f }
const Z8 = V8(vec4f(0.0), vec4f(0.0));

fn bcast8(x: vec4f) -> array<vec4f, 8> {
  return array<vec4f, 8>(subgroupBroadcast(x, 0u), subgroupBroadcast(x, 1u), subgroupBroadcast(x, 2u), subgroupBroadcast(x, 3u),
                         subgroupBroadcast(x, 4u), subgroupBroadcast(x, 5u), subgroupBroadcast(x, 6u), subgroupBroadcast(x, 7u));
}
fn bcast8s(x: f32) -> V8 {
  return V8(vec4f(subgroupBroadcast(x, 0u), subgroupBroadcast(x, 1u), subgroupBroadcast(x, 2u), subgroupBroadcast(x, 3u)),
            vec4f(subgroupBroadcast(x, 4u), subgroupBroadcast(x, 5u), subgroupBroadcast(x, 6u), subgroupBroadcast(x, 7u)));
}
// s + (x·y_0, ..., x·y_7)
fn dot8(s: V8, x: vec4f, y: array<vec4f, 8>) -> V8 {
  return V8(s.a + vec4f(dot(x, y[0]), dot(x, y[1]), dot(x, y[2]), dot(x, y[3])),
            s.b + vec4f(dot(x, y[4]), dot(x, y[5]), dot(x, y[6]), dot(x, y[7])));
}
// sum_j w_j y_j
fn mix8(w: V8, y: array<vec4f, 8>) -> vec4f {
  return w.a.x * y[0] + w.a.y * y[1] + w.a.z * y[2] + w.a.w * y[3] + w.b.x * y[4] + w.b.y * y[5] + w.b.z * y[6] + w.b.w * y[7];
}
// P = exp(s - lse) where kept (causal and in range), dS = P (dP - delta)
struct PdS { P: V8, dS: V8 }
fn pds(s: V8, dp: V8, L: V8, D: V8, keepA: vec4<bool>, keepB: vec4<bool>) -> PdS {
  let pa = select(vec4f(0.0), exp(s.a - L.a), keepA);
  let pb = select(vec4f(0.0), exp(s.b - L.b), keepB);
  return PdS(V8(pa, pb), V8(pa * (dp.a - D.a), pb * (dp.b - D.b)));
}
fn splat8(x: f32) -> V8 { return V8(vec4f(x), vec4f(x)); }

@compute @workgroup_size(WG)
fn dq(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
      @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sid: u32) {
  let h = wid.y;
  let b = wid.z;
  let r0 = wid.x * 2u * WG;
  let R3 = 3u * p.C4;
  let base = b * p.T * R3 + h * p.hs4;
  let rr = vec2u(r0 + lid, r0 + lid + WG);
  let i = min(rr, vec2u(p.T - 1u)); // rows past the end shadow the last row and store nothing
  let ob = (vec2u(b * p.T) + i) * p.C4 + h * p.hs4;
  let li = vec2u(((p.b0 + b) * nwg.y + h) * p.T) + i;
  var q0: array<vec4f, MAXHS4>; var q1: array<vec4f, MAXHS4>;
  var g0: array<vec4f, MAXHS4>; var g1: array<vec4f, MAXHS4>;
  var a0: array<vec4f, MAXHS4>; var a1: array<vec4f, MAXHS4>;
  var D = vec2f(0.0);
  for (var c = 0u; c < p.hs4; c++) {
    q0[c] = qkv[base + i.x * R3 + c] * p.scale;
    q1[c] = qkv[base + i.y * R3 + c] * p.scale;
    g0[c] = dout[ob.x + c];
    g1[c] = dout[ob.y + c];
    D += vec2f(dot(g0[c], out[ob.x + c]), dot(g1[c], out[ob.y + c]));
    a0[c] = vec4f(0.0);
    a1[c] = vec4f(0.0);
  }
  if (rr.x < p.T) { delta[li.x] = D.x; }
  if (rr.y < p.T) { delta[li.y] = D.y; }
  let L = vec2f(lse[li.x], lse[li.y]);
  let kEnd = min(r0 + 2u * WG, p.T); // uniform bound; keys past each row are masked
  for (var j0 = 0u; j0 < kEnd; j0 += 8u) {
    let ko = base + p.C4 + min(j0 + sid % 8u, kEnd - 1u) * R3; // this lane's key of the block
    var s0 = Z8; var s1 = Z8;
    for (var c = 0u; c < p.hs4; c++) {
      let k = bcast8(qkv[ko + c]);
      s0 = dot8(s0, q0[c], k); s1 = dot8(s1, q1[c], k);
    }
    var d0 = Z8; var d1 = Z8;
    for (var c = 0u; c < p.hs4; c++) {
      let v = bcast8(qkv[ko + p.C4 + c]);
      d0 = dot8(d0, g0[c], v); d1 = dot8(d1, g1[c], v);
    }
    let ja = vec4u(j0) + vec4u(0u, 1u, 2u, 3u);
    let jb = ja + 4u;
    let x0 = pds(s0, d0, splat8(L.x), splat8(D.x), ja <= vec4u(i.x), jb <= vec4u(i.x));
    let x1 = pds(s1, d1, splat8(L.y), splat8(D.y), ja <= vec4u(i.y), jb <= vec4u(i.y));
    for (var c = 0u; c < p.hs4; c++) {
      let k = bcast8(qkv[ko + c]);
      a0[c] += mix8(x0.dS, k);
      a1[c] += mix8(x1.dS, k);
    }
  }
  let qo = vec2u(base) + i * R3;
  if (rr.x < p.T) { for (var c = 0u; c < p.hs4; c++) { dqkv[qo.x + c] += a0[c] * p.scale; } }
  if (rr.y < p.T) { for (var c = 0u; c < p.hs4; c++) { dqkv[qo.y + c] += a1[c] * p.scale; } }
}

@compute @workgroup_size(WG)
fn dkv(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
       @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sid: u32) {
  let h = wid.y;
  let b = wid.z;
  let r0 = wid.x * 2u * WG;
  let R3 = 3u * p.C4;
  let base = b * p.T * R3 + h * p.hs4;
  let rr = vec2u(r0 + lid, r0 + lid + WG);
  let j = min(rr, vec2u(p.T - 1u));
  let kj = vec2u(base + p.C4) + j * R3;
  var k0: array<vec4f, MAXHS4>; var k1: array<vec4f, MAXHS4>;
  var v0: array<vec4f, MAXHS4>; var v1: array<vec4f, MAXHS4>;
  var dk0: array<vec4f, MAXHS4>; var dk1: array<vec4f, MAXHS4>;
  var dv0: array<vec4f, MAXHS4>; var dv1: array<vec4f, MAXHS4>;
  for (var c = 0u; c < p.hs4; c++) {
    k0[c] = qkv[kj.x + c] * p.scale;
    k1[c] = qkv[kj.y + c] * p.scale;
    v0[c] = qkv[kj.x + p.C4 + c];
    v1[c] = qkv[kj.y + p.C4 + c];
    dk0[c] = vec4f(0.0); dk1[c] = vec4f(0.0);
    dv0[c] = vec4f(0.0); dv1[c] = vec4f(0.0);
  }
  let lb = ((p.b0 + b) * nwg.y + h) * p.T;
  // queries before the workgroup's first key see none of its keys (uniform start)
  for (var i0 = r0; i0 < p.T; i0 += 8u) {
    let iq = min(i0 + sid % 8u, p.T - 1u); // this lane's query of the block (clamped; masked below)
    let qo = base + iq * R3;
    let go = (b * p.T + iq) * p.C4 + h * p.hs4;
    var s0 = Z8; var s1 = Z8;
    for (var c = 0u; c < p.hs4; c++) {
      let q = bcast8(qkv[qo + c]);
      s0 = dot8(s0, k0[c], q); s1 = dot8(s1, k1[c], q);
    }
    var d0 = Z8; var d1 = Z8;
    for (var c = 0u; c < p.hs4; c++) {
      let g = bcast8(dout[go + c]);
      d0 = dot8(d0, v0[c], g); d1 = dot8(d1, v1[c], g);
    }
    let L = bcast8s(lse[lb + iq]);
    let D = bcast8s(delta[lb + iq]);
    let ia = vec4u(i0) + vec4u(0u, 1u, 2u, 3u);
    let ib = ia + 4u;
    let T = vec4u(p.T);
    let x0 = pds(s0, d0, L, D, (ia >= vec4u(j.x)) & (ia < T), (ib >= vec4u(j.x)) & (ib < T));
    let x1 = pds(s1, d1, L, D, (ia >= vec4u(j.y)) & (ia < T), (ib >= vec4u(j.y)) & (ib < T));
    for (var c = 0u; c < p.hs4; c++) {
      let g = bcast8(dout[go + c]);
      dv0[c] += mix8(x0.P, g);
      dv1[c] += mix8(x1.P, g);
    }
    for (var c = 0u; c < p.hs4; c++) {
      let q = bcast8(qkv[qo + c]);
      dk0[c] += mix8(x0.dS, q);
      dk1[c] += mix8(x1.dS, q);
    }
  }
  if (rr.x < p.T) { for (var c = 0u; c < p.hs4; c++) { dqkv[kj.x + c] += dk0[c] * p.scale; dqkv[kj.x + p.C4 + c] += dv0[c]; } }
  if (rr.y < p.T) { for (var c = 0u; c < p.hs4; c++) { dqkv[kj.y + c] += dk1[c] * p.scale; dqkv[kj.y + p.C4 + c] += dv1[c]; } }
}
