// Decode-time products for a few rows (the current token of each sequence of a batch): the
// training matmul works on 32-row tiles, so with 1..8 rows it would do up to 32x the
// arithmetic; these kernels read each weight once for all the rows of a dispatch instead.
// More rows than a dispatch takes go in groups that each read the weights again (past a
// handful of rows matmul wins).
// Three kernel families: the plain ones run anywhere; the *_sg ones (subgroups of >= 8) share
// the loads of x across a subgroup, which is what makes several rows cheap on CPU adapters;
// on a CPU adapter with subgroups of 8 (lavapipe) each weight is packed once, the first time a
// product reads it (and again after anything writes it), into matmul's 32-row panels in an
// f32 texture, and matvec_panels.wgsl reads that copy: 2-3x faster than matvec_sg with 1 to 8
// rows (measured), for the copy's memory (the f32 size of the matrices, kept with the weight
// until it is released: Gpu.keep).
// W may be f16 (inference weights): the plain and _sg kernels (their f16Weights variants) read
// 4 halves per u32 pair and widen each load to f32, so arithmetic and accumulation stay f32 and
// W costs half the bytes; the panel copy of an f16 weight is f32 (the pack widens it exactly).
// x, bias and out are always f32.
import { f16Weights, kernel, TEXEL_ROW, type Gpu, type Kernel, type Tensor, type Texels } from '../gpu/index.ts';
import { alignedRows, grid1d, rowChunks } from './fit.ts';
import { keptPanels } from './matmul.ts';
import mvPanelsCode from '../../kernels/matvec_panels.wgsl';
import mvCode from '../../kernels/matvec.wgsl';
import mvSgCode from '../../kernels/matvec_sg.wgsl';
import mvtCode from '../../kernels/matvec_t.wgsl';
import mvtSgCode from '../../kernels/matvec_t_sg.wgsl';

const mv = kernel('matvec', mvCode);
const mvSg = kernel('matvec_sg', mvSgCode);
const mvt = kernel('matvec_t', mvtCode);
const mvtSg = kernel('matvec_t_sg', mvtSgCode);
const mvPanels = kernel('matvec_panels', mvPanelsCode);
const half = new Map<Kernel, Kernel>([mv, mvSg, mvt, mvtSg].map((k) => [k, f16Weights(k)]));
/** k, or its f16-weight variant when w is f16 */
function forWeights(k: Kernel, w: Tensor, what: string): Kernel {
  if (w.dtype === 'f32') return k;
  if (w.dtype !== 'f16') throw new Error(`${what}: w '${w.label}' is ${w.dtype}, not f32 or f16`);
  return half.get(k)!;
}

/** Kernel choice; tests turn these off to cover the other kernels on adapters that have subgroups. */
export const matvecOptions = { subgroups: true, panels: true };
const useSg = (gpu: Gpu) => matvecOptions.subgroups && gpu.hasSubgroups8;
/** Whether matvec and matvecT read packed copies of the weights (matvec_panels) on this adapter */
export const matvecPanelCopies = (gpu: Gpu): boolean => matvecOptions.panels && useSg(gpu) && gpu.isCpu;
const WG = 64;
/** rows of x per dispatch at most (the kernels' MAXROWS) */
export const MATVEC_ROWS = 8;
/**
 * matvec_sg on a CPU adapter: 4 rows per dispatch. Its accumulators and x values for 8 rows
 * overflow a CPU's 16 vector registers, and two dispatches of 4 rows decode 8 sequences
 * faster than one of 8 (measured on lavapipe: whole decode step of GPT-2 124M, B=8).
 */
const CPU_SG_ROWS = 4;

/** Whether matvec/matvecT handle these sizes (vec4 loads need multiples of 4). */
export const matvecFits = (K: number, N: number) => K % 4 === 0 && N % 4 === 0;

/** [first row, rows] groups of at most `per` rows, as even as possible */
function rowGroups(M: number, per = MATVEC_ROWS): [number, number][] {
  const n = Math.ceil(M / per), out: [number, number][] = [];
  for (let g = 0, m0 = 0; g < n; g++) {
    const rows = Math.floor(M / n) + (g < M % n ? 1 : 0);
    out.push([m0, rows]);
    m0 += rows;
  }
  return out;
}

function check(what: string, M: number, t: Tensor, n: number, name: string): void {
  if (!(Number.isInteger(M) && M >= 1)) throw new Error(`${what}: M=${M} must be a positive integer`);
  if (t.dtype !== 'f32') throw new Error(`${what}: ${name} '${t.label}' must be f32, is ${t.dtype}`);
  if (t.size < n) throw new Error(`${what}: ${name} '${t.label}' has ${t.size} elements, needs ${n}`);
  if (t.bytes > t.gpu.bindingLimit) throw new Error(`${what}: ${name} '${t.label}' exceeds the binding limit (use matmul for this many rows)`);
}

/** w packed for matvec_panels (kept, and made again after w is written), or null where that kernel does not apply */
function panelsOf(w: Tensor, R: number, K: number, trans: boolean): Texels | null {
  return matvecPanelCopies(w.gpu) ? keptPanels(w, R, K, trans) : null;
}

/** Make the copies matvec(·, w, ·, ·, K, N) and matvecT(·, w, ·, ·, R, K) read, ahead of the first product (no work where there are none). */
export const prepareMatvec = (w: Tensor, K: number, N: number): void => void panelsOf(w, N, K, true);
export const prepareMatvecT = (w: Tensor, R: number, K: number): void => void panelsOf(w, R, K, false);

/** out[M, C] (row stride ldo) = x[M, K] · P[C, K]ᵀ (+ bias) from a packed weight */
function panelProduct(x: Tensor, tex: Texels, out: Tensor, M: number, K: number, C: number, ldo: number, bias?: Tensor): void {
  for (const [m0, rows] of rowGroups(M)) {
    x.gpu.dispatch(mvPanels, {
      params: { K4: K / 4, C, ldo, m0, flags: bias ? 1 : 0 },
      bindings: [x, tex, bias ?? x, out],
      workgroups: grid1d(Math.ceil(C / 4), WG),
      constants: { WG, ROWS: rows, TW_LOG2: Math.log2(TEXEL_ROW) },
    });
  }
}

/** out[M,N] = x[M,K] · w[K,N] (+ bias[N]); w larger than one binding goes in row chunks that accumulate */
export function matvec(x: Tensor, w: Tensor, out: Tensor, M: number, K: number, N: number, bias?: Tensor): void {
  const what = `matvec(M=${M}, K=${K}, N=${N})`;
  if (!matvecFits(K, N)) throw new Error(`${what}: K and N must be multiples of 4`);
  check(what, M, x, M * K, 'x');
  check(what, M, out, M * N, 'out');
  const tex = panelsOf(w, N, K, true);
  if (tex) return panelProduct(x, tex, out, M, K, N, N, bias);
  const gpu = x.gpu, eb = w.elementBytes;
  const [kPlain, kSg] = [forWeights(mv, w, what), forWeights(mvSg, w, what)];
  // chunks of W's rows start on whole vec4s of x and on aligned offsets of W (alignedRows is a power of two)
  const chunks = rowChunks(K, N, gpu.bindingLimit, Math.max(4, alignedRows(N * eb, gpu.limits.minStorageBufferOffsetAlignment)), what, eb);
  for (const [m0, rows] of rowGroups(M, useSg(gpu) && gpu.isCpu ? CPU_SG_ROWS : MATVEC_ROWS)) {
    // one row: the plain kernel streams W at least as fast (measured in the whole decode step)
    const sg = useSg(gpu) && rows > 1;
    chunks.forEach(([k0, kc], i) => {
      const params = { K4: kc / 4, N4: N / 4, ldx4: K / 4, x0: k0 / 4, m0, flags: (i === 0 && bias ? 1 : 0) | (i > 0 ? 2 : 0) };
      gpu.dispatch(sg ? kSg : kPlain, {
        params: sg ? { ...params, M: rows } : params,
        bindings: [x, chunks.length === 1 ? w : w.view(k0 * N, [kc, N]), bias ?? x, out],
        workgroups: grid1d(N / 4, WG),
        constants: { WG, ROWS: sg ? Math.max(3, rows) : rows },
      });
    });
  }
}

/** out[M,R] = x[M,K] · w[R,K]ᵀ; w may exceed the binding limit (split into row chunks) */
export function matvecT(x: Tensor, w: Tensor, out: Tensor, M: number, R: number, K: number): void {
  const what = `matvecT(M=${M}, R=${R}, K=${K})`;
  if (K % 4) throw new Error(`${what}: K must be a multiple of 4`);
  check(what, M, x, M * K, 'x');
  check(what, M, out, M * R, 'out');
  const tex = panelsOf(w, R, K, false);
  if (tex) return panelProduct(x, tex, out, M, K, R, R);
  const gpu = x.gpu, eb = w.elementBytes;
  const k = forWeights(useSg(gpu) ? mvtSg : mvt, w, what);
  const chunks = rowChunks(R, K, gpu.bindingLimit, alignedRows(K * eb, gpu.limits.minStorageBufferOffsetAlignment), what, eb);
  for (const [m0, rows] of rowGroups(M)) {
    for (const [r0, rc] of chunks) {
      gpu.dispatch(k, {
        params: { K4: K / 4, R: rc, r0, ldo: R, m0 },
        bindings: [x, w.view(r0 * K, [rc, K]), out],
        workgroups: grid1d(rc, WG),
        constants: { WG, ROWS: rows },
      });
    }
  }
}

// ---- CPU reference (float64) ----
// With f16 weights the reference is the same loops over the f16-rounded weights (roundF16 in src/util/f16.ts).
export function matvecCpu(x: ArrayLike<number>, w: ArrayLike<number>, M: number, K: number, N: number, bias?: ArrayLike<number>): Float64Array {
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = bias ? bias[n] : 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * w[k * N + n];
      out[m * N + n] = s;
    }
  }
  return out;
}

export function matvecTCpu(x: ArrayLike<number>, w: ArrayLike<number>, M: number, R: number, K: number): Float64Array {
  const out = new Float64Array(M * R);
  for (let m = 0; m < M; m++) {
    for (let r = 0; r < R; r++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += w[r * K + k] * x[m * K + k];
      out[m * R + r] = s;
    }
  }
  return out;
}
