// AdamW step, global gradient norm (deterministic two-pass sum) and the clip scale, all on the
// GPU with no readback; plus the CPU reference of the step.
import { kernel, type Tensor } from '../gpu/index.ts';
import { elementChunks, grid1d } from './fit.ts';
import stepCode from '../../kernels/adamw_step.wgsl';
import step4Code from '../../kernels/adamw_step_vec4.wgsl';
import partialCode from '../../kernels/gradnorm_partial.wgsl';
import partial4Code from '../../kernels/gradnorm_partial_vec4.wgsl';
import finalCode from '../../kernels/gradnorm_final.wgsl';
import clipCode from '../../kernels/gradnorm_clip.wgsl';

const step = kernel('adamw_step', stepCode);
const step4 = kernel('adamw_step_vec4', step4Code);
const normPartial = kernel('gradnorm_partial', partialCode);
const normPartial4 = kernel('gradnorm_partial_vec4', partial4Code);
const normFinal = kernel('gradnorm_final', finalCode);
const clip = kernel('gradnorm_clip', clipCode);
const STEP_WG = 256;
const STEP4_WG = 64;
const NORM_WG = 64;

/**
 * Elements (or vec4s, for chunks of whole vec4s) per lane in the first gradient-norm pass; tests
 * shrink them to reach > 65535 workgroups. On lavapipe 64 vec4s a lane sum GPT-2 124M's gradients
 * ~3x faster than 64 floats (bench/adamw.bench.ts).
 */
export const gradNormTuning = { itemsPerLane: 64, vec4sPerLane: 64 };

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
  const gpu = param.gpu;
  for (const [s, c] of elementChunks(n, gpu.bindingLimit)) {
    // whole vec4s first, then the last c % 4 elements one a lane
    const c4 = c - (c % 4);
    for (const [k, first, count, wg] of [[step4, 0, c4, STEP4_WG], [step, c4, c, STEP_WG]] as const) {
      if (count === first) continue;
      const g = grad.binding(s, count);
      gpu.dispatch(k, {
        params: k === step4 ? { n4: c4 / 4, ...hyper } : { n: c, first, ...hyper },
        // without a scale tensor the grad chunk stands in for it (two read-only bindings may alias)
        bindings: [param.binding(s, count), g, m.binding(s, count), v.binding(s, count), gradScale ? gradScale.binding(0, 1) : g],
        workgroups: grid1d(k === step4 ? c4 / 4 : c - c4, wg),
        constants: { WG: wg },
      });
    }
  }
}

/**
 * sumsq[0] = sum of squares of every element of every tensor in grads. Deterministic: one
 * dispatch per tensor (per binding-limit chunk; read as vec4s where it holds whole ones) writes
 * per-workgroup partials into a scratch tensor, then one workgroup adds them in a fixed order.
 */
export function gradNormSquared(grads: Tensor[], sumsq: Tensor): void {
  const gpu = sumsq.gpu;
  const work: { t: Tensor; s: number; c: number; base: number; vec4: boolean; items: number }[] = [];
  let total = 0;
  for (const t of grads) {
    for (const [s, c] of elementChunks(t.size, gpu.bindingLimit)) {
      const vec4 = c % 4 === 0; // so is every chunk of a GPT-2's gradients (C is a multiple of 4)
      const items = vec4 ? gradNormTuning.vec4sPerLane : gradNormTuning.itemsPerLane;
      work.push({ t, s, c, base: total, vec4, items });
      total += Math.ceil((vec4 ? c / 4 : c) / (NORM_WG * items));
    }
  }
  const partials = gpu.tensor([Math.max(total, 1)], 'gradnorm partials');
  for (const { t, s, c, base, vec4, items } of work) {
    const n = vec4 ? c / 4 : c;
    gpu.dispatch(vec4 ? normPartial4 : normPartial, {
      params: vec4 ? { n4: n, base } : { n, base },
      bindings: [t.binding(s, c), partials],
      workgroups: grid1d(n, NORM_WG * items),
      constants: { WG: NORM_WG, ITEMS: items },
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
