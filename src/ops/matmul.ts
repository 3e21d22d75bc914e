// Matrix multiply with optional transposes, bias, accumulation and batching; its bias
// gradient; float64 CPU references. Two kernel families: on CPU adapters (lavapipe) a
// register-tiled subgroup kernel without shared memory that reads both operands from textures,
// packed into 32-row panels first (matmul_pack.wgsl + matmul.wgsl; matmul_portable.wgsl reads
// the buffers directly where subgroups of 8 are missing); on real GPUs a shared-memory tiled
// kernel (matmul_tiled.wgsl), which needs operands whose rows are 16-byte aligned: others are
// first copied into zero-padded aligned temporaries (cheap next to the multiply). Operands
// larger than gpu.bindingLimit are split into several dispatches over sub-ranges (256-byte
// aligned bindings, offsets in the uniforms).
import { f16Weights, kernel, TEXEL_ROW, type Binding, type Gpu, type Kernel, type Tensor, type Texels } from '../gpu/index.ts';
import { withF32 } from './widen.ts';
import { grid1d, MAX_GROUPS, pieces, rowsThatFit } from './fit.ts';
import panelCode from '../../kernels/matmul.wgsl';
import packCode from '../../kernels/matmul_pack.wgsl';
import portableCode from '../../kernels/matmul_portable.wgsl';
import padCode from '../../kernels/matmul_pad.wgsl';
import tiledCode from '../../kernels/matmul_tiled.wgsl';
import biasBwdCode from '../../kernels/matmul_bias_backward.wgsl';

const panelKernel = kernel('matmul', panelCode);
const packKernel = kernel('matmul_pack', packCode);
const packF16Kernel = f16Weights(packKernel);
const portableKernel = kernel('matmul_portable', portableCode);
const padKernel = kernel('matmul_pad', padCode);
const tiledKernel = kernel('matmul_tiled', tiledCode);
const biasBwdKernel = kernel('matmul_bias_backward', biasBwdCode);

/** Rows of C per workgroup and columns per lane (fixed by the kernels). */
const TILE_M = 32;
const COLS_PER_LANE = 4;
/** Lanes per workgroup along N. */
const WGX = 8;
const TILE_N = COLS_PER_LANE * WGX;
/** matmul.wgsl: rows (of op(A)) or columns (of op(B)) per packed panel = its 32x32 tile. */
const PANEL = 32;
/** matmul_pack.wgsl: k-blocks of 4 per workgroup. */
const PACK_KPW = 32;
/** matmul.wgsl: row blocks per swizzle group; 8 panels of a few hundred KB stay in a core's L2. */
const SWIZZLE_ROWS = 8;
/** Binding offsets are rounded down to this many floats (256 bytes: portable to every GPU). */
const ALIGN = 64;
const PAD_WG = 256;
/** matmul_tiled.wgsl: 16x16 invocations of 4 columns each (64 columns of C per workgroup) */
const TILED_WG = 16;

/** 'cpu': the lavapipe kernels (matmul_pack + matmul.wgsl, or matmul_portable.wgsl); 'tiled': the shared-memory kernel for real GPUs. */
export type MatmulVariant = 'cpu' | 'tiled';
/**
 * Overrides for tests and benchmarks. variant null: 'cpu' on CPU adapters, 'tiled' elsewhere.
 * tiledRows (rows of C per invocation, 4 or 8) and tiledBK (k per shared-memory step, a
 * multiple of 4, halved until the tiles fit the adapter's workgroup storage): 0 = automatic.
 */
export const matmulTuning: { variant: MatmulVariant | null; tiledRows: 0 | 4 | 8; tiledBK: number } = {
  variant: null, tiledRows: 0, tiledBK: 0,
};

export interface MatmulOptions { transA?: boolean; transB?: boolean; bias?: Tensor; accumulate?: boolean; batch?: number }

/** Whether matmul runs the CPU panel kernel (lavapipe: subgroups of 8), which reads f16 operands as they are. */
export function matmulPanels(gpu: Gpu): boolean {
  // the panel kernel shares A rows within groups of 8 subgroup lanes
  return variantOf(gpu) === 'cpu' && gpu.features.has('subgroups') && gpu.hasSubgroups8;
}
const variantOf = (gpu: Gpu): MatmulVariant => matmulTuning.variant ?? (gpu.isCpu ? 'cpu' : 'tiled');

/**
 * use(w) with w as the matmuls take it best: an f16 w as it is where matmul reads f16, else widened
 * once for all of use's matmuls (rather than once per matmul).
 */
export function asMatmulOperand(w: Tensor, use: (w: Tensor) => void): void {
  if (w.dtype === 'f16' && !matmulPanels(w.gpu)) withF32(w, use);
  else use(w);
}

/**
 * out[M,N] = (accumulate ? out : 0) + op(A)[M,K] · op(B)[K,N] (+ bias[N] broadcast over rows)
 * A is stored [M,K] row-major, or [K,M] if transA; B is stored [K,N], or [N,K] if transB; out is [M,N].
 * batch (default 1): A, B, out hold `batch` consecutive matrices each (strides M*K, K*N, M*N); bias shared.
 * A or B may be f16 (weights kept in f16, never trained): read as they are by the CPU panel path, widened into an f32 temporary elsewhere.
 */
export function matmul(a: Tensor, b: Tensor, out: Tensor, M: number, N: number, K: number, opts: MatmulOptions = {}): void {
  const { transA = false, transB = false, bias, accumulate = false, batch = 1 } = opts;
  const what = `matmul(M=${M}, N=${N}, K=${K}${transA ? ', transA' : ''}${transB ? ', transB' : ''}${batch > 1 ? `, batch=${batch}` : ''})`;
  for (const [name, v] of [['M', M], ['N', N], ['K', K], ['batch', batch]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${what}: ${name} must be a positive integer`);
  }
  const need = (t: Tensor, n: number, name: string) => {
    if (t.size < n) throw new Error(`${what}: ${name} '${t.label}' has ${t.size} elements, needs ${n}`);
  };
  need(a, batch * M * K, 'A');
  need(b, batch * K * N, 'B');
  need(out, batch * M * N, 'out');
  if (bias) need(bias, N, 'bias');
  // WebGPU forbids a buffer bound writable and read in the same dispatch, whatever the ranges
  if ([a, b, bias].some((t) => t?.buffer === out.buffer)) {
    throw new Error(`${what}: out '${out.label}' shares a GPU buffer with an input; use separate tensors`);
  }

  if (out.dtype !== 'f32' || (bias && bias.dtype !== 'f32')) throw new Error(`${what}: out and bias must be f32`);
  const gpu = a.gpu;
  const panels = matmulPanels(gpu);
  const tiled = variantOf(gpu) === 'tiled';
  // f16 operands (weights): the panel path packs them into its f32 panels as they are read;
  // the other kernels read f32, so an f16 operand is widened into a temporary first
  if (a.dtype === 'f16' && !panels) return withF32(a, (a32) => matmul(a32, b, out, M, N, K, opts));
  if (b.dtype === 'f16' && !panels) return withF32(b, (b32) => matmul(a, b32, out, M, N, K, opts));
  const limit = rangeLimit(gpu);
  // stored A is `batch` matrices of rowsA x colsA, B of rowsB x colsB
  const [rowsA, colsA] = transA ? [K, M] : [M, K];
  const [rowsB, colsB] = transB ? [N, K] : [K, N];
  const temps: Tensor[] = [];
  const operand = (t: Tensor, rows: number, cols: number, name: string): [Tensor, number] => {
    if (!tiled || (t.offset % 4 === 0 && cols % 4 === 0)) return [t, cols];
    const p = padded(gpu, t, batch * rows, cols, limit, `${what} ${name}`);
    temps.push(p);
    return [p, p.shape[1]];
  };
  const [A, lda] = operand(a, rowsA, colsA, 'A');
  const [B, ldb] = operand(b, rowsB, colsB, 'B');
  const k = tiled ? tiledChoice(gpu, M, N, batch, transA, transB, what) : panels ? panelChoice : cpuChoice(portableKernel, transA, transB);
  const s: Shape = { M, N, K, transA, transB, lda, ldb, strideA: rowsA * lda, strideB: rowsB * ldb, k };
  if (batch > 1 && !panels && fits(s, M, N, K, batch, limit)) {
    record(gpu, A, B, out, bias, s, { m0: 0, n0: 0, k0: 0, mc: M, nc: N, kc: K }, 0, batch, accumulate);
  } else {
    const chunks = plan(s, limit, what);
    for (let z = 0; z < batch; z++) {
      const packs = new PackCache();
      for (const c of chunks) {
        const biasC = c.k0 === 0 ? bias : undefined, acc = accumulate || c.k0 > 0;
        if (panels) recordPanels(gpu, a, b, out, biasC, s, c, z, acc, packs);
        else record(gpu, A, B, out, biasC, s, c, z, 1, acc);
      }
      packs.release(gpu);
    }
  }
  for (const t of temps) t.release();
}

/** matmul.wgsl's tile (its shape and grid are fixed by the kernel). */
const panelChoice: KernelChoice = { kernel: panelKernel, constants: { TW_LOG2: Math.log2(TEXEL_ROW), GM: SWIZZLE_ROWS }, tileM: PANEL, tileN: PANEL };

/** Floats of the panels of `rows` rows (or columns) over `kc` k values. */
const panelFloats = (rows: number, kc: number) => Math.ceil(rows / PANEL) * PANEL * Math.ceil(kc / 4) * 4;

/** Packed operands of the current batch matrix, by the rows and k range they cover: A's serve every column chunk. */
class PackCache {
  private map = new Map<string, Texels>();
  get(key: string, make: () => Texels): Texels {
    let t = this.map.get(key);
    if (!t) this.map.set(key, (t = make()));
    return t;
  }
  release(gpu: Gpu): void {
    for (const t of this.map.values()) gpu.releaseTexels(t);
    this.map.clear();
  }
}

/**
 * op(X) rows r0..r0+rc (of rows stored along k unless `trans`), k values k0..k0+kc, packed into
 * panels (matmul_pack.wgsl) and copied into a texture for matmul.wgsl.
 * X's element (row, k) is at start + row*ld + k, or start + k*ld + row when trans.
 */
function pack(gpu: Gpu, x: Tensor, start: number, ld: number, trans: boolean, rc: number, kc: number, what: string): Texels {
  const floats = panelFloats(rc, kc);
  const tmp = gpu.tensor([floats], `${what} (panels)`);
  packTo(gpu, x, start, ld, trans, rc, kc, tmp);
  const tex = gpu.texels(floats / 4, `${what} (panels)`);
  gpu.copyToTexels(tmp, 0, floats / 4, tex);
  tmp.release();
  return tex;
}

/** The panels of pack() written into `out` (a tensor or a view of at least panelFloats(rc, kc) floats) */
function packTo(gpu: Gpu, x: Tensor, start: number, ld: number, trans: boolean, rc: number, kc: number, out: Tensor): void {
  const span = trans ? (kc - 1) * ld + rc : (rc - 1) * ld + kc;
  const src = range(x, start, span);
  const f16 = x.dtype === 'f16';
  const K4 = Math.ceil(kc / 4);
  const shift = (x.offset + start) % 4 !== 0 || ld % 4 !== 0; // rows that do not start on a vec4
  gpu.dispatch(f16 ? packF16Kernel : packKernel, {
    bindings: [src.binding, out],
    params: { rows: rc, K: kc, ld, off: src.rel, K4 },
    // a transposed X: a workgroup per panel (4 rows a lane), else 4 (a row a lane)
    workgroups: [(trans ? 1 : 4) * Math.ceil(K4 / PACK_KPW), Math.ceil(rc / PANEL)],
    constants: { TRANS: +trans, SHIFT: +shift, KPW: PACK_KPW },
  });
}

/** What a weight's kept copy holds (Gpu.keep): its panels as rows [R, K] (trans: of w stored [K, R]) */
const panelsKey = (R: number, K: number, trans: boolean) => `panels ${R}x${K}${trans ? ' of columns' : ''}`;

/**
 * w packed by packWeight and kept with it (Gpu.keep) while it is current: packed again when w
 * has been written since, returned to the pool when w is released. Decode reads these
 * (matvec_panels); a matmul with all of such a weight as B reuses a current one instead of
 * packing it again (prefill after decode). Null where w cannot be packed whole.
 */
export function keptPanels(w: Tensor, R: number, K: number, trans: boolean): Texels | null {
  if (w.isReleased) throw new Error(`tensor '${w.label}' used after release`);
  const key = panelsKey(R, K, trans);
  const hit = w.gpu.kept(w, key);
  if (hit !== undefined) return hit;
  w.gpu.dropKept(w); // first, so the new copy may take the old one's texture from the pool
  const tex = packWeight(w, R, K, trans);
  w.gpu.keep(w, key, tex);
  return tex;
}

/** w's kept copy if it is current and of this shape; never packs (a trained weight changes every step) */
function currentPanels(w: Tensor, R: number, K: number, trans: boolean): Texels | null {
  return w.isReleased ? null : (w.gpu.kept(w, panelsKey(R, K, trans)) ?? null);
}

/**
 * A weight w packed whole into panels in a texture of its own, as matmul packs op(B) (panel
 * rows = w's rows along k, [R, K]; with `trans`, w's columns: w stored [K, R]), for kernels that
 * read the same weight many times (matvec_panels.wgsl). In row chunks that fit one binding;
 * null when it cannot be: a texture too large for the adapter, or (trans) w over one binding.
 */
function packWeight(w: Tensor, R: number, K: number, trans: boolean): Texels | null {
  const gpu = w.gpu, eb = w.elementBytes;
  const perPanel = panelFloats(PANEL, K), floats = panelFloats(R, K);
  const rows = Math.ceil(floats / 4 / TEXEL_ROW);
  if (rows > gpu.limits.maxTextureDimension2D) return null;
  const slack = (ALIGN * 4) / eb + 8; // range() binds from 256 bytes before a start and a vec4 past the end
  if (trans && (R * K + slack) * eb > gpu.bindingLimit) return null; // every column spans all of w
  // panels per chunk: its packed floats and (rows along k) its span of w fit one binding
  const panels = Math.floor(Math.min(gpu.bindingLimit / 4 / perPanel, trans ? Infinity : (gpu.bindingLimit / eb - slack) / (PANEL * K)));
  if (panels < 1) return null;
  const tex = gpu.texels(floats / 4, `${w.label} (packed)`, true);
  // All chunks into one buffer of the texture's size, copied in once: a first write that covers
  // only part of a texture makes Dawn clear all of it first (lavapipe: 1.8x the time, measured).
  // A texture larger than a buffer may be takes one copy per chunk. The staging goes to the
  // pool, for the next weight of the same shape (GPT2BatchGenerator trims it after packing all).
  const whole = gpu.bufferFits(rows * TEXEL_ROW * 16);
  const all = whole ? gpu.tensor([rows * TEXEL_ROW * 4], `${w.label} (panels)`) : null;
  if (all && all.size > floats) gpu.fill0(all.view(floats, [all.size - floats]));
  for (let r0 = 0; r0 < R; r0 += panels * PANEL) {
    const rc = Math.min(panels * PANEL, R - r0), at = (r0 / PANEL) * perPanel;
    const out = all ? all.view(at, [panelFloats(rc, K)]) : gpu.tensor([panelFloats(rc, K)], `${w.label} (panels)`);
    packTo(gpu, w, trans ? r0 : r0 * K, trans ? R : K, trans, rc, K, out);
    if (!all) {
      gpu.copyToTexels(out, 0, out.size / 4, tex, at / 4);
      out.release();
    }
  }
  if (all) {
    gpu.copyToTexels(all, 0, all.size / 4, tex);
    all.release();
  }
  return tex;
}

function recordPanels(
  gpu: Gpu, a: Tensor, b: Tensor, out: Tensor, bias: Tensor | undefined,
  s: Shape, c: Chunk, z: number, accumulate: boolean, packs: PackCache,
): void {
  const aStart = z * s.strideA + (s.transA ? c.k0 * s.lda + c.m0 : c.m0 * s.lda + c.k0);
  const bStart = z * s.strideB + (s.transB ? c.n0 * s.ldb + c.k0 : c.k0 * s.ldb + c.n0);
  // op(B)'s columns are the rows of the stored B when it is transposed (then they run along k)
  const pa = packs.get(`a ${c.m0} ${c.k0}`, () => pack(gpu, a, aStart, s.lda, s.transA, c.mc, c.kc, 'A'));
  // all of a stored B [K, N] (or [N, K]) that decode keeps packed: that copy (same panels)
  const whole = bStart === 0 && c.nc === s.N && c.kc === s.K && s.ldb === (s.transB ? s.K : s.N);
  const pb = (whole && currentPanels(b, s.N, s.K, !s.transB)) ||
    packs.get(`b ${c.n0} ${c.k0}`, () => pack(gpu, b, bStart, s.ldb, !s.transB, c.nc, c.kc, 'B'));
  const cStart = z * s.M * s.N + c.m0 * s.N + c.n0;
  const rc = range(out, cStart, (c.mc - 1) * s.N + c.nc);
  const rbias = range(bias ?? a, bias ? c.n0 : aStart, bias ? c.nc : 1); // A: an unused read-only binding when there is no bias
  gpu.dispatch(panelKernel, {
    bindings: [pa, pb, rbias.binding, rc.binding],
    params: { M: c.mc, N: c.nc, K4: Math.ceil(c.kc / 4), ldc: s.N, offC: rc.rel, offBias: rbias.rel, flags: (accumulate ? 1 : 0) | (bias ? 2 : 0) },
    workgroups: [Math.ceil(c.nc / PANEL), Math.ceil(c.mc / PANEL)],
    constants: panelChoice.constants,
  });
}

/**
 * matmul_tiled.wgsl's tiles: 64 columns by 64 or 128 rows, k-steps of 16 (fewer if the tiles
 * do not fit the workgroup storage). 128 rows (more arithmetic per shared load) only where
 * the rows waste little and the grid still has enough workgroups to fill a large GPU: a
 * guess, not measured on one.
 */
function tiledChoice(gpu: Gpu, M: number, N: number, batch: number, transA: boolean, transB: boolean, what: string): KernelChoice {
  const bn = 4 * TILED_WG;
  const tm = matmulTuning.tiledRows || (M >= 512 && Math.ceil(M / 128) * Math.ceil(N / bn) * batch >= 256 ? 8 : 4);
  const bm = tm * TILED_WG;
  const bytes = (bk: number) => (bm + bn) * bk * 4;
  let bk = matmulTuning.tiledBK || 16;
  while (bk > 4 && bytes(bk) > gpu.limits.maxComputeWorkgroupStorageSize) bk /= 2;
  if (bk % 4 !== 0 || bytes(bk) > gpu.limits.maxComputeWorkgroupStorageSize) {
    throw new Error(`${what}: no k-step for ${bm}x${bn} tiles fits ${gpu.limits.maxComputeWorkgroupStorageSize} bytes of workgroup storage`);
  }
  const constants = { WGX: TILED_WG, WGY: TILED_WG, TM: tm, BK: bk, TRANS_A: +transA, TRANS_B: +transB };
  return { kernel: tiledKernel, constants, tileM: bm, tileN: bn };
}

/** matmul_portable.wgsl: 32 x TILE_N blocks of C. */
function cpuChoice(kernel: Kernel, transA: boolean, transB: boolean): KernelChoice {
  return { kernel, constants: { WGX, TRANS_A: +transA, TRANS_B: +transB }, tileM: TILE_M, tileN: TILE_N };
}

/** A zero-padded copy of a rows x cols matrix (row stride cols) with a row stride that is a multiple of 4. */
function padded(gpu: Gpu, t: Tensor, rows: number, cols: number, limit: number, what: string): Tensor {
  const ld = Math.ceil(cols / 4) * 4;
  const out = gpu.tensor([rows, ld], `${t.label} (padded)`);
  const per = Math.min(MAX_GROUPS, rowsThatFit(limit, ld), rowsThatFit(limit, cols));
  if (per < 1) throw new Error(`${what}: a row of ${cols} floats does not fit one binding`);
  for (const [r0, rc] of pieces(rows, per)) {
    const src = range(t, r0 * cols, (rc - 1) * cols + cols), dst = range(out, r0 * ld, rc * ld);
    gpu.dispatch(padKernel, {
      bindings: [src.binding, dst.binding],
      params: { rows: rc, cols, lds: cols, ldd: ld, offS: src.rel, offD: dst.rel },
      workgroups: [Math.ceil(ld / PAD_WG), rc],
      constants: { WG: PAD_WG },
    });
  }
  return out;
}

/** The kernel a multiply uses, its override constants and the block of C per workgroup. */
interface KernelChoice { kernel: Kernel; constants: Record<string, number>; tileM: number; tileN: number }
interface Shape {
  M: number; N: number; K: number; transA: boolean; transB: boolean;
  /** row strides of the stored A and B (>= their logical widths when padded), batch strides */
  lda: number; ldb: number; strideA: number; strideB: number;
  k: KernelChoice;
}
interface Chunk { m0: number; n0: number; k0: number; mc: number; nc: number; kc: number }

/** Floats spanned (first to last) by each operand of an mc x nc x kc piece, over `batch` matrices. */
function spans(s: Shape, mc: number, nc: number, kc: number, batch: number): [number, number, number] {
  const sa = s.transA ? (kc - 1) * s.lda + mc : (mc - 1) * s.lda + kc;
  const sb = s.transB ? (nc - 1) * s.ldb + kc : (kc - 1) * s.ldb + nc;
  const sc = (mc - 1) * s.N + nc;
  return [(batch - 1) * s.strideA + sa, (batch - 1) * s.strideB + sb, (batch - 1) * s.M * s.N + sc];
}

function fits(s: Shape, mc: number, nc: number, kc: number, batch: number, limit: number): boolean {
  // the panel path also binds each operand's packed copy (rows rounded up to panels, k to 4)
  const packed = s.k !== panelChoice || (panelFloats(mc, kc) <= limit && panelFloats(nc, kc) <= limit);
  return packed && spans(s, mc, nc, kc, batch).every((v) => v <= limit) &&
    Math.ceil(mc / TILE_M) <= MAX_GROUPS && Math.ceil(nc / TILE_N) <= MAX_GROUPS && batch <= MAX_GROUPS;
}

/**
 * Chunk sizes that make every binding fit: an operand that is too large gets its outer
 * (row) dimension cut, or its inner one when a single row is too long. K pieces are
 * accumulated in order, so the result stays deterministic.
 */
function plan(s: Shape, limit: number, what: string): Chunk[] {
  let mc = Math.min(s.M, MAX_GROUPS * TILE_M), nc = Math.min(s.N, MAX_GROUPS * TILE_N), kc = s.K;
  const roundDown = (v: number, step: number) => (v >= step ? v - (v % step) : v);
  // an operand spans (outer-1)*ld + inner floats: cut inner only if one row is too long, then outer
  const shrink = (outer: number, inner: number, ld: number, outerStep: number, innerStep: number): [number, number] => {
    const inn = inner > limit ? roundDown(limit, innerStep) : inner;
    return [Math.min(outer, roundDown(rowsThatFit(limit, ld, inn), outerStep)), inn];
  };
  for (let iter = 0; iter < 4 && !fits(s, mc, nc, kc, 1, limit); iter++) {
    const [sa, sb, sc] = spans(s, mc, nc, kc, 1);
    if (sa > limit) {
      if (s.transA) [kc, mc] = shrink(kc, mc, s.lda, 4, TILE_M);
      else [mc, kc] = shrink(mc, kc, s.lda, TILE_M, 4);
    }
    if (sb > limit) {
      if (s.transB) [nc, kc] = shrink(nc, kc, s.ldb, TILE_N, 4);
      else [kc, nc] = shrink(kc, nc, s.ldb, 4, TILE_N);
    }
    if (sc > limit) [mc, nc] = shrink(mc, nc, s.N, TILE_M, TILE_N);
    // the packed copies: whole panels of rows (columns), ceil(kc/4)*4 floats each; k is cut when not even one fits
    if (s.k === panelChoice && (panelFloats(mc, kc) > limit || panelFloats(nc, kc) > limit)) {
      const rows = Math.floor(limit / (Math.ceil(kc / 4) * 4) / PANEL) * PANEL;
      if (rows < PANEL) kc = Math.floor(limit / PANEL / 4) * 4;
      else {
        if (panelFloats(mc, kc) > limit) mc = rows;
        if (panelFloats(nc, kc) > limit) nc = rows;
      }
    }
  }
  if (!(mc >= 1 && nc >= 1 && kc >= 1) || !fits(s, mc, nc, kc, 1, limit)) {
    throw new Error(`${what}: cannot split the operands into bindings of at most ${limit * 4} bytes`);
  }
  const out: Chunk[] = [];
  for (const [m0, mcut] of pieces(s.M, mc)) {
    for (const [n0, ncut] of pieces(s.N, nc)) {
      for (const [k0, kcut] of pieces(s.K, kc)) out.push({ m0, n0, k0, mc: mcut, nc: ncut, kc: kcut });
    }
  }
  return out;
}

/** Elements one operand range may span (counted as floats: f16 ranges bind half the bytes): the binding limit less room for range()'s slack. */
const rangeLimit = (gpu: Gpu) => Math.floor(gpu.bindingLimit / 4) - ALIGN - 8;

/**
 * A binding of elements [start, start+count) of `t` (f32, or f16), its offset rounded down to 256 bytes; `rel` is
 * start inside it (in elements). The end is rounded up to whole vec4s plus one more, but never past the buffer.
 */
function range(t: Tensor, start: number, count: number): { binding: Binding; rel: number } {
  if (t.isReleased) throw new Error(`matmul: tensor '${t.label}' used after release`);
  const eb = t.elementBytes, align = (ALIGN * 4) / eb; // elements per 256 bytes
  const abs = t.offset + start;
  const base = abs - (abs % align);
  // one vec4 (4 elements) past the last: the pack's SHIFT reads it (for masked lanes only)
  const end = Math.min(Math.ceil((abs + count) / 4) * 4 + 4, t.bufferElements);
  return { binding: t.bufferRange(base, end), rel: abs - base };
}

function record(
  gpu: Gpu, a: Tensor, b: Tensor, out: Tensor, bias: Tensor | undefined,
  s: Shape, c: Chunk, z: number, batch: number, accumulate: boolean,
): void {
  const [sa, sb, sc] = spans(s, c.mc, c.nc, c.kc, batch);
  const aStart = z * s.strideA + (s.transA ? c.k0 * s.lda + c.m0 : c.m0 * s.lda + c.k0);
  const bStart = z * s.strideB + (s.transB ? c.n0 * s.ldb + c.k0 : c.k0 * s.ldb + c.n0);
  const cStart = z * s.M * s.N + c.m0 * s.N + c.n0;
  const ra = range(a, aStart, sa), rb = range(b, bStart, sb), rc = range(out, cStart, sc);
  const rbias = bias ? range(bias, c.n0, c.nc) : rb; // unused binding when there is no bias
  const strideA = batch > 1 ? s.strideA : 0, strideB = batch > 1 ? s.strideB : 0;
  // The vec4 kernels need 16-byte aligned rows (operands are padded so) and chunk edges on
  // multiples of 4; only tiny binding limits (tests) make chunks that are not.
  const aligned = [ra.rel, s.lda, strideA, rb.rel, s.ldb, strideB].every((v) => v % 4 === 0);
  const k = aligned ? s.k : cpuChoice(portableKernel, s.transA, s.transB);
  gpu.dispatch(k.kernel, {
    bindings: [ra.binding, rb.binding, rbias.binding, rc.binding],
    params: {
      M: c.mc, N: c.nc, K: c.kc, lda: s.lda, ldb: s.ldb, ldc: s.N, offA: ra.rel, offB: rb.rel, offC: rc.rel,
      strideA, strideB, strideC: batch > 1 ? s.M * s.N : 0, offBias: rbias.rel, flags: (accumulate ? 1 : 0) | (bias ? 2 : 0),
    },
    workgroups: [Math.ceil(c.nc / k.tileN), Math.ceil(c.mc / k.tileM), batch],
    constants: k.constants,
  });
}

const BIAS_WG = 16; // small workgroups: N/64 of them, enough to keep every CPU thread busy

/** dbias[N] += sum over the M rows of dout[M,N] (deterministic, no atomics) */
export function matmulBiasBackward(dout: Tensor, dbias: Tensor, M: number, N: number): void {
  if (dout.size < M * N || dbias.size < N) {
    throw new Error(`matmulBiasBackward(M=${M}, N=${N}): dout has ${dout.size} elements, dbias ${dbias.size}`);
  }
  if (dout.buffer === dbias.buffer) throw new Error(`matmulBiasBackward: dbias '${dbias.label}' shares a GPU buffer with dout`);
  const gpu = dout.gpu;
  const limit = rangeLimit(gpu);
  const rows = rowsThatFit(limit, N); // rows of dout per dispatch, summed into dbias in order
  if (rows < 1) throw new Error(`matmulBiasBackward(M=${M}, N=${N}): a row of dout is larger than the binding limit`);
  const rbias = range(dbias, 0, N);
  for (const [m0, mc] of pieces(M, rows)) {
    const rd = range(dout, m0 * N, mc * N);
    gpu.dispatch(biasBwdKernel, {
      bindings: [rd.binding, rbias.binding],
      params: { M: mc, N, offD: rd.rel, offB: rbias.rel },
      workgroups: grid1d(Math.ceil(N / 4), BIAS_WG),
      constants: { WG: BIAS_WG },
    });
  }
}

// ---- CPU reference (float64) ----

export function matmulCpu(
  a: ArrayLike<number>, b: ArrayLike<number>, M: number, N: number, K: number,
  opts: { transA?: boolean; transB?: boolean; bias?: ArrayLike<number>; batch?: number } = {},
): Float64Array {
  const { transA = false, transB = false, bias, batch = 1 } = opts;
  const out = new Float64Array(batch * M * N);
  for (let z = 0; z < batch; z++) {
    const ao = z * M * K, bo = z * K * N, co = z * M * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = transA ? a[ao + k * M + m] : a[ao + m * K + k];
          const bv = transB ? b[bo + n * K + k] : b[bo + k * N + n];
          s += av * bv;
        }
        out[co + m * N + n] = s + (bias ? bias[n] : 0);
      }
    }
  }
  return out;
}

export function biasBackwardCpu(dout: ArrayLike<number>, M: number, N: number): Float64Array {
  const db = new Float64Array(N);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) db[n] += dout[m * N + n];
  return db;
}
