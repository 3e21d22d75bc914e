import { attentionBackward, attentionForward } from '../src/ops/attention.ts';
import { attentionDecode, DecodeEntries } from '../src/ops/attention_decode.ts';
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
  // decode: one new row per sequence against KV caches of GPT-2's 1024 positions; bytes = the keys and values read
  const stride = 1024 * 3 * C;
  const cache = gpu.zeros([8, stride], 'qkv caches'), out = gpu.zeros([8, C], 'out');
  const entries: DecodeEntries[] = [];
  for (const [seqs, ctx] of [[1, 128], [1, 1000], [8, 128]]) {
    const e = new DecodeEntries(gpu, Array.from({ length: seqs }, (_, i) => ({ row: i, slot: i, pos: ctx - 1 })));
    entries.push(e);
    cases.push({
      name: 'attentionDecode', shape: `${seqs} seq, context=${ctx} C=${C} NH=${NH}`, bytes: 2 * seqs * ctx * C * 4,
      run: () => attentionDecode(cache, e, 0, seqs, out, C, NH, stride),
      cleanup: entries.length === 3 ? () => { [cache, out].forEach((x) => x.release()); entries.forEach((x) => x.release()); } : undefined,
    });
  }
  return cases;
});
