// AdamW over the model's parameters, with global gradient-norm clipping computed on the GPU
// (no readback inside a step), weight decay only on tensors with >= 2 dims (as nanoGPT).
import type { Gpu, Tensor } from './gpu/index.ts';
import { adamwStep, clipScale, gradNormSquared } from './ops/adamw.ts';

export interface AdamwOptions { beta1: number; beta2: number; eps: number; weightDecay: number; gradClip: number }

export class AdamW {
  readonly m = new Map<string, Tensor>();
  readonly v = new Map<string, Tensor>();
  /** optimizer steps taken (1-based bias correction uses step+1) */
  step = 0;
  private sumsq: Tensor;
  private scale: Tensor;

  constructor(
    private gpu: Gpu,
    private params: Map<string, Tensor>,
    private o: AdamwOptions,
  ) {
    try {
      for (const [name, p] of params) {
        this.m.set(name, gpu.zeros(p.shape, `adam.m ${name}`));
        this.v.set(name, gpu.zeros(p.shape, `adam.v ${name}`));
      }
      this.sumsq = gpu.zeros([1], 'grad norm^2');
      this.scale = gpu.zeros([1], 'clip scale');
    } catch (e) {
      this.release(); // out of memory part way: what was made is not lost with the optimizer
      throw e;
    }
  }

  /** Give back the moments (two copies of the weights) and the clip's buffers, for a host that goes on without training; also a constructor's part (no clip buffers yet). */
  release(): void {
    for (const t of [...this.m.values(), ...this.v.values(), this.sumsq, this.scale]) t?.release();
  }

  zeroGrad(): void {
    for (const p of this.params.values()) {
      if (p.grad) this.gpu.fill0(p.grad);
      else p.grad = this.gpu.zeros(p.shape, `d(${p.label})`);
    }
  }

  /** Clip, then update every parameter. Returns the tensor holding the pre-clip grad norm squared (read it when logging). */
  update(lr: number): Tensor {
    const grads = [...this.params.values()].map((p) => p.grad!).filter(Boolean);
    gradNormSquared(grads, this.sumsq);
    const clip = this.o.gradClip > 0;
    if (clip) clipScale(this.sumsq, this.scale, this.o.gradClip);
    this.step++;
    for (const [name, p] of this.params) {
      if (!p.grad) continue;
      adamwStep(p, p.grad, this.m.get(name)!, this.v.get(name)!, {
        lr, beta1: this.o.beta1, beta2: this.o.beta2, eps: this.o.eps,
        weightDecay: p.shape.length >= 2 ? this.o.weightDecay : 0, step: this.step,
      }, clip ? this.scale : null);
    }
    return this.sumsq;
  }
}
