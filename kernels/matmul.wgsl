// C[M,N] = op(A)·op(B) (+ bias[N]) (+ C), tuned for CPU adapters (lavapipe). Both operands come
// packed by matmul_pack.wgsl into 32-row panels (texel (t*K4 + k4)*32 + r = row 32t+r of op(A),
// or column 32t+r of op(B), at k = 4k4..4k4+3, zeros past the edges) and copied into rgba32float
// textures (Gpu.texels: texel i at (i % 2^TW_LOG2, i / 2^TW_LOG2)).
//
// What lavapipe (Mesa 25, LLVM) makes of this, and why it is written so:
// - A workgroup of 8 lanes is one CPU thread running 8-wide SIMD; there is no shared memory and
//   no barrier here (both are costly).
// - A storage-buffer load whose address is not a compile-time constant becomes a loop over the 8
//   lanes with a bounds check per float (~10 instructions a float). A storage-texture load is one
//   call that gathers the 8 lanes' texels with vector loads (~1.5 instructions a float), hence
//   the textures.
// - In panels, a k-block of a 32x32 tile is 32 consecutive texels of A and 32 of B. Read in
//   place, the operands' rows are up to 64 streams a page apart, which the TLB and the
//   prefetchers do not keep up with: packing (~2-3 ns a float) pays for itself from a few dozen
//   uses of each float, even for operands whose rows already run across k.
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

struct Params {
  M: u32, N: u32,
  K4: u32,                        // k-blocks of the panels: ceil(K / 4)
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
// One k-block: a0..a3 are rows 8j+lane of A at k..k+3, b0..b3 rows k..k+3 of B at this lane's 4 columns.
struct Block { a0: vec4f, a1: vec4f, a2: vec4f, a3: vec4f, b0: vec4f, b1: vec4f, b2: vec4f, b3: vec4f }

// ia, ib: this lane's first texel of the k-block in the panels of A and B
fn load(ia: u32, ib: u32) -> Block {
  var t: Block;
  t.a0 = texel(pa, ia); t.a1 = texel(pa, ia + 8u); t.a2 = texel(pa, ia + 16u); t.a3 = texel(pa, ia + 24u);
  let q0 = texel(pb, ib); let q1 = texel(pb, ib + 1u); let q2 = texel(pb, ib + 2u); let q3 = texel(pb, ib + 3u);
  t.b0 = vec4f(q0.x, q1.x, q2.x, q3.x);
  t.b1 = vec4f(q0.y, q1.y, q2.y, q3.y);
  t.b2 = vec4f(q0.z, q1.z, q2.z, q3.z);
  t.b3 = vec4f(q0.w, q1.w, q2.w, q3.w);
  return t;
}

fn pick(i: u32, v0: vec4f, v1: vec4f, v2: vec4f, v3: vec4f) -> vec4f {
  return select(select(v0, v1, i == 1u), select(v2, v3, i == 3u), i >= 2u);
}

// A at rows 4j..4j+3 of the block and k + kk: lanes 4(j%2)..4(j%2)+3 loaded them, in a[j/2].
fn rows(t: Block, j: u32, kk: u32) -> vec4f {
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

  // one copy of the (large, unrolled) block body
  var acc = Acc();
  var ia = mt * p.K4 * 32u + q;
  var ib = nt * p.K4 * 32u + 4u * q;
  for (var k4 = 0u; k4 < p.K4; k4++) {
    acc = update(acc, load(ia, ib));
    ia += 32u;
    ib += 32u;
  }

  // Epilogue in plain loops (not unrolled): it runs once, and unrolled code is slow to compile.
  let m0 = mt * 32u;
  let n0 = nt * 32u + 4u * q;
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
