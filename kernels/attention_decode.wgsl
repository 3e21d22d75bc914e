// KV-cached attention for one new query row (decode), split over the keys so the work grows
// linearly with the context and spreads over many workgroups (flash-decoding):
//   partial: workgroup (chunk, head); each invocation runs an online softmax over its own
//            keys of the chunk and writes (max, sum, unnormalised output) to `part`;
//   combine: one workgroup per head merges all partials in a fixed order (deterministic).
// The query is row t0 of the cache, its keys are rows 0..t0 (causal).
override WG: u32 = 8;   // invocations per workgroup
const MAXHS4: u32 = 32u;
const NEG: f32 = -1e30;

struct Params {
  t0: u32,      // position of the query row
  C4: u32,      // C / 4
  hs4: u32,   // head size / 4; a uniform, not an override, so CPU compilers keep the loops over it rolled
  chunk: u32,   // keys per partial workgroup (a multiple of 4*WG)
  nChunks: u32,
  scale: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<vec4f>;        // [Tmax, 3C]
@group(0) @binding(2) var<storage, read_write> out: array<vec4f>;  // [1, C]
// per (head, chunk, invocation): p.hs4+1 vec4s = (max, sum, 0, 0) then the output accumulator
@group(0) @binding(3) var<storage, read_write> part: array<vec4f>;

@compute @workgroup_size(WG)
fn partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  let R3 = 3u * p.C4;
  let qo = p.t0 * R3 + h * p.hs4;
  var q: array<vec4f, MAXHS4>;
  var acc: array<vec4f, MAXHS4>;
  for (var c = 0u; c < p.hs4; c++) {
    q[c] = qkv[qo + c] * p.scale;
    acc[c] = vec4f(0.0);
  }
  var m = NEG;
  var l = 0.0;
  let jStart = wid.x * p.chunk;
  let jEnd = min(jStart + p.chunk, p.t0 + 1u);
  // each step handles 4 consecutive keys per invocation
  for (var j0 = jStart + 4u * lid; j0 < jEnd; j0 += 4u * WG) {
    let jv = vec4u(j0) + vec4u(0u, 1u, 2u, 3u);
    let valid = jv < vec4u(jEnd);
    let o = vec4u(h * p.hs4 + p.C4) + min(jv, vec4u(jEnd - 1u)) * R3;
    var s = vec4f(0.0);
    for (var c = 0u; c < p.hs4; c++) {
      let qc = q[c];
      s += vec4f(dot(qc, qkv[o.x + c]), dot(qc, qkv[o.y + c]), dot(qc, qkv[o.z + c]), dot(qc, qkv[o.w + c]));
    }
    s = select(vec4f(NEG), s, valid);
    let mNew = max(m, max(max(s.x, s.y), max(s.z, s.w)));
    let corr = exp(m - mNew);
    let w = select(vec4f(0.0), exp(s - mNew), valid);
    m = mNew;
    l = l * corr + dot(w, vec4f(1.0));
    let v = o + p.C4;
    for (var c = 0u; c < p.hs4; c++) {
      acc[c] = acc[c] * corr + w.x * qkv[v.x + c] + w.y * qkv[v.y + c] + w.z * qkv[v.z + c] + w.w * qkv[v.w + c];
    }
  }
  let po = ((h * p.nChunks + wid.x) * WG + lid) * (p.hs4 + 1u);
  part[po] = vec4f(m, l, 0.0, 0.0);
  for (var c = 0u; c < p.hs4; c++) {
    part[po + 1u + c] = acc[c];
  }
}

@compute @workgroup_size(WG)
fn combine(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let n = p.nChunks * WG; // partials of this head; invocations without keys hold (NEG, 0, 0...)
  let pb = h * n * (p.hs4 + 1u);
  var M = NEG;
  for (var i = 0u; i < n; i++) {
    M = max(M, part[pb + i * (p.hs4 + 1u)].x);
  }
  var L = 0.0;
  for (var i = 0u; i < n; i++) {
    let ml = part[pb + i * (p.hs4 + 1u)];
    L += ml.y * exp(ml.x - M);
  }
  for (var c = lid; c < p.hs4; c += WG) {
    var o = vec4f(0.0);
    for (var i = 0u; i < n; i++) {
      let po = pb + i * (p.hs4 + 1u);
      o += part[po + 1u + c] * exp(part[po].x - M);
    }
    out[h * p.hs4 + c] = o / L;
  }
}
