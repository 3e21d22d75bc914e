// Batched decoding over per-sequence KV caches: each sequence of a decode step (a new token at
// its own position) appends its qkv row to its cache, and attends with its query over its own
// keys. A cache tensor holds `slots` caches of one layer, `stride` floats apart, each the qkv
// rows [positions, 3C] of one sequence (as in attentionCached); a decode step names, per
// sequence, its row in the step's [B, ...] tensors, its slot and its position.
import { kernel, type Gpu, type Tensor } from '../gpu/index.ts';
import decodeCode from '../../kernels/attention_decode.wgsl';
import appendCode from '../../kernels/kv_append.wgsl';

const partialKernel = kernel('attention_decode', decodeCode, 'partial');
const combineKernel = kernel('attention_decode', decodeCode, 'combine');
const appendKernel = kernel('kv_append', appendCode);
const WG = 8;
/** keys per partial workgroup: a multiple of 4*WG keeps every invocation busy */
export const DECODE_CHUNK = 128;

/** one sequence of a decode step: row in the step's tensors, cache slot, position of its new token */
export interface DecodeEntry { row: number; slot: number; pos: number }

/** A step's entries on the GPU as (row, slot, pos, 0) u32 quadruples, with the host copy the ops check against. */
export class DecodeEntries {
  readonly tensor: Tensor;
  constructor(gpu: Gpu, readonly list: readonly DecodeEntry[]) {
    if (!list.length) throw new Error('DecodeEntries: no entries');
    const a = new Uint32Array(4 * list.length);
    list.forEach((e, i) => a.set([e.row, e.slot, e.pos, 0], 4 * i));
    this.tensor = gpu.fromArray(a, [list.length, 4], 'decode entries');
  }
  release(): void {
    this.tensor.release();
  }
}

function checkSlice(what: string, cache: Tensor, entries: DecodeEntries, e0: number, count: number, B: number, C: number, stride: number): number {
  if (C % 4 || stride % 4 || stride < 3 * C) throw new Error(`${what}: C=${C} and stride=${stride} must be multiples of 4, stride >= 3C`);
  if (cache.size % stride) throw new Error(`${what}: cache '${cache.label}' (${cache.size} floats) is not whole slots of ${stride}`);
  const slots = cache.size / stride, positions = Math.floor(stride / (3 * C));
  if (!(e0 >= 0 && count >= 1 && e0 + count <= entries.list.length)) throw new Error(`${what}: entries [${e0}, ${e0 + count}) of ${entries.list.length}`);
  for (let i = e0; i < e0 + count; i++) {
    const { row, slot, pos } = entries.list[i];
    if (!(row >= 0 && row < B && slot >= 0 && slot < slots && pos >= 0 && pos < positions)) {
      throw new Error(`${what}: entry ${i} (row ${row}, slot ${slot}, pos ${pos}) outside ${B} rows, ${slots} slots, ${positions} positions`);
    }
  }
  return positions;
}

/** cache slot `slot`, row `pos` = qkv row `row`, for entries [e0, e0+count); qkv is [B, 3C] */
export function kvAppend(qkv: Tensor, cache: Tensor, entries: DecodeEntries, e0: number, count: number, C: number, stride: number): void {
  checkSlice('kvAppend', cache, entries, e0, count, qkv.size / (3 * C), C, stride);
  qkv.gpu.dispatch(appendKernel, {
    params: { R4: (3 * C) / 4, stride4: stride / 4, e0 },
    bindings: [qkv, entries.tensor, cache],
    workgroups: count,
    constants: { WG: 64 },
  });
}

/**
 * out[row] = causal attention of the query at row `pos` of cache slot `slot` over its rows
 * 0..pos, per head, for entries [e0, e0+count); out is [B, C]. The rows of out that no entry
 * names are left alone.
 */
export function attentionDecode(cache: Tensor, entries: DecodeEntries, e0: number, count: number, out: Tensor, C: number, NH: number, stride: number): void {
  const hs = C / NH;
  if (!Number.isInteger(hs) || hs % 4 !== 0 || hs > 128) throw new Error(`attentionDecode: head size C/NH = ${C}/${NH} must be a multiple of 4 up to 128`);
  const positions = checkSlice('attentionDecode', cache, entries, e0, count, out.size / C, C, stride);
  const gpu = cache.gpu;
  let keys = 0;
  for (let i = e0; i < e0 + count; i++) keys = Math.max(keys, entries.list[i].pos + 1);
  const nChunks = Math.ceil(keys / DECODE_CHUNK);
  // partials sized for full caches so the pool hands back the same buffer every step
  const part = gpu.tensor([count * NH * Math.ceil(positions / DECODE_CHUNK) * WG * (hs / 4 + 1) * 4], 'attention decode partials');
  const o = {
    params: { C4: C / 4, hs4: hs / 4, chunk: DECODE_CHUNK, nChunks, stride4: stride / 4, e0, scale: 1 / Math.sqrt(hs) },
    bindings: [cache, entries.tensor, out, part],
    constants: { WG },
  };
  gpu.dispatch(partialKernel, { ...o, workgroups: [nChunks, NH, count] });
  gpu.dispatch(combineKernel, { ...o, workgroups: [NH, count] });
  part.release();
}

// ---- CPU reference (float64) ----

/** the cache after kvAppend: a copy of `cache` with the entries' qkv rows written in */
export function kvAppendCpu(qkv: ArrayLike<number>, cache: ArrayLike<number>, entries: readonly DecodeEntry[], C: number, stride: number): Float64Array {
  const out = Float64Array.from(cache);
  for (const { row, slot, pos } of entries) {
    for (let c = 0; c < 3 * C; c++) out[slot * stride + pos * 3 * C + c] = qkv[row * 3 * C + c];
  }
  return out;
}

/** out[B, C]: for each entry, softmax(q·kᵀ/√hs)·v per head over keys 0..pos of its slot; rows no entry names are 0 */
export function attentionDecodeCpu(cache: ArrayLike<number>, entries: readonly DecodeEntry[], B: number, C: number, NH: number, stride: number): Float64Array {
  const hs = C / NH, scale = 1 / Math.sqrt(hs), C3 = 3 * C;
  const out = new Float64Array(B * C);
  for (const { row, slot, pos } of entries) {
    const at = (t: number) => slot * stride + t * C3; // row t of this sequence's cache
    for (let h = 0; h < NH; h++) {
      const s = new Float64Array(pos + 1);
      let m = -Infinity;
      for (let j = 0; j <= pos; j++) {
        let dot = 0;
        for (let d = 0; d < hs; d++) dot += cache[at(pos) + h * hs + d] * cache[at(j) + C + h * hs + d];
        s[j] = dot * scale;
        m = Math.max(m, s[j]);
      }
      let sum = 0;
      for (let j = 0; j <= pos; j++) sum += (s[j] = Math.exp(s[j] - m));
      for (let j = 0; j <= pos; j++) {
        for (let d = 0; d < hs; d++) out[row * C + h * hs + d] += (s[j] / sum) * cache[at(j) + 2 * C + h * hs + d];
      }
    }
  }
  return out;
}
