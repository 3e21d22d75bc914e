// Causal self-attention forward for adapters with subgroups: the fast path on CPU adapters,
// where every lane-varying load costs a scalar loop over the lanes. Same math as
// attention_forward.wgsl, register-tiled: each invocation owns 4 query rows, and keys come in
// blocks of 16, two halves of 8 that are each loaded once per subgroup (lane l loads key
// j0 + l%8) and shared with subgroupBroadcast, so one loaded float feeds 4*8 multiply-adds
// instead of one, and each q and accumulator read serves 16 keys.
// Needs subgroups of at least 8 invocations; head size <= 4*MAXHS4.
enable subgroups;

override WG: u32 = 8;   // invocations per workgroup; 4*WG query rows per workgroup
const MAXHS4: u32 = 16u;
const NEG: f32 = -1e30;

struct Params { // as in attention_forward.wgsl
  Tq: u32,
  t0: u32,
  rows: u32,
  C4: u32,
  hs4: u32,   // head size / 4; a uniform, not an override, so CPU compilers keep the loops over it rolled
  b0: u32,    // first batch of this dispatch (lse/delta are bound whole; big tensors as views)
  scale: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;

// 8 scalars, one per key of a block: a = keys 0..3, b = keys 4..7
struct V8 { a: vec4f, b: vec4f }

fn bcast8(x: vec4f) -> array<vec4f, 8> {
  return array<vec4f, 8>(subgroupBroadcast(x, 0u), subgroupBroadcast(x, 1u), subgroupBroadcast(x, 2u), subgroupBroadcast(x, 3u),
                         subgroupBroadcast(x, 4u), subgroupBroadcast(x, 5u), subgroupBroadcast(x, 6u), subgroupBroadcast(x, 7u));
}
// s + (q·k_0, ..., q·k_7)
fn dot8(s: V8, q: vec4f, k: array<vec4f, 8>) -> V8 {
  return V8(s.a + vec4f(dot(q, k[0]), dot(q, k[1]), dot(q, k[2]), dot(q, k[3])),
            s.b + vec4f(dot(q, k[4]), dot(q, k[5]), dot(q, k[6]), dot(q, k[7])));
}
// sum_j w_j v_j
fn mix8(w: V8, v: array<vec4f, 8>) -> vec4f {
  return w.a.x * v[0] + w.a.y * v[1] + w.a.z * v[2] + w.a.w * v[3] + w.b.x * v[4] + w.b.y * v[5] + w.b.z * v[6] + w.b.w * v[7];
}
fn mask8(s: V8, j0: u32, pos: u32) -> V8 {
  let ja = vec4u(j0) + vec4u(0u, 1u, 2u, 3u);
  return V8(select(s.a, vec4f(NEG), ja > vec4u(pos)), select(s.b, vec4f(NEG), ja + 4u > vec4u(pos)));
}
fn max8(s: V8) -> f32 {
  let x = max(s.a, s.b);
  return max(max(x.x, x.y), max(x.z, x.w));
}
fn exp8(s: V8, m: f32) -> V8 { return V8(exp(s.a - m), exp(s.b - m)); }
fn sum8(s: V8) -> f32 { return dot(s.a + s.b, vec4f(1.0)); }

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sid: u32) {
  let h = wid.y;
  let b = wid.z;
  let r0 = wid.x * 4u * WG;
  let R3 = 3u * p.C4;
  let qb = b * p.rows * R3 + h * p.hs4;
  // this invocation's rows r0+lid+WG*t, t = 0..3; rows past the end shadow the last row
  let rr = vec4u(r0 + lid) + vec4u(0u, WG, 2u * WG, 3u * WG);
  let pos = vec4u(p.t0) + min(rr, vec4u(p.Tq - 1u));
  var q0: array<vec4f, MAXHS4>; var q1: array<vec4f, MAXHS4>; var q2: array<vec4f, MAXHS4>; var q3: array<vec4f, MAXHS4>;
  var a0: array<vec4f, MAXHS4>; var a1: array<vec4f, MAXHS4>; var a2: array<vec4f, MAXHS4>; var a3: array<vec4f, MAXHS4>;
  for (var c = 0u; c < p.hs4; c++) {
    q0[c] = qkv[qb + pos.x * R3 + c] * p.scale;
    q1[c] = qkv[qb + pos.y * R3 + c] * p.scale;
    q2[c] = qkv[qb + pos.z * R3 + c] * p.scale;
    q3[c] = qkv[qb + pos.w * R3 + c] * p.scale;
    a0[c] = vec4f(0.0); a1[c] = vec4f(0.0); a2[c] = vec4f(0.0); a3[c] = vec4f(0.0);
  }
  var m = vec4f(NEG); // running max of the 4 rows
  var l = vec4f(0.0); // running sum
  let kEnd = p.t0 + min(r0 + 4u * WG, p.Tq); // uniform: keys needed by the workgroup's last row
  for (var j0 = 0u; j0 < kEnd; j0 += 16u) {
    let koA = qb + p.C4 + min(j0 + sid % 8u, kEnd - 1u) * R3; // this lane's keys of the two halves
    let koB = qb + p.C4 + min(j0 + 8u + sid % 8u, kEnd - 1u) * R3;
    var s0 = V8(vec4f(0.0), vec4f(0.0)); var s1 = s0; var s2 = s0; var s3 = s0;
    var t0 = s0; var t1 = s0; var t2 = s0; var t3 = s0;
    for (var c = 0u; c < p.hs4; c++) {
      let k = bcast8(qkv[koA + c]);
      let kk = bcast8(qkv[koB + c]);
      let x0 = q0[c]; let x1 = q1[c]; let x2 = q2[c]; let x3 = q3[c];
      s0 = dot8(s0, x0, k); s1 = dot8(s1, x1, k); s2 = dot8(s2, x2, k); s3 = dot8(s3, x3, k);
      t0 = dot8(t0, x0, kk); t1 = dot8(t1, x1, kk); t2 = dot8(t2, x2, kk); t3 = dot8(t3, x3, kk);
    }
    s0 = mask8(s0, j0, pos.x); s1 = mask8(s1, j0, pos.y); s2 = mask8(s2, j0, pos.z); s3 = mask8(s3, j0, pos.w);
    t0 = mask8(t0, j0 + 8u, pos.x); t1 = mask8(t1, j0 + 8u, pos.y); t2 = mask8(t2, j0 + 8u, pos.z); t3 = mask8(t3, j0 + 8u, pos.w);
    let mNew = max(m, vec4f(max(max8(s0), max8(t0)), max(max8(s1), max8(t1)), max(max8(s2), max8(t2)), max(max8(s3), max8(t3))));
    let corr = exp(m - mNew);
    m = mNew;
    s0 = exp8(s0, mNew.x); s1 = exp8(s1, mNew.y); s2 = exp8(s2, mNew.z); s3 = exp8(s3, mNew.w);
    t0 = exp8(t0, mNew.x); t1 = exp8(t1, mNew.y); t2 = exp8(t2, mNew.z); t3 = exp8(t3, mNew.w);
    l = l * corr + vec4f(sum8(s0) + sum8(t0), sum8(s1) + sum8(t1), sum8(s2) + sum8(t2), sum8(s3) + sum8(t3));
    for (var c = 0u; c < p.hs4; c++) {
      let v = bcast8(qkv[koA + p.C4 + c]);
      let vv = bcast8(qkv[koB + p.C4 + c]);
      a0[c] = a0[c] * corr.x + mix8(s0, v) + mix8(t0, vv);
      a1[c] = a1[c] * corr.y + mix8(s1, v) + mix8(t1, vv);
      a2[c] = a2[c] * corr.z + mix8(s2, v) + mix8(t2, vv);
      a3[c] = a3[c] * corr.w + mix8(s3, v) + mix8(t3, vv);
    }
  }
  let inv = 1.0 / l;
  let lg = m + log(l);
  let ob = b * p.Tq * p.C4 + h * p.hs4;
  let lb = ((p.b0 + b) * nwg.y + h) * p.Tq;
  if (rr.x < p.Tq) { for (var c = 0u; c < p.hs4; c++) { out[ob + rr.x * p.C4 + c] = a0[c] * inv.x; } lse[lb + rr.x] = lg.x; }
  if (rr.y < p.Tq) { for (var c = 0u; c < p.hs4; c++) { out[ob + rr.y * p.C4 + c] = a1[c] * inv.y; } lse[lb + rr.y] = lg.y; }
  if (rr.z < p.Tq) { for (var c = 0u; c < p.hs4; c++) { out[ob + rr.z * p.C4 + c] = a2[c] * inv.z; } lse[lb + rr.z] = lg.z; }
  if (rr.w < p.Tq) { for (var c = 0u; c < p.hs4; c++) { out[ob + rr.w * p.C4 + c] = a3[c] * inv.w; } lse[lb + rr.w] = lg.w; }
}
