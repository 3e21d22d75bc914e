import { attentionBackward, attentionCached, attentionForward } from '../src/ops/attention.ts';
import { registerBench } from './harness.ts';

// GPT-2 124M: C=768, 12 heads of 64.
const C = 768, NH = 12, HS = 64;

registerBench('attention', (gpu, { batch: B }) => {
  const cases = [];
  for (const T of [256, 1024]) {
    const qkv = gpu.zeros([B, T, 3 * C], 'qkv'), out = gpu.zeros([B, T, C], 'out'), lse = gpu.zeros([B, NH, T], 'lse');
    const dout = gpu.zeros([B, T, C], 'dout'), dqkv = gpu.zeros([B, T, 3 * C], 'dqkv');
    const shape = `B=${B} T=${T} C=${C} NH=${NH}`;
    // one matmul-like product over the causal triangle: 2 flops per (query, key <= query, dim)
    const product = B * NH * T * T * HS;
    cases.push(
      { name: 'attentionForward', shape, flops: 2 * product, run: () => attentionForward(qkv, out, lse, B, T, C, NH) },
      {
        // FlashAttention-2 convention: 5 products (S, dP, dV, dK, dQ); the kernels recompute S and dP once more
        name: 'attentionBackward', shape, flops: 5 * product,
        run: () => attentionBackward(qkv, out, lse, dout, dqkv, B, T, C, NH),
        cleanup: () => [qkv, out, lse, dout, dqkv].forEach((x) => x.release()),
      },
    );
  }
  // decode: one new row against a KV cache of GPT-2's 1024 positions; bytes = the keys and values read
  const Tmax = 1024;
  const cache = gpu.zeros([Tmax, 3 * C], 'qkv cache'), one = gpu.zeros([1, C], 'out');
  for (const ctx of [128, 1000]) {
    cases.push({
      name: 'attentionCached decode', shape: `context=${ctx} C=${C} NH=${NH}`, bytes: 2 * ctx * C * 4,
      run: () => attentionCached(cache, one, ctx - 1, 1, C, NH),
      cleanup: ctx === 1000 ? () => [cache, one].forEach((x) => x.release()) : undefined,
    });
  }
  return cases;
});
