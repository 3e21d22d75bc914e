// Shared test helpers: the GPU device, seeded data, error measures and a float64 gradient check.
import * as assert from 'uvu/assert';
import type { Gpu } from '../src/gpu/index.ts';
import { getGpu } from '../src/node/gpu.ts';
import { Rng } from '../src/util/rng.ts';

export const gpu = (): Promise<Gpu> => getGpu();

export function randn(n: number, seed: number, std = 1): Float32Array {
  return new Rng(seed).fillNormal(new Float32Array(n), std) as Float32Array;
}
export function randn64(n: number, seed: number, std = 1): Float64Array {
  return new Rng(seed).fillNormal(new Float64Array(n), std) as Float64Array;
}

/** max |a-e| / max |e|: the error relative to the output's scale (matmul-type outputs). */
export function maxRelErr(a: ArrayLike<number>, e: ArrayLike<number>): number {
  if (a.length !== e.length) throw new Error(`length ${a.length} != ${e.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - e[i]);
    if (!(d <= num)) num = Number.isNaN(d) ? Infinity : d;
    den = Math.max(den, Math.abs(e[i]));
  }
  return num / Math.max(den, 1e-30);
}

/** Assert max |a-e| / max|e| <= tol, naming the worst element. */
export function assertRel(a: ArrayLike<number>, e: ArrayLike<number>, tol: number, what: string): void {
  const err = maxRelErr(a, e);
  if (!(err <= tol)) {
    let worst = 0;
    for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i] - e[i]) <= Math.abs(a[worst] - e[worst]))) worst = i;
    assert.unreachable(`${what}: relative error ${err.toExponential(2)} > ${tol} (worst at ${worst}: got ${a[worst]}, want ${e[worst]})`);
  }
}

/** Assert |a-e| <= atol + rtol*|e| elementwise (elementwise kernels). */
export function assertClose(a: ArrayLike<number>, e: ArrayLike<number>, rtol: number, atol: number, what: string): void {
  assert.is(a.length, e.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i] - e[i]) <= atol + rtol * Math.abs(e[i]))) {
      assert.unreachable(`${what}: element ${i} got ${a[i]}, want ${e[i]} (rtol ${rtol}, atol ${atol})`);
    }
  }
}

/**
 * Check analytic gradients of L = sum(f(inputs) * dout) against float64 central finite
 * differences. `f` maps the inputs to the output; `grads` are the analytic dL/dinput.
 * Checks every element of inputs up to `maxChecks` per input (evenly spaced).
 */
export function gradcheck(
  f: (inputs: Float64Array[]) => ArrayLike<number>,
  inputs: Float64Array[],
  dout: ArrayLike<number>,
  grads: ArrayLike<number>[],
  what: string,
  { h = 1e-6, tol = 1e-6, maxChecks = 200 } = {},
): void {
  const loss = () => {
    const out = f(inputs);
    let s = 0;
    for (let i = 0; i < out.length; i++) s += out[i] * dout[i];
    return s;
  };
  inputs.forEach((x, k) => {
    const stride = Math.max(1, Math.floor(x.length / maxChecks));
    let scale = 0;
    for (let i = 0; i < x.length; i++) scale = Math.max(scale, Math.abs(grads[k][i]));
    for (let i = 0; i < x.length; i += stride) {
      const x0 = x[i];
      x[i] = x0 + h;
      const lp = loss();
      x[i] = x0 - h;
      const lm = loss();
      x[i] = x0;
      const num = (lp - lm) / (2 * h);
      const err = Math.abs(num - grads[k][i]) / Math.max(scale, 1e-12);
      if (!(err <= tol)) {
        assert.unreachable(`${what}: input ${k} element ${i}: analytic ${grads[k][i]}, numeric ${num} (rel err ${err.toExponential(2)})`);
      }
    }
  });
}
