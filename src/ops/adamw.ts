// AdamW step, global gradient norm (deterministic two-pass sum) and the clip scale, all on the
// GPU with no readback; plus the CPU reference of the step.
import { kernel, type Tensor } from '../gpu/index.ts';
import { elementChunks, grid1d } from './fit.ts';
import stepCode from '../../kernels/adamw_step.wgsl';
import partialCode from '../../kernels/gradnorm_partial.wgsl';
import finalCode from '../../kernels/gradnorm_final.wgsl';
import clipCode from '../../kernels/gradnorm_clip.wgsl';

const step = kernel('adamw_step', stepCode);
const normPartial = kernel('gradnorm_partial', partialCode);
const normFinal = kernel('gradnorm_final', finalCode);
const clip = kernel('gradnorm_clip', clipCode);
const STEP_WG = 256;
const NORM_WG = 64;

/** Elements per lane in the first gradient-norm pass; tests shrink it to reach > 65535 workgroups. */
export const gradNormTuning = { itemsPerLane: 64 };

export interface AdamwHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based, for bias correction */
  step: number;
}

/**
 * One AdamW step on one tensor (PyTorch semantics, decoupled weight decay:
 * p -= lr*wd*p, then p -= lr * mhat/(sqrt(vhat)+eps)). The gradient is multiplied by
 * gradScale[0] on the GPU (null: by 1). m and v are f32, same size as param, zeroed by the caller.
 */
export function adamwStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, h: AdamwHyper, gradScale: Tensor | null): void {
  const n = param.size;
  if (grad.size !== n || m.size !== n || v.size !== n) {
    throw new Error(`adamwStep '${param.label}': sizes param ${n}, grad ${grad.size}, m ${m.size}, v ${v.size} differ`);
  }
  if (!(Number.isInteger(h.step) && h.step >= 1)) throw new Error(`adamwStep: step must be an integer >= 1, got ${h.step}`);
  const hyper = {
    hasScale: gradScale ? 1 : 0, lr: h.lr, beta1: h.beta1, beta2: h.beta2, eps: h.eps, weightDecay: h.weightDecay,
    biasCorrection1: 1 - h.beta1 ** h.step, biasCorrection2: 1 - h.beta2 ** h.step,
  };
  for (const [s, c] of elementChunks(n, param.gpu.bindingLimit)) {
    const g = grad.binding(s, c);
    param.gpu.dispatch(step, {
      params: { n: c, ...hyper },
      // without a scale tensor the grad chunk stands in for it (two read-only bindings may alias)
      bindings: [param.binding(s, c), g, m.binding(s, c), v.binding(s, c), gradScale ? gradScale.binding(0, 1) : g],
      workgroups: grid1d(c, STEP_WG),
      constants: { WG: STEP_WG },
    });
  }
}

/**
 * sumsq[0] = sum of squares of every element of every tensor in grads. Deterministic: one
 * dispatch per tensor (per binding-limit chunk) writes per-workgroup partials into a scratch
 * tensor, then one workgroup adds them in a fixed order.
 */
export function gradNormSquared(grads: Tensor[], sumsq: Tensor): void {
  const gpu = sumsq.gpu;
  const ITEMS = gradNormTuning.itemsPerLane;
  const perGroup = NORM_WG * ITEMS;
  const work: { t: Tensor; s: number; c: number; base: number }[] = [];
  let total = 0;
  for (const t of grads) {
    for (const [s, c] of elementChunks(t.size, gpu.bindingLimit)) {
      work.push({ t, s, c, base: total });
      total += Math.ceil(c / perGroup);
    }
  }
  const partials = gpu.tensor([Math.max(total, 1)], 'gradnorm partials');
  for (const { t, s, c, base } of work) {
    gpu.dispatch(normPartial, {
      params: { n: c, base },
      bindings: [t.binding(s, c), partials],
      workgroups: grid1d(c, perGroup),
      constants: { WG: NORM_WG, ITEMS },
    });
  }
  gpu.dispatch(normFinal, { params: { n: total }, bindings: [partials, sumsq.binding(0, 1)], workgroups: 1, constants: { WG: NORM_WG } });
  partials.release();
}

/** scale[0] = maxNorm > 0 ? min(1, maxNorm / (sqrt(sumsq[0]) + 1e-6)) : 1, on the GPU. */
export function clipScale(sumsq: Tensor, scale: Tensor, maxNorm: number): void {
  sumsq.gpu.dispatch(clip, { params: { maxNorm }, bindings: [sumsq.binding(0, 1), scale.binding(0, 1)], workgroups: 1 });
}

// ---- CPU reference (float64) ----

/** One AdamW step in place on param, m, v (the gradient multiplied by gradScale first). */
export function adamwStepCpu(param: Float64Array, grad: ArrayLike<number>, m: Float64Array, v: Float64Array, h: AdamwHyper, gradScale: number): void {
  const bc1 = 1 - Math.pow(h.beta1, h.step);
  const bc2 = 1 - Math.pow(h.beta2, h.step);
  for (let i = 0; i < param.length; i++) {
    const g = grad[i] * gradScale;
    m[i] = h.beta1 * m[i] + (1 - h.beta1) * g;
    v[i] = h.beta2 * v[i] + (1 - h.beta2) * g * g;
    param[i] -= h.lr * h.weightDecay * param[i]; // decoupled decay, on the pre-update value
    param[i] -= (h.lr * (m[i] / bc1)) / (Math.sqrt(v[i] / bc2) + h.eps);
  }
}
