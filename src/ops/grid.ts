// Workgroup counts for 1-D work over n items: x is capped at 65535 (WebGPU's per-dimension
// limit), the rest spills into y. Kernels rebuild the linear index as (wid.y * nwg.x + wid.x).
export function grid1d(n: number, perWorkgroup: number): [number, number] {
  const groups = Math.ceil(n / perWorkgroup);
  if (groups <= 65535) return [groups, 1];
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y];
}
