// Shared test helpers: the GPU device and what the tests may assume of its adapter, seeded
// data, error measures and a float64 gradient check.
import * as assert from 'uvu/assert';
import { matmul, matmulTuning, type MatmulVariant } from '../src/ops/matmul.ts';
import type { Gpu, Tensor } from '../src/gpu/index.ts';
import { getGpu } from '../src/node/gpu.ts';
import { Rng } from '../src/util/rng.ts';
import type { GPT2 } from '../src/model/gpt2.ts';

export const gpu = (): Promise<Gpu> => getGpu();

// ---- the adapter: everything a test may assume of it is stated here ----
// Tests pass on any WebGPU adapter. The storage binding limit differs (128 MiB on lavapipe,
// 1 GiB on SwiftShader, more on GPUs): a test about splitting work lowers it with
// withBindingLimit. Optional paths run only where the adapter has what they need: a test of
// one checks with `adapterHas` (a test on an adapter without it is skipped, and the reason
// printed at the end of the run) and asserts with `kernelsRun` that the path really ran.

/** WebGPU's default maxStorageBufferBindingSize, which every adapter offers: GPT-2's 154 MB wte exceeds it. */
export const DEFAULT_BINDING_LIMIT = 128 * 1024 * 1024;

/** The optional paths and what they need from the adapter. No kernel uses shader-f16 (f16 weights are read as u32 words): nothing depends on it. */
const OPTIONAL = {
  subgroups8: {
    need: 'subgroups of at least 8 lanes (attention *_sg and panel matmul kernels)',
    has: (g: Gpu) => g.hasSubgroups8,
    got: (g: Gpu) => (g.subgroupMinSize ? `subgroups of ${g.subgroupMinSize}` : 'no subgroups'),
  },
  cpuSubgroups8: {
    need: 'a CPU adapter with subgroups of at least 8 lanes (matvec_panels)',
    has: (g: Gpu) => g.isCpu && g.hasSubgroups8,
    got: (g: Gpu) => `${g.isCpu ? 'a CPU' : 'a GPU'} adapter with ${g.subgroupMinSize ? `subgroups of ${g.subgroupMinSize}` : 'no subgroups'}`,
  },
  timestamps: {
    need: 'timestamp-query (the profiler)',
    has: (g: Gpu) => g.features.has('timestamp-query'),
    got: () => 'no timestamp-query',
  },
};

/** Tests (or parts of them) skipped on this machine, by why (the runner prints them at the end). */
export const skipped = new Map<string, string[]>();

/** records `test` as skipped for `why` ('need X; this machine has Y'), for the runner's list */
export function skip(why: string, test: string): void {
  skipped.set(why, [...(skipped.get(why) ?? []), test]);
}

/** Whether the adapter has what the optional path `need` needs; if not, `test` is recorded as skipped. */
export function adapterHas(g: Gpu, need: keyof typeof OPTIONAL, test: string): boolean {
  const o = OPTIONAL[need];
  if (o.has(g)) return true;
  skip(`need ${o.need}; the adapter has ${o.got(g)}`, test);
  return false;
}

/** `f` with some of the Gpu's adapter-derived fields overridden, restored after. */
async function overriding<T>(g: Gpu, values: { bindingLimit?: number; hasSubgroups8?: boolean }, f: () => T | Promise<T>): Promise<T> {
  const fields = g as { bindingLimit: number; hasSubgroups8: boolean };
  const saved = { bindingLimit: fields.bindingLimit, hasSubgroups8: fields.hasSubgroups8 };
  Object.assign(fields, values);
  try {
    return await f();
  } finally {
    Object.assign(fields, saved);
  }
}

/** `f` with gpu.bindingLimit lowered to `bytes` (ops split their work as on an adapter with that limit), restored after. */
export function withBindingLimit<T>(g: Gpu, bytes: number, f: () => T | Promise<T>): Promise<T> {
  if (bytes > g.limits.maxStorageBufferBindingSize) throw new Error(`withBindingLimit: ${bytes} bytes is above the adapter's limit`);
  return overriding(g, { bindingLimit: bytes }, f);
}

/** `f` as on an adapter without subgroups of >= 8 (the portable kernels are chosen), restored after. */
export function withoutSubgroups8<T>(g: Gpu, f: () => T | Promise<T>): Promise<T> {
  return overriding(g, { hasSubgroups8: false }, f);
}

/** `f` with matmul's kernel family forced to `variant` (null: the adapter's own choice), restored after. */
export async function withMatmulVariant<T>(variant: MatmulVariant | null, f: () => T | Promise<T>): Promise<T> {
  const saved = matmulTuning.variant;
  matmulTuning.variant = variant;
  try {
    return await f();
  } finally {
    matmulTuning.variant = saved;
  }
}

/** The kernels (name.entryPoint) that `f` dispatched, with how many times, in order of first use. */
export async function kernelsRun(g: Gpu, f: () => unknown): Promise<Map<string, number>> {
  const dispatch = g.dispatch;
  const used = new Map<string, number>();
  g.dispatch = (k, o) => {
    const name = `${k.name}.${k.entryPoint}`;
    used.set(name, (used.get(name) ?? 0) + 1);
    dispatch.call(g, k, o);
  };
  try {
    await f();
  } finally {
    g.dispatch = dispatch;
  }
  return used;
}

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

/** The model's full logits [B*T, V] without gradients, to compare with a reference (a [B*T, V] tensor must fit one binding). */
export function fullLogits(model: GPT2, x: Uint32Array, B: number, T: number): Tensor {
  const { n_embd: C, vocab_size: V } = model.config;
  return model.tape.noGrad(() => {
    const hid = model.hidden(x, B, T);
    const out = model.gpu.tensor([B * T, V], 'logits');
    matmul(hid, model.p('wte.weight'), out, B * T, V, C, { transB: true });
    model.tape.clear();
    return out;
  });
}
