// Seeded random numbers (mulberry32 + Box-Muller): same seed, same init, same samples.

/**
 * The 32-bit state of a seed. Seeds an int32 or uint32 holds keep their old state (seed >>> 0);
 * a larger one (up to ±2^53, the flags' limit) mixes its high bits in rather than dropping them,
 * or --seed 1 and --seed 4294967297 would sample alike. Times an odd constant is one-to-one mod
 * 2^32, so seeds that differ only above bit 32 never share a state.
 */
export function seedState(seed: number): number {
  if (seed >= -0x80000000 && seed < 0x100000000) return seed >>> 0;
  const high = Math.floor(seed / 0x100000000);
  return ((seed >>> 0) ^ Math.imul(high, 0x9e3779b1)) >>> 0;
}
export class Rng {
  private s: number;
  private spare: number | null = null;
  constructor(seed: number) {
    this.s = seedState(seed);
  }
  /** uniform in [0, 1) */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** standard normal */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    const u = 1 - this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** state for checkpoints; restore with `new Rng(0).setState(s)` */
  get state(): number {
    return this.s;
  }
  setState(s: number): this {
    this.s = s >>> 0;
    this.spare = null;
    return this;
  }
  fillNormal(a: Float32Array | Float64Array, std = 1): typeof a {
    for (let i = 0; i < a.length; i++) a[i] = this.normal() * std;
    return a;
  }
}
