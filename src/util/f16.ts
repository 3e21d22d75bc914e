// IEEE 754 half precision (binary16) on the CPU: what f16 weights hold. float32 -> f16 rounds
// to nearest, ties to even (as a GPU's f32->f16 conversion does), overflows to infinity and
// keeps subnormals; f16 -> float is exact. Plain TypeScript, no typed-array tricks but one
// shared Float32Array/Uint32Array pair to read a float's bits.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The f16 bits nearest to x (rounded to float32 first, as a Float32Array holds it). */
export function f16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff, mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf, or a quiet NaN
  const e = exp - 127 + 15; // the f16 exponent field if the value is normal there
  if (e >= 0x1f) return sign | 0x7c00; // too large even before rounding
  if (e <= 0) {
    // subnormal in f16 (or zero): the value is m * 2^-24 with m = full mantissa >> (14 - e)
    if (e < -10) return sign; // below half the smallest subnormal: rounds to zero
    const full = mant | 0x800000, shift = 14 - e;
    return sign | roundShift(full, shift);
  }
  // normal: 10 mantissa bits, the 13 dropped ones decide the rounding; a carry may bump the exponent (to inf at the top)
  return sign | ((e << 10) + roundShift(mant, 13));
}

/** v >> shift, rounded to nearest with ties to even */
function roundShift(v: number, shift: number): number {
  const q = v >>> shift, rest = v - q * 2 ** shift, half = 2 ** (shift - 1);
  return rest > half || (rest === half && (q & 1)) ? q + 1 : q;
}

/** The value of f16 bits h. */
export function f16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f, mant = h & 0x3ff;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** -24;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** a's values as f16 bits */
export function toF16(a: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = f16Bits(a[i]);
  return out;
}

// every f16 bit pattern's value (256 KB, built on first use): decoding a whole tensor is a lookup a value
let table: Float32Array | null = null;

/** f16 bits as float32 values (exact, including subnormals, infinities and NaN) */
export function fromF16(h: ArrayLike<number>): Float32Array {
  if (!table) {
    table = new Float32Array(0x10000);
    for (let b = 0; b < 0x10000; b++) table[b] = f16Value(b);
  }
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = table[h[i]];
  return out;
}

/** a's values rounded to f16 (what a kernel reading f16 weights sees) */
export function roundF16(a: ArrayLike<number>): Float32Array {
  return fromF16(toF16(a));
}
