// C[M,N] = op(A)·op(B) (+ bias[N]) (+ C), tuned for CPU adapters (lavapipe). The operands are
// read from rgba32float textures (Gpu.texels: texel i at (i % 2^TW_LOG2, i / 2^TW_LOG2)) that
// hold either
// - panels packed by matmul_pack.wgsl: texel (t*K4 + k4)*32 + r = rows 32t+r of op(A) (columns
//   of op(B)) at k = 4k4..4k4+3, zeros past the edges; or, with A_FLAT / B_FLAT,
// - a plain copy of a matrix stored with k along its rows (A stored [K,M], B stored [K,N]) whose
//   rows are whole texels: a k-block is then 4 rows of 32 floats, 4 short runs, and the copy
//   costs a memcpy where packing costs ~3 ns a float.
//
// What lavapipe (Mesa 25, LLVM) makes of this, and why it is written so:
// - A workgroup of 8 lanes is one CPU thread running 8-wide SIMD; there is no shared memory and
//   no barrier here (both are costly).
// - A storage-buffer load whose address is not a compile-time constant becomes a loop over the 8
//   lanes with a bounds check per float (~10 instructions a float). A storage-texture load is one
//   call that gathers the 8 lanes' texels with vector loads (~1.5 instructions a float), hence
//   the textures.
// - Packed panels make each k-block's 32 texels of A (and of B) one contiguous 512-byte run: the
//   unpacked rows are 32 streams a page apart each, which the TLB and prefetchers do not keep up with.
// - Loop-carried values live in memory, masked by the lanes still looping: the accumulators
//   are loaded, blended and stored once per loop iteration, so the body does as much as it can.
// - fma() is a multiply and an add (no FMA instructions); the CPU runs both at full rate.
//
// Each workgroup computes a 32x32 block of C: lane q owns columns 4q..4q+3 and all 32 rows (8
// mat4x4 accumulators, row r of a block = column r of its matrix). Per k-block of 4, every lane
// loads four texels of A (rows 8j+q, j = 0..3) and subgroupShuffle hands the 32 rows to all 8
// lanes; B is four texels per lane (its 4 columns), transposed in registers.
enable subgroups;

override TW_LOG2: u32 = 12;       // texels per texture row = 1 << TW_LOG2 (TEXEL_ROW in gpu.ts)
override GM: u32 = 8;             // row blocks per swizzle group (see main)
override A_FLAT: bool = false;    // A is a plain copy of A stored [K,M] (else packed panels)
override B_FLAT: bool = false;    // B is a plain copy of B stored [K,N] (else packed panels)

struct Params {
  M: u32, N: u32, K: u32,
  K4: u32,                        // k-blocks: ceil(K / 4)
  lda: u32, ldb: u32,             // row strides of flat operands, in texels
  offA: u32, offB: u32,           // first texel of flat operands
  ldc: u32, offC: u32,            // row stride of C, its first float in the bound range
  offBias: u32,
  flags: u32,                     // 1: C += result (else C = result), 2: add bias
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var pa: texture_storage_2d<rgba32float, read>;
@group(0) @binding(2) var pb: texture_storage_2d<rgba32float, read>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

fn texel(t: texture_storage_2d<rgba32float, read>, i: u32) -> vec4f {
  return textureLoad(t, vec2u(i & ((1u << TW_LOG2) - 1u), i >> TW_LOG2));
}

struct Acc { c0: mat4x4f, c1: mat4x4f, c2: mat4x4f, c3: mat4x4f, c4: mat4x4f, c5: mat4x4f, c6: mat4x4f, c7: mat4x4f }
// One k-block: a0..a3 are rows 8j+lane of A at k..k+3 (A_FLAT: rows 4*lane.. at k+j), b0..b3 rows
// k..k+3 of B at this lane's 4 columns.
struct Block { a0: vec4f, a1: vec4f, a2: vec4f, a3: vec4f, b0: vec4f, b1: vec4f, b2: vec4f, b3: vec4f }

// Texel of row k (clamped) of a flat operand at texel column `col`; zero past K (the next rows' floats).
fn flat(t: texture_storage_2d<rgba32float, read>, base: u32, ld: u32, k: u32) -> vec4f {
  return select(vec4f(0.0), texel(t, base + min(k, p.K - 1u) * ld), k < p.K);
}

// k-block k4; ia, ib: this lane's texel of k-block k4 in packed panels, or of row 0 in flat operands
fn load(ia: u32, ib: u32, k4: u32) -> Block {
  var t: Block;
  let k = 4u * k4;
  if (A_FLAT) {
    t.a0 = flat(pa, ia, p.lda, k); t.a1 = flat(pa, ia, p.lda, k + 1u);
    t.a2 = flat(pa, ia, p.lda, k + 2u); t.a3 = flat(pa, ia, p.lda, k + 3u);
  } else {
    t.a0 = texel(pa, ia); t.a1 = texel(pa, ia + 8u); t.a2 = texel(pa, ia + 16u); t.a3 = texel(pa, ia + 24u);
  }
  if (B_FLAT) {
    t.b0 = flat(pb, ib, p.ldb, k); t.b1 = flat(pb, ib, p.ldb, k + 1u);
    t.b2 = flat(pb, ib, p.ldb, k + 2u); t.b3 = flat(pb, ib, p.ldb, k + 3u);
  } else {
    let q0 = texel(pb, ib); let q1 = texel(pb, ib + 1u); let q2 = texel(pb, ib + 2u); let q3 = texel(pb, ib + 3u);
    t.b0 = vec4f(q0.x, q1.x, q2.x, q3.x);
    t.b1 = vec4f(q0.y, q1.y, q2.y, q3.y);
    t.b2 = vec4f(q0.z, q1.z, q2.z, q3.z);
    t.b3 = vec4f(q0.w, q1.w, q2.w, q3.w);
  }
  return t;
}

fn pick(i: u32, v0: vec4f, v1: vec4f, v2: vec4f, v3: vec4f) -> vec4f {
  return select(select(v0, v1, i == 1u), select(v2, v3, i == 3u), i >= 2u);
}

// A at rows 4j..4j+3 of the block and k + kk: lanes 4(j%2)..4(j%2)+3 loaded them, in a[j/2]
// (A_FLAT: lane j, in a[kk]).
fn rows(t: Block, j: u32, kk: u32) -> vec4f {
  if (A_FLAT) {
    return subgroupShuffle(pick(kk, t.a0, t.a1, t.a2, t.a3), j);
  }
  let v = pick(j / 2u, t.a0, t.a1, t.a2, t.a3)[kk];
  let l = 4u * (j % 2u);
  return vec4f(subgroupShuffle(v, l), subgroupShuffle(v, l + 1u), subgroupShuffle(v, l + 2u), subgroupShuffle(v, l + 3u));
}

// acc row r += x[r] * bv: one k step of a 4x4 block.
fn outer(acc: mat4x4f, x: vec4f, bv: vec4f) -> mat4x4f {
  return mat4x4f(fma(vec4f(x.x), bv, acc[0]), fma(vec4f(x.y), bv, acc[1]), fma(vec4f(x.z), bv, acc[2]), fma(vec4f(x.w), bv, acc[3]));
}

// All 4 k steps of block j in a row (keeps one accumulator live at a time: fewer spills).
fn step(acc: mat4x4f, t: Block, j: u32) -> mat4x4f {
  var r = outer(acc, rows(t, j, 0u), t.b0);
  r = outer(r, rows(t, j, 1u), t.b1);
  r = outer(r, rows(t, j, 2u), t.b2);
  return outer(r, rows(t, j, 3u), t.b3);
}

fn update(s: Acc, t: Block) -> Acc {
  return Acc(step(s.c0, t, 0u), step(s.c1, t, 1u), step(s.c2, t, 2u), step(s.c3, t, 3u),
             step(s.c4, t, 4u), step(s.c5, t, 5u), step(s.c6, t, 6u), step(s.c7, t, 7u));
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) q: u32) {
  // Swizzle: lavapipe runs workgroups in x-fastest order, so consecutive ones walk down GM row
  // blocks before moving to the next column block, and a B panel is read from cache GM times.
  let lin = wid.y * nwg.x + wid.x;
  let span = GM * nwg.x;
  let grp = lin / span;
  let gm = min(GM, nwg.y - grp * GM);
  let r = lin - grp * span;
  let mt = grp * GM + r % gm;
  let nt = r / gm;

  let m0 = mt * 32u;
  let n0 = nt * 32u + 4u * q;
  // Flat operands: columns past M (N) are clamped to the last texel; they only feed outputs that are not stored.
  var ia = select(mt * p.K4 * 32u + q, p.offA + min(m0 / 4u + q, (p.M - 1u) / 4u), A_FLAT);
  var ib = select(nt * p.K4 * 32u + 4u * q, p.offB + min(n0 / 4u, (p.N - 1u) / 4u), B_FLAT);
  let da = select(32u, 0u, A_FLAT);
  let db = select(32u, 0u, B_FLAT);

  // one copy of the (large, unrolled) block body
  var acc = Acc();
  for (var k4 = 0u; k4 < p.K4; k4++) {
    acc = update(acc, load(ia, ib, k4));
    ia += da;
    ib += db;
  }

  // Epilogue in plain loops (not unrolled): it runs once, and unrolled code is slow to compile.
  if (n0 >= p.N) { return; }
  let ln = p.N - 1u;
  var bv = vec4f(0.0);
  if ((p.flags & 2u) != 0u) {
    let o = p.offBias;
    bv = vec4f(bias[o + min(n0, ln)], bias[o + min(n0 + 1u, ln)], bias[o + min(n0 + 2u, ln)], bias[o + min(n0 + 3u, ln)]);
  }
  let tiles = array<mat4x4f, 8>(acc.c0, acc.c1, acc.c2, acc.c3, acc.c4, acc.c5, acc.c6, acc.c7);
  let nrows = min(32u, p.M - m0);
  let ncols = min(4u, p.N - n0);
  let cbase = p.offC + m0 * p.ldc + n0;
  for (var i = 0u; i < nrows; i++) {
    let v = tiles[i / 4u][i % 4u] + bv;
    for (var j = 0u; j < ncols; j++) {
      let e = cbase + i * p.ldc + j;
      if ((p.flags & 1u) != 0u) { c[e] = c[e] + v[j]; } else { c[e] = v[j]; }
    }
  }
}
