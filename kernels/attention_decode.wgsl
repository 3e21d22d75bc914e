// KV-cached attention for a batch of sequences with one new query row each (decode), each over
// its own number of keys, split over the keys so the work grows linearly with the context and
// spreads over many workgroups (flash-decoding):
//   partial: workgroup (chunk, head, sequence); each invocation runs an online softmax over its
//            own keys of the chunk and writes (max, sum, unnormalised output) to `part`;
//   combine: workgroup (head, sequence) merges all partials in a fixed order (deterministic).
// Sequence e of a dispatch is entries[e0 + e] = (row, slot, pos): its cache is slot `slot` of the
// bound cache (qkv rows of 3C, slots stride4 vec4 apart), its query row `pos` of that cache
// (already written), its keys rows 0..pos (causal); its output goes to row `row` of out.
override WG: u32 = 8;   // invocations per workgroup
const MAXHS4: u32 = 32u;
const NEG: f32 = -1e30;

struct Params {
  C4: u32,      // C / 4
  hs4: u32,     // head size / 4; a uniform, not an override, so CPU compilers keep the loops over it rolled
  chunk: u32,   // keys per partial workgroup (a multiple of 4*WG)
  nChunks: u32, // chunks of the longest sequence of the dispatch
  stride4: u32, // vec4 from one slot of the cache to the next
  e0: u32,      // first entry of this dispatch
  scale: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> cache: array<vec4f>;      // [slots, stride4]: rows of [3C]
@group(0) @binding(2) var<storage, read> entries: array<vec4u>;    // (row, slot, pos, unused)
@group(0) @binding(3) var<storage, read_write> out: array<vec4f>;  // [B, C]
// per (sequence, head, chunk, invocation): p.hs4+1 vec4s = (max, sum, 0, 0) then the output accumulator
@group(0) @binding(4) var<storage, read_write> part: array<vec4f>;

@compute @workgroup_size(WG)
fn partial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  let e = wid.z;
  let ent = entries[p.e0 + e];
  let R3 = 3u * p.C4;
  let base = ent.y * p.stride4;
  let qo = base + ent.z * R3 + h * p.hs4;
  var q: array<vec4f, MAXHS4>;
  var acc: array<vec4f, MAXHS4>;
  for (var c = 0u; c < p.hs4; c++) {
    q[c] = cache[qo + c] * p.scale;
    acc[c] = vec4f(0.0);
  }
  var m = NEG;
  var l = 0.0;
  let jStart = wid.x * p.chunk;
  let jEnd = min(jStart + p.chunk, ent.z + 1u); // chunks past this sequence's keys hold nothing
  // each step handles 4 consecutive keys per invocation
  for (var j0 = jStart + 4u * lid; j0 < jEnd; j0 += 4u * WG) {
    let jv = vec4u(j0) + vec4u(0u, 1u, 2u, 3u);
    let valid = jv < vec4u(jEnd);
    let o = vec4u(base + h * p.hs4 + p.C4) + min(jv, vec4u(jEnd - 1u)) * R3;
    var s = vec4f(0.0);
    for (var c = 0u; c < p.hs4; c++) {
      let qc = q[c];
      s += vec4f(dot(qc, cache[o.x + c]), dot(qc, cache[o.y + c]), dot(qc, cache[o.z + c]), dot(qc, cache[o.w + c]));
    }
    s = select(vec4f(NEG), s, valid);
    let mNew = max(m, max(max(s.x, s.y), max(s.z, s.w)));
    let corr = exp(m - mNew);
    let w = select(vec4f(0.0), exp(s - mNew), valid);
    m = mNew;
    l = l * corr + dot(w, vec4f(1.0));
    let v = o + p.C4;
    for (var c = 0u; c < p.hs4; c++) {
      acc[c] = acc[c] * corr + w.x * cache[v.x + c] + w.y * cache[v.y + c] + w.z * cache[v.z + c] + w.w * cache[v.w + c];
    }
  }
  let po = (((e * nwg.y + h) * p.nChunks + wid.x) * WG + lid) * (p.hs4 + 1u);
  part[po] = vec4f(m, l, 0.0, 0.0);
  for (var c = 0u; c < p.hs4; c++) {
    part[po + 1u + c] = acc[c];
  }
}

@compute @workgroup_size(WG)
fn combine(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let e = wid.y;
  let row = entries[p.e0 + e].x;
  let n = p.nChunks * WG; // partials of this head; invocations without keys hold (NEG, 0, 0...)
  let pb = (e * nwg.x + h) * n * (p.hs4 + 1u);
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
    out[row * p.C4 + h * p.hs4 + c] = o / L;
  }
}
