// Workgroup counts for 1-D work over n items: x is capped at 65535 (WebGPU's per-dimension
// limit), the rest spills into y. Kernels rebuild the linear index as (wid.y * nwg.x + wid.x).
export function grid1d(n: number, perWorkgroup: number): [number, number] {
  const groups = Math.ceil(n / perWorkgroup);
  if (groups <= 65535) return [groups, 1];
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y];
}

/**
 * Split `rows` rows of `rowElems` f32 each into [start, count] ranges whose bytes fit `limitBytes`.
 * Chunk starts are multiples of `align` rows (64 rows: 256-byte aligned offsets for any row length,
 * including per-row f32/u32 side arrays).
 */
export function rowChunks(rows: number, rowElems: number, limitBytes: number, align = 64): [number, number][] {
  if (rows * rowElems * 4 <= limitBytes) return [[0, rows]];
  const per = Math.floor(limitBytes / (rowElems * 4 * align)) * align;
  if (per === 0) throw new Error(`rowChunks: ${align} rows of ${rowElems} floats exceed the ${limitBytes}-byte binding limit`);
  const out: [number, number][] = [];
  for (let r = 0; r < rows; r += per) out.push([r, Math.min(per, rows - r)]);
  return out;
}
