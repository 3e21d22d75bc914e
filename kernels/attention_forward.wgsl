// Causal self-attention forward, FlashAttention style. One invocation per query row keeps
// its scaled q, the running max m, running sum l and the output accumulator private and
// streams over the keys in blocks of 8 with an online softmax: the T×T scores never exist
// in memory. All lanes read the same keys and values (GPUs broadcast such loads; CPU adapters
// load per lane, which is why attention_forward_sg.wgsl exists).
// Also serves KV-cached prefill: query rows are positions t0..t0+Tq of a sequence of `rows`.
override WG: u32 = 32;  // query rows per workgroup
const MAXHS4: u32 = 32u;
const NEG: f32 = -1e30; // "minus infinity" that keeps exp() and subtraction finite

struct Params {
  Tq: u32,    // query rows per sequence
  t0: u32,    // position of the first query row; keys are positions 0..t0+Tq
  rows: u32,  // rows per sequence in qkv (T, or Tmax of a KV cache)
  C4: u32,    // C / 4
  hs4: u32,   // head size / 4; a uniform, not an override, so CPU compilers keep the loops over it rolled
  b0: u32,    // first batch of this dispatch (lse/delta are bound whole; big tensors as views)
  scale: f32, // 1/sqrt(head size)
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<vec4f>;  // [B, rows, 3C]
@group(0) @binding(2) var<storage, read_write> out: array<vec4f>;  // [B, Tq, C]
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;  // [B, NH, Tq]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  let b = wid.z;
  let r0 = wid.x * WG;
  let r = r0 + lid;
  let pos = p.t0 + min(r, p.Tq - 1u); // lanes past the end shadow the last row and store nothing
  let R = 3u * p.C4; // row stride in vec4
  let qb = b * p.rows * R + h * p.hs4;
  let kb = qb + p.C4;
  let vb = qb + 2u * p.C4;

  var q: array<vec4f, MAXHS4>;
  var acc: array<vec4f, MAXHS4>;
  for (var c = 0u; c < p.hs4; c++) {
    q[c] = qkv[qb + pos * R + c] * p.scale;
    acc[c] = vec4f(0.0);
  }
  var m = NEG;
  var l = 0.0;
  // keys needed by the workgroup's last row: a uniform bound; later keys are masked per lane
  let kEnd = p.t0 + min(r0 + WG, p.Tq);
  for (var j0 = 0u; j0 < kEnd; j0 += 8u) {
    // clamped rows stay in bounds; they are masked below
    let o0 = min(j0, kEnd - 1u) * R;
    let o1 = min(j0 + 1u, kEnd - 1u) * R;
    let o2 = min(j0 + 2u, kEnd - 1u) * R;
    let o3 = min(j0 + 3u, kEnd - 1u) * R;
    let o4 = min(j0 + 4u, kEnd - 1u) * R;
    let o5 = min(j0 + 5u, kEnd - 1u) * R;
    let o6 = min(j0 + 6u, kEnd - 1u) * R;
    let o7 = min(j0 + 7u, kEnd - 1u) * R;
    var sa = vec4f(0.0); // scores of keys j0..j0+3
    var sb = vec4f(0.0); // keys j0+4..j0+7
    for (var c = 0u; c < p.hs4; c++) {
      let qc = q[c];
      let k = kb + c;
      sa += vec4f(dot(qc, qkv[k + o0]), dot(qc, qkv[k + o1]), dot(qc, qkv[k + o2]), dot(qc, qkv[k + o3]));
      sb += vec4f(dot(qc, qkv[k + o4]), dot(qc, qkv[k + o5]), dot(qc, qkv[k + o6]), dot(qc, qkv[k + o7]));
    }
    let ja = vec4u(j0) + vec4u(0u, 1u, 2u, 3u);
    sa = select(sa, vec4f(NEG), ja > vec4u(pos));
    sb = select(sb, vec4f(NEG), ja + 4u > vec4u(pos));
    let mNew = max(m, max(max(max(sa.x, sa.y), max(sa.z, sa.w)), max(max(sb.x, sb.y), max(sb.z, sb.w))));
    let corr = exp(m - mNew);
    m = mNew;
    let pa = exp(sa - mNew);
    let pb = exp(sb - mNew);
    l = l * corr + dot(pa, vec4f(1.0)) + dot(pb, vec4f(1.0));
    for (var c = 0u; c < p.hs4; c++) {
      let v = vb + c;
      var a = acc[c] * corr;
      a += pa.x * qkv[v + o0] + pa.y * qkv[v + o1] + pa.z * qkv[v + o2] + pa.w * qkv[v + o3];
      a += pb.x * qkv[v + o4] + pb.y * qkv[v + o5] + pb.z * qkv[v + o6] + pb.w * qkv[v + o7];
      acc[c] = a;
    }
  }
  if (r >= p.Tq) { return; }
  let inv = 1.0 / l;
  let ob = (b * p.Tq + r) * p.C4 + h * p.hs4;
  for (var c = 0u; c < p.hs4; c++) {
    out[ob + c] = acc[c] * inv;
  }
  lse[((p.b0 + b) * nwg.y + h) * p.Tq + r] = m + log(l);
}
