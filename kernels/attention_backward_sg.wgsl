// Causal self-attention backward for adapters with subgroups (see attention_forward_sg.wgsl
// for why). Same math and entry points as attention_backward.wgsl, register-tiled: each
// invocation owns 2 rows (queries in dq, keys in dkv), and the other side is streamed in
// blocks of 16 rows, two halves of 8 that each lane of a subgroup loads one row of and shares
// by subgroupBroadcast.
// Two rows, not four as in the forward: with four times as many private arrays (q, dout, dq
// or k, v, dk, dv per row) it measured slower on a CPU adapter.
// Needs subgroups of at least 8 invocations; head size <= 4*MAXHS4.
enable subgroups;

override WG: u32 = 8;   // invocations per workgroup; 2*WG rows per workgroup
const MAXHS4: u32 = 16u;

struct Params { // as in attention_backward.wgsl
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

// 8 scalars, one per streamed row of a half block: a = rows 0..3, b = rows 4..7
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
  for (var j0 = 0u; j0 < kEnd; j0 += 16u) {
    // this lane's keys of the block's two halves (clamped; masked below)
    let koA = base + p.C4 + min(j0 + sid % 8u, kEnd - 1u) * R3;
    let koB = base + p.C4 + min(j0 + 8u + sid % 8u, kEnd - 1u) * R3;
    var s0 = Z8; var s1 = Z8; var t0 = Z8; var t1 = Z8;
    for (var c = 0u; c < p.hs4; c++) {
      let k = bcast8(qkv[koA + c]);
      let kk = bcast8(qkv[koB + c]);
      let x0 = q0[c]; let x1 = q1[c];
      s0 = dot8(s0, x0, k); s1 = dot8(s1, x1, k); t0 = dot8(t0, x0, kk); t1 = dot8(t1, x1, kk);
    }
    var d0 = Z8; var d1 = Z8; var e0 = Z8; var e1 = Z8;
    for (var c = 0u; c < p.hs4; c++) {
      let v = bcast8(qkv[koA + p.C4 + c]);
      let vv = bcast8(qkv[koB + p.C4 + c]);
      let y0 = g0[c]; let y1 = g1[c];
      d0 = dot8(d0, y0, v); d1 = dot8(d1, y1, v); e0 = dot8(e0, y0, vv); e1 = dot8(e1, y1, vv);
    }
    let ja = vec4u(j0) + vec4u(0u, 1u, 2u, 3u);
    let x0 = pds(s0, d0, splat8(L.x), splat8(D.x), ja <= vec4u(i.x), ja + 4u <= vec4u(i.x));
    let x1 = pds(s1, d1, splat8(L.y), splat8(D.y), ja <= vec4u(i.y), ja + 4u <= vec4u(i.y));
    let z0 = pds(t0, e0, splat8(L.x), splat8(D.x), ja + 8u <= vec4u(i.x), ja + 12u <= vec4u(i.x));
    let z1 = pds(t1, e1, splat8(L.y), splat8(D.y), ja + 8u <= vec4u(i.y), ja + 12u <= vec4u(i.y));
    for (var c = 0u; c < p.hs4; c++) {
      let k = bcast8(qkv[koA + c]);
      let kk = bcast8(qkv[koB + c]);
      a0[c] += mix8(x0.dS, k) + mix8(z0.dS, kk);
      a1[c] += mix8(x1.dS, k) + mix8(z1.dS, kk);
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
  for (var i0 = r0; i0 < p.T; i0 += 16u) {
    // this lane's queries of the block's two halves (clamped; masked below)
    let iqA = min(i0 + sid % 8u, p.T - 1u);
    let iqB = min(i0 + 8u + sid % 8u, p.T - 1u);
    let qoA = base + iqA * R3;
    let qoB = base + iqB * R3;
    let goA = (b * p.T + iqA) * p.C4 + h * p.hs4;
    let goB = (b * p.T + iqB) * p.C4 + h * p.hs4;
    var s0 = Z8; var s1 = Z8; var t0 = Z8; var t1 = Z8;
    for (var c = 0u; c < p.hs4; c++) {
      let q = bcast8(qkv[qoA + c]);
      let qq = bcast8(qkv[qoB + c]);
      let x0 = k0[c]; let x1 = k1[c];
      s0 = dot8(s0, x0, q); s1 = dot8(s1, x1, q); t0 = dot8(t0, x0, qq); t1 = dot8(t1, x1, qq);
    }
    var d0 = Z8; var d1 = Z8; var e0 = Z8; var e1 = Z8;
    for (var c = 0u; c < p.hs4; c++) {
      let g = bcast8(dout[goA + c]);
      let gg = bcast8(dout[goB + c]);
      let y0 = v0[c]; let y1 = v1[c];
      d0 = dot8(d0, y0, g); d1 = dot8(d1, y1, g); e0 = dot8(e0, y0, gg); e1 = dot8(e1, y1, gg);
    }
    let LA = bcast8s(lse[lb + iqA]);
    let LB = bcast8s(lse[lb + iqB]);
    let DA = bcast8s(delta[lb + iqA]);
    let DB = bcast8s(delta[lb + iqB]);
    let ia = vec4u(i0) + vec4u(0u, 1u, 2u, 3u);
    let T = vec4u(p.T);
    let x0 = pds(s0, d0, LA, DA, (ia >= vec4u(j.x)) & (ia < T), (ia + 4u >= vec4u(j.x)) & (ia + 4u < T));
    let x1 = pds(s1, d1, LA, DA, (ia >= vec4u(j.y)) & (ia < T), (ia + 4u >= vec4u(j.y)) & (ia + 4u < T));
    let z0 = pds(t0, e0, LB, DB, (ia + 8u >= vec4u(j.x)) & (ia + 8u < T), (ia + 12u >= vec4u(j.x)) & (ia + 12u < T));
    let z1 = pds(t1, e1, LB, DB, (ia + 8u >= vec4u(j.y)) & (ia + 8u < T), (ia + 12u >= vec4u(j.y)) & (ia + 12u < T));
    for (var c = 0u; c < p.hs4; c++) {
      let g = bcast8(dout[goA + c]);
      let gg = bcast8(dout[goB + c]);
      dv0[c] += mix8(x0.P, g) + mix8(z0.P, gg);
      dv1[c] += mix8(x1.P, g) + mix8(z1.P, gg);
    }
    for (var c = 0u; c < p.hs4; c++) {
      let q = bcast8(qkv[qoA + c]);
      let qq = bcast8(qkv[qoB + c]);
      dk0[c] += mix8(x0.dS, q) + mix8(z0.dS, qq);
      dk1[c] += mix8(x1.dS, q) + mix8(z1.dS, qq);
    }
  }
  if (rr.x < p.T) { for (var c = 0u; c < p.hs4; c++) { dqkv[kj.x + c] += dk0[c] * p.scale; dqkv[kj.x + p.C4 + c] += dv0[c]; } }
  if (rr.y < p.T) { for (var c = 0u; c < p.hs4; c++) { dqkv[kj.y + c] += dk1[c] * p.scale; dqkv[kj.y + p.C4 + c] += dv1[c]; } }
}
