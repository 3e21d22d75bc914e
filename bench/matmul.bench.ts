// The matmuls of one GPT-2 124M training step at T=1024 (M = batch*T rows), each with the two
// backward layouts the model uses: dx += dout·Wᵀ (NT) and dW += xᵀ·dout (TN); and the tied
// lm_head of the default from-scratch run (`node dist/train.js`: n_embd 128, a chunk of 256 rows
// with targets), which dominates its step. On a CPU adapter a few shapes also run the
// shared-memory kernel meant for real GPUs (information only).
import type { Gpu, Tensor } from '../src/gpu/index.ts';
import { matmul, matmulTuning, type MatmulOptions, type MatmulVariant } from '../src/ops/matmul.ts';
import { registerBench, type BenchCase } from './harness.ts';

const T = 1024, C = 768, V = 50257;

/** forward out[M,N] = x[M,K]·W[K,N] (+ b), dx[M,K] += dout·Wᵀ, dW[K,N] += xᵀ·dout */
function linearCases(gpu: Gpu, name: string, M: number, K: number, N: number, tied = false): BenchCase[] {
  const x = gpu.zeros([M, K], `${name}.x`), dx = gpu.zeros([M, K], `${name}.dx`);
  // the tied lm_head keeps wte as [V, C] = [N, K]: forward uses transB, dx is NN, dW is dout ᵀ·x
  const w = gpu.zeros(tied ? [N, K] : [K, N], `${name}.w`), dw = gpu.zeros(tied ? [N, K] : [K, N], `${name}.dw`);
  const out = gpu.zeros([M, N], `${name}.out`), dout = gpu.zeros([M, N], `${name}.dout`);
  const bias = tied ? undefined : gpu.zeros([N], `${name}.b`);
  const flops = 2 * M * N * K;
  const acc: MatmulOptions = { accumulate: true };
  const cases: BenchCase[] = tied
    ? [
        { name: `${name} fwd (NT)`, shape: `${M}x${K} · ${N}x${K}ᵀ`, flops, run: () => matmul(x, w, out, M, N, K, { transB: true }) },
        { name: `${name} dx (NN)`, shape: `${M}x${N} · ${N}x${K}`, flops, run: () => matmul(dout, w, dx, M, K, N, acc) },
        { name: `${name} dW (TN)`, shape: `${M}x${N}ᵀ · ${M}x${K}`, flops, run: () => matmul(dout, x, dw, N, K, M, { ...acc, transA: true }) },
      ]
    : [
        { name: `${name} fwd (NN)`, shape: `${M}x${K} · ${K}x${N}`, flops, run: () => matmul(x, w, out, M, N, K, { bias }) },
        { name: `${name} dx (NT)`, shape: `${M}x${N} · ${K}x${N}ᵀ`, flops, run: () => matmul(dout, w, dx, M, K, N, { ...acc, transB: true }) },
        { name: `${name} dW (TN)`, shape: `${M}x${K}ᵀ · ${M}x${N}`, flops, run: () => matmul(x, dout, dw, K, N, M, { ...acc, transA: true }) },
      ];
  const all: (Tensor | undefined)[] = [x, dx, w, dw, out, dout, bias];
  cases[cases.length - 1].cleanup = () => all.forEach((t) => t?.release());
  return cases;
}

/** The cases with the matmul variant forced while they record. */
function forced(variant: MatmulVariant, cases: BenchCase[]): BenchCase[] {
  return cases.map((c) => ({
    ...c,
    name: `${c.name} [${variant}]`,
    run: () => {
      const old = matmulTuning.variant;
      matmulTuning.variant = variant;
      try {
        return c.run();
      } finally {
        matmulTuning.variant = old;
      }
    },
  }));
}

registerBench('matmul', (gpu, { batch }) => {
  const M = batch * T;
  return [
    ...(gpu.isCpu ? forced('tiled', [...linearCases(gpu, 'attn.proj', M, C, C), ...linearCases(gpu, 'mlp.up', M, C, 4 * C)]) : []),
    ...linearCases(gpu, 'qkv', M, C, 3 * C),
    ...linearCases(gpu, 'attn.proj', M, C, C),
    ...linearCases(gpu, 'mlp.up', M, C, 4 * C),
    ...linearCases(gpu, 'mlp.down', M, 4 * C, C),
    ...linearCases(gpu, 'lm_head', M, C, V, true),
    ...linearCases(gpu, 'scratch lm_head', 256, 128, V, true),
  ];
});
