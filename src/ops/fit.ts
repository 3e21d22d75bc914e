// Fitting work into what one dispatch may touch: WebGPU caps a storage binding at
// maxStorageBufferBindingSize bytes (128 MiB on many adapters: GPT-2's wte alone is 154 MB) and
// a grid at 65535 workgroups per dimension. Ops split their rows into chunks with these helpers;
// chunk starts stay on row counts whose byte offsets meet the binding-offset alignment.

/** WebGPU's guaranteed maximum workgroups per grid dimension. */
export const MAX_GROUPS = 65535;

/**
 * Workgroup counts for 1-D work over n items: x is capped at 65535, the rest spills into y.
 * Kernels rebuild the linear index as (wid.y * nwg.x + wid.x).
 */
export function grid1d(n: number, perWorkgroup: number): [number, number] {
  const groups = Math.ceil(n / perWorkgroup);
  if (groups <= MAX_GROUPS) return [groups, 1];
  const y = Math.ceil(groups / MAX_GROUPS);
  return [Math.ceil(groups / y), y];
}

/**
 * How many rows laid out `stride` apart fit in `limit` when the last one needs only `width`
 * (the span of r rows is (r-1)*stride + width). Any unit, as long as all three share it.
 */
export function rowsThatFit(limit: number, stride: number, width = stride): number {
  return limit < width ? 0 : Math.floor((limit - width) / stride) + 1;
}

/** The smallest number of rows of `rowBytes` whose total is a multiple of `alignBytes` (a view may start after any multiple of it). */
export function alignedRows(rowBytes: number, alignBytes: number): number {
  let a = rowBytes, b = alignBytes;
  while (b) [a, b] = [b, a % b];
  return alignBytes / a;
}

/** [start, count] pieces of `total` items, `per` at a time. */
export function pieces(total: number, per: number): [number, number][] {
  const out: [number, number][] = [];
  for (let s = 0; s < total; s += per) out.push([s, Math.min(per, total - s)]);
  return out;
}

/**
 * The most rows of `rowBytes` that fit `limitBytes`, rounded down to a multiple of `align` rows
 * (so that chunk starts keep their binding offsets aligned). Throws when not even `align` rows fit.
 */
export function rowsPerBinding(rowBytes: number, limitBytes: number, align = 64, what = 'rowsPerBinding'): number {
  const per = Math.floor(rowsThatFit(limitBytes, rowBytes) / align) * align;
  if (per === 0) throw new Error(`${what}: ${align} row(s) of ${rowBytes} bytes exceed the ${limitBytes}-byte storage binding limit`);
  return per;
}

/**
 * Split `rows` rows of `rowElems` f32 (or `elementBytes` each) into [start, count] ranges whose bytes fit `limitBytes`:
 * all rows at once when they fit, else chunks starting on multiples of `align` rows (64 rows:
 * 256-byte aligned offsets for any row length of 4-byte elements, including per-row f32/u32 side arrays).
 */
export function rowChunks(rows: number, rowElems: number, limitBytes: number, align = 64, what = 'rowChunks', elementBytes = 4): [number, number][] {
  if (rows * rowElems * elementBytes <= limitBytes) return [[0, rows]];
  return pieces(rows, rowsPerBinding(rowElems * elementBytes, limitBytes, align, what));
}

/** [start, count] pieces of an n-element f32 tensor that each fit one binding, starting on 256-byte boundaries. */
export function elementChunks(n: number, limitBytes: number): [number, number][] {
  return rowChunks(n, 1, limitBytes);
}
