// C[M,N] = op(A)·op(B) (+ bias[N]) (+ C), tuned for CPU adapters (lavapipe), vec4 operands.
// Needs A and B offsets, row strides and batch strides that are multiples of 4 floats, with
// zeros past K in rows that run along k (matmul.ts pads other operands via matmul_pad.wgsl).
//
// No shared memory, no barriers. Each group of 8 subgroup lanes computes a 32x32 block of C:
// a lane owns 4 columns and all 32 rows (8 mat4x4 accumulators, row r of a block = column r
// of its matrix). Per k-block of 4, every lane loads one vec4 of A for each of 4 row groups
// (or k rows when A is transposed) and subgroupShuffle hands the 32 rows to all 8 lanes, so
// each A value is loaded once per group; B is loaded per lane (4 vec4 per k-block). Loads
// cost far more than arithmetic on lavapipe, hence the large per-lane tile.
enable subgroups;

override WGX: u32 = 8;            // lanes per workgroup (multiple of 8); 4*WGX columns of C
override TRANS_A: bool = false;   // A stored [K,M] (else [M,K])
override TRANS_B: bool = false;   // B stored [N,K] (else [K,N])

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

struct Acc { c0: mat4x4f, c1: mat4x4f, c2: mat4x4f, c3: mat4x4f, c4: mat4x4f, c5: mat4x4f, c6: mat4x4f, c7: mat4x4f }
// One k-block: a0..a3 are this lane's A loads, b0..b3 its B rows for k = 4*k4 + 0..3.
struct Block { a0: vec4f, a1: vec4f, a2: vec4f, a3: vec4f, b0: vec4f, b1: vec4f, b2: vec4f, b3: vec4f }
// Per-lane vec4 indices of what the lane loads (the k-block's offset is added in load()).
struct Bases { a0: u32, a1: u32, a2: u32, a3: u32, b0: u32, b1: u32, b2: u32, b3: u32 }

fn pick(i: u32, v0: vec4f, v1: vec4f, v2: vec4f, v3: vec4f) -> vec4f {
  return select(select(v0, v1, i == 1u), select(v2, v3, i == 3u), i >= 2u);
}

// Loads k-block k4. Rows indexed by k (A transposed, B not) are clamped and zeroed past K; runs
// along k (A not transposed, B transposed) hold zeros there already.
fn load(s: Bases, k4: u32) -> Block {
  var t: Block;
  let k = 4u * k4;
  let kin = vec4u(k, k + 1u, k + 2u, k + 3u) < vec4u(p.K);
  let z = vec4f(0.0);
  if (TRANS_A) {
    // lane q loads rows k..k+3 of A (= k values), columns m0+4q..m0+4q+3
    let lda4 = p.lda / 4u;
    let km = p.K - 1u;
    t.a0 = a[s.a0 + min(k, km) * lda4];
    t.a1 = a[s.a0 + min(k + 1u, km) * lda4];
    t.a2 = a[s.a0 + min(k + 2u, km) * lda4];
    t.a3 = a[s.a0 + min(k + 3u, km) * lda4];
    t.a0 = select(z, t.a0, kin.x); t.a1 = select(z, t.a1, kin.y);
    t.a2 = select(z, t.a2, kin.z); t.a3 = select(z, t.a3, kin.w);
  } else {
    // lane q loads k..k+3 of rows m0+q, m0+8+q, m0+16+q, m0+24+q
    t.a0 = a[s.a0 + k4]; t.a1 = a[s.a1 + k4]; t.a2 = a[s.a2 + k4]; t.a3 = a[s.a3 + k4];
  }
  if (TRANS_B) {
    // column n0+j of op(B) is row n0+j of B: load k..k+3 of each, then transpose
    let q0 = b[s.b0 + k4]; let q1 = b[s.b1 + k4]; let q2 = b[s.b2 + k4]; let q3 = b[s.b3 + k4];
    t.b0 = vec4f(q0.x, q1.x, q2.x, q3.x);
    t.b1 = vec4f(q0.y, q1.y, q2.y, q3.y);
    t.b2 = vec4f(q0.z, q1.z, q2.z, q3.z);
    t.b3 = vec4f(q0.w, q1.w, q2.w, q3.w);
  } else {
    let ldb4 = p.ldb / 4u;
    let km = p.K - 1u;
    t.b0 = b[s.b0 + min(k, km) * ldb4];
    t.b1 = b[s.b0 + min(k + 1u, km) * ldb4];
    t.b2 = b[s.b0 + min(k + 2u, km) * ldb4];
    t.b3 = b[s.b0 + min(k + 3u, km) * ldb4];
    t.b0 = select(z, t.b0, kin.x); t.b1 = select(z, t.b1, kin.y);
    t.b2 = select(z, t.b2, kin.z); t.b3 = select(z, t.b3, kin.w);
  }
  return t;
}

// A values of rows 4j..4j+3 of the group's 32 rows at k = 4*k4 + kk, from lanes g..g+7.
fn rows(t: Block, j: u32, kk: u32, g: u32) -> vec4f {
  if (TRANS_A) {
    return subgroupShuffle(pick(kk, t.a0, t.a1, t.a2, t.a3), g + j);
  }
  let v = pick(j / 2u, t.a0, t.a1, t.a2, t.a3)[kk];
  let l = g + 4u * (j % 2u);
  return vec4f(subgroupShuffle(v, l), subgroupShuffle(v, l + 1u), subgroupShuffle(v, l + 2u), subgroupShuffle(v, l + 3u));
}

// acc row r += x[r] * bv: one k step of a 4x4 block.
fn outer(acc: mat4x4f, x: vec4f, bv: vec4f) -> mat4x4f {
  return mat4x4f(fma(vec4f(x.x), bv, acc[0]), fma(vec4f(x.y), bv, acc[1]), fma(vec4f(x.z), bv, acc[2]), fma(vec4f(x.w), bv, acc[3]));
}

// All 4 k steps of block j in a row (keeps one accumulator live at a time: fewer spills).
fn step(acc: mat4x4f, t: Block, j: u32, g: u32) -> mat4x4f {
  var r = outer(acc, rows(t, j, 0u, g), t.b0);
  r = outer(r, rows(t, j, 1u, g), t.b1);
  r = outer(r, rows(t, j, 2u, g), t.b2);
  return outer(r, rows(t, j, 3u, g), t.b3);
}

fn update(s: Acc, t: Block, g: u32) -> Acc {
  return Acc(step(s.c0, t, 0u, g), step(s.c1, t, 1u, g), step(s.c2, t, 2u, g), step(s.c3, t, 3u, g),
             step(s.c4, t, 4u, g), step(s.c5, t, 5u, g), step(s.c6, t, 6u, g), step(s.c7, t, 7u, g));
}

@compute @workgroup_size(WGX)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(subgroup_invocation_id) sl: u32) {
  let g = sl & ~7u;   // first lane of this lane's 8-lane group
  let q = sl & 7u;
  let m0 = wid.y * 32u;
  let n0 = (wid.x * WGX + lid.x) * 4u;
  let aoff = (p.offA + wid.z * p.strideA) / 4u;
  let boff = (p.offB + wid.z * p.strideB) / 4u;
  let lm = p.M - 1u;
  let ln = p.N - 1u;
  // Indices past M or N are clamped: they only feed rows/columns of C that are not stored.
  var s: Bases;
  if (TRANS_A) {
    s.a0 = aoff + min(m0 / 4u + q, lm / 4u);
  } else {
    let lda4 = p.lda / 4u;
    s.a0 = aoff + min(m0 + q, lm) * lda4;
    s.a1 = aoff + min(m0 + 8u + q, lm) * lda4;
    s.a2 = aoff + min(m0 + 16u + q, lm) * lda4;
    s.a3 = aoff + min(m0 + 24u + q, lm) * lda4;
  }
  if (TRANS_B) {
    let ldb4 = p.ldb / 4u;
    s.b0 = boff + min(n0, ln) * ldb4;
    s.b1 = boff + min(n0 + 1u, ln) * ldb4;
    s.b2 = boff + min(n0 + 2u, ln) * ldb4;
    s.b3 = boff + min(n0 + 3u, ln) * ldb4;
  } else {
    s.b0 = boff + min(n0 / 4u, ln / 4u);
  }

  // one copy of the (large, unrolled) block body: the k tail is masked in the last iteration
  var acc = Acc();
  let blocks = (p.K + 3u) / 4u;
  for (var k4 = 0u; k4 < blocks; k4++) {
    acc = update(acc, load(s, k4), g);
  }

  // Epilogue in plain loops (not unrolled): it runs once, and unrolled code is slow to compile.
  if (n0 >= p.N) { return; }
  var bv = vec4f(0.0);
  if ((p.flags & 2u) != 0u) {
    let o = p.offBias;
    bv = vec4f(bias[o + min(n0, ln)], bias[o + min(n0 + 1u, ln)], bias[o + min(n0 + 2u, ln)], bias[o + min(n0 + 3u, ln)]);
  }
  let tiles = array<mat4x4f, 8>(acc.c0, acc.c1, acc.c2, acc.c3, acc.c4, acc.c5, acc.c6, acc.c7);
  let nrows = min(32u, p.M - m0);
  let ncols = min(4u, p.N - n0);
  let cbase = p.offC + wid.z * p.strideC + m0 * p.ldc + n0;
  for (var r = 0u; r < nrows; r++) {
    let v = tiles[r / 4u][r % 4u] + bv;
    for (var j = 0u; j < ncols; j++) {
      let i = cbase + r * p.ldc + j;
      if ((p.flags & 1u) != 0u) { c[i] = c[i] + v[j]; } else { c[i] = v[j]; }
    }
  }
}
