import { adamwStep, clipScale, gradNormSquared } from '../src/ops/adamw.ts';
import { registerBench } from './harness.ts';

registerBench('adamw', (gpu) => {
  // GPT-2 124M's MLP weight and its (tied) token embedding
  const shapes: [string, number][] = [['768x3072', 768 * 3072], ['50257x768', 50257 * 768]];
  const h = { lr: 3e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, step: 1 };
  const sumsq = gpu.zeros([1], 'sumsq'), scale = gpu.zeros([1], 'clip scale');
  const all = shapes.map(([label, n]) => ({
    label, n,
    p: gpu.zeros([n], `param ${label}`), g: gpu.zeros([n], `grad ${label}`), m: gpu.zeros([n], `m ${label}`), v: gpu.zeros([n], `v ${label}`),
  }));
  const cases = all.map(({ label, n, p, g, m, v }) => ({
    name: 'adamwStep', shape: label, bytes: 28 * n, // read param, grad, m, v; write param, m, v
    run: () => adamwStep(p, g, m, v, h, scale),
  }));
  const total = all.reduce((s, t) => s + t.n, 0);
  cases.push({
    name: 'gradNormSquared+clipScale', shape: shapes.map(([l]) => l).join(' + '), bytes: 4 * total,
    run: () => {
      gradNormSquared(all.map((t) => t.g), sumsq);
      clipScale(sumsq, scale, 1);
    },
  });
  return cases.map((c, i) => (i < cases.length - 1 ? c : {
    ...c, cleanup: () => [sumsq, scale, ...all.flatMap((t) => [t.p, t.g, t.m, t.v])].forEach((t) => t.release()),
  }));
});
