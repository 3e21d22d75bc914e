// C[M,N] = op(A)·op(B) (+ bias[N]) (+ C) for real GPUs: the classic shared-memory tiling.
// Same parameters and bindings as matmul.wgsl, and the same alignment needs: A and B offsets,
// row strides and batch strides are multiples of 4 floats (matmul.ts pads operands that are
// not). Values past M, N and K are masked here, so no zero padding is assumed.
//
// A workgroup of WGX x WGY invocations computes a BM x BN block of C (BM = TM*WGY rows,
// BN = 4*WGX columns); each invocation owns TM rows x 4 columns in registers. Per k-step of BK,
// the A and B tiles are staged k-major in workgroup memory (vec4 along m and along n) with
// vec4 global loads; transposed-in-memory tiles are loaded as 4x4 blocks and transposed in
// registers, so every shared store is a whole vec4. One barrier pair per k-step.
override WGX: u32 = 16;           // invocations along n
override WGY: u32 = 16;           // invocations along m
override TM: u32 = 4;             // rows of C per invocation: 4 or 8
override BK: u32 = 16;            // k per shared-memory step: a multiple of 4
override TRANS_A: bool = false;   // A stored [K,M] (else [M,K])
override TRANS_B: bool = false;   // B stored [N,K] (else [K,N])

// derived sizes (not set by the host)
override BMV: u32 = TM * WGY / 4u;      // vec4s per k-row of the A tile
override A_TILE: u32 = BK * BMV;        // vec4s in the A tile
override B_TILE: u32 = BK * WGX;        // vec4s in the B tile (WGX vec4s per k-row)

struct Params {
  M: u32, N: u32, K: u32,
  lda: u32, ldb: u32, ldc: u32,             // row strides of the stored matrices (floats)
  offA: u32, offB: u32, offC: u32,          // first element of this dispatch's matrices in the bound ranges
  strideA: u32, strideB: u32, strideC: u32, // between batch matrices (workgroup_id.z)
  offBias: u32,
  flags: u32,                               // 1: C += result (else C = result), 2: add bias
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

var<workgroup> As: array<vec4f, A_TILE>;  // As[k*BMV + i] = op(A) rows 4i..4i+3 of the tile at k
var<workgroup> Bs: array<vec4f, B_TILE>;  // Bs[k*WGX + j] = op(B) columns 4j..4j+3 of the tile at k

// vec4 `idx` of a run along k that starts at k = 4*kv: elements at k >= K are zeroed.
fn loadK(src: u32, idx: u32, kv: u32) -> vec4f {
  var v = vec4f(0.0);
  if (4u * kv < p.K) {
    if (src == 0u) { v = a[idx]; } else { v = b[idx]; }
  }
  return select(vec4f(0.0), v, vec4u(4u * kv) + vec4u(0u, 1u, 2u, 3u) < vec4u(p.K));
}

// Row `row` (< rows, else zeros) of a matrix stored with runs along k (row stride ld4 vec4s), k-vec4 kv.
fn loadRow(src: u32, base: u32, ld4: u32, row: u32, rows: u32, kv: u32) -> vec4f {
  if (row >= rows) { return vec4f(0.0); }
  return loadK(src, base + row * ld4 + kv, kv);
}

// Rows r..r+3 of such a matrix at k-vec4 kv, transposed: result[j] = the 4 rows at k = 4kv+j.
// Explicit, no loops over j: private arrays indexed in loops can end up in slow memory.
fn load4x4(src: u32, base: u32, ld4: u32, r: u32, rows: u32, kv: u32) -> mat4x4f {
  let q0 = loadRow(src, base, ld4, r, rows, kv);
  let q1 = loadRow(src, base, ld4, r + 1u, rows, kv);
  let q2 = loadRow(src, base, ld4, r + 2u, rows, kv);
  let q3 = loadRow(src, base, ld4, r + 3u, rows, kv);
  return transpose(mat4x4f(q0, q1, q2, q3));
}

// acc row r += x[r] * bv: one k step of a 4x4 block.
fn outer(acc: mat4x4f, x: vec4f, bv: vec4f) -> mat4x4f {
  return mat4x4f(fma(vec4f(x.x), bv, acc[0]), fma(vec4f(x.y), bv, acc[1]), fma(vec4f(x.z), bv, acc[2]), fma(vec4f(x.w), bv, acc[3]));
}

// Stores columns n..n+3 of row m (masked to M and N), plus bias, into or onto C.
fn storeRow(cbase: u32, m: u32, n: u32, v: vec4f, bv: vec4f) {
  if (m >= p.M) { return; }
  let x = v + bv;
  let i = cbase + m * p.ldc + n;
  for (var j = 0u; j < 4u; j++) {
    if (n + j < p.N) {
      if ((p.flags & 1u) != 0u) { c[i + j] = c[i + j] + x[j]; } else { c[i + j] = x[j]; }
    }
  }
}

@compute @workgroup_size(WGX, WGY)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let nt = WGX * WGY;
  let bkv = BK / 4u;
  let m0 = wid.y * TM * WGY;
  let n0 = wid.x * 4u * WGX;
  let aoff = (p.offA + wid.z * p.strideA) / 4u;
  let boff = (p.offB + wid.z * p.strideB) / 4u;
  let lda4 = p.lda / 4u;
  let ldb4 = p.ldb / 4u;
  let mv = (p.M + 3u) / 4u;   // vec4s along m (A transposed) / along n (B not transposed)
  let nv = (p.N + 3u) / 4u;

  // c0 rows are rows 0..3 of this invocation's block, c1 rows 4..7 (TM = 8 only)
  var c0 = mat4x4f();
  var c1 = mat4x4f();
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    let k0v = k0 / 4u;
    if (TRANS_A) {
      // A rows are k: vec4 i of the tile is row k0 + i/BMV, m-vec4 m0/4 + i%BMV, stored as is
      for (var i = li; i < A_TILE; i += nt) {
        let k = k0 + i / BMV;
        let m4 = m0 / 4u + i % BMV;
        var v = vec4f(0.0);
        if (k < p.K && m4 < mv) { v = a[aoff + k * lda4 + m4]; }
        As[i] = v;
      }
    } else {
      // A rows are m: 4x4 block i covers rows 4*(i/bkv).., k-vec4 i%bkv
      for (var i = li; i < A_TILE / 4u; i += nt) {
        let rq = i / bkv;
        let kq = i % bkv;
        let t = load4x4(0u, aoff + m0 * lda4, lda4, 4u * rq, p.M - m0, k0v + kq);
        let s = 4u * kq * BMV + rq;
        As[s] = t[0]; As[s + BMV] = t[1]; As[s + 2u * BMV] = t[2]; As[s + 3u * BMV] = t[3];
      }
    }
    if (TRANS_B) {
      // B rows are n: 4x4 block i covers rows (columns of op(B)) 4*(i/bkv).., k-vec4 i%bkv
      for (var i = li; i < B_TILE / 4u; i += nt) {
        let rq = i / bkv;
        let kq = i % bkv;
        let t = load4x4(1u, boff + n0 * ldb4, ldb4, 4u * rq, p.N - n0, k0v + kq);
        let s = 4u * kq * WGX + rq;
        Bs[s] = t[0]; Bs[s + WGX] = t[1]; Bs[s + 2u * WGX] = t[2]; Bs[s + 3u * WGX] = t[3];
      }
    } else {
      for (var i = li; i < B_TILE; i += nt) {
        let k = k0 + i / WGX;
        let n4 = n0 / 4u + i % WGX;
        var v = vec4f(0.0);
        if (k < p.K && n4 < nv) { v = b[boff + k * ldb4 + n4]; }
        Bs[i] = v;
      }
    }
    workgroupBarrier();
    let ar = lid.y * (TM / 4u);
    for (var k = 0u; k < BK; k++) {
      let bv = Bs[k * WGX + lid.x];
      c0 = outer(c0, As[k * BMV + ar], bv);
      if (TM == 8u) { c1 = outer(c1, As[k * BMV + ar + 1u], bv); }
    }
    workgroupBarrier();
  }

  // Epilogue with constant matrix indices only (dynamic ones would push the accumulators to memory).
  let n = n0 + 4u * lid.x;
  if (n >= p.N) { return; }
  var bv = vec4f(0.0);
  if ((p.flags & 2u) != 0u) {
    let o = p.offBias;
    let ln = p.N - 1u;
    bv = vec4f(bias[o + n], bias[o + min(n + 1u, ln)], bias[o + min(n + 2u, ln)], bias[o + min(n + 3u, ln)]);
  }
  let cbase = p.offC + wid.z * p.strideC;
  let m = m0 + lid.y * TM;
  storeRow(cbase, m, n, c0[0], bv);
  storeRow(cbase, m + 1u, n, c0[1], bv);
  storeRow(cbase, m + 2u, n, c0[2], bv);
  storeRow(cbase, m + 3u, n, c0[3], bv);
  if (TM == 8u) {
    storeRow(cbase, m + 4u, n, c1[0], bv);
    storeRow(cbase, m + 5u, n, c1[1], bv);
    storeRow(cbase, m + 6u, n, c1[2], bv);
    storeRow(cbase, m + 7u, n, c1[3], bv);
  }
}
