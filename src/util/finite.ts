/** how many values of `a` are NaN or infinite (a loop: this runs over every weight of a model) */
export function countNonFinite(a: Float32Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] - a[i] !== 0) n++; // NaN and ±Infinity give NaN
  return n;
}
