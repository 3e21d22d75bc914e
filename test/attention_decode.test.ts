// Batched decode attention over per-sequence KV caches (attention_decode.ts) against the float64
// references: sequences of different lengths in one step, lengths around the key-chunk size,
// slots spread over several cache tensors (as when the caches exceed one binding).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { attentionDecode, attentionDecodeCpu, DECODE_CHUNK, DecodeEntries, kvAppend, kvAppendCpu, type DecodeEntry } from '../src/ops/attention_decode.ts';
import { attentionForwardCpu } from '../src/ops/attention.ts';
import { assertRel, gpu, randn } from './util.ts';

const t = suite('attention_decode');

/** cache tensors of `slots` slots each; rows at or past each entry's position hold NaN (they must never be read before being written) */
function caches(slots: number, stride: number, C: number, P: number, seed: number): Float32Array {
  const a = randn(slots * stride, seed, 1.2);
  for (let i = 0; i < slots * stride; i++) if (i % stride >= P * 3 * C) a[i] = NaN; // padding past the last row
  return a;
}

for (const [C, NH] of [[32, 2], [48, 4]]) {
  for (const lengths of [[1], [5, 130, 64], [1, DECODE_CHUNK - 1, DECODE_CHUNK, DECODE_CHUNK + 1, 2 * DECODE_CHUNK + 3, 7, 256, 33]]) {
    t(`kvAppend + attentionDecode: B=${lengths.length}, C=${C}, NH=${NH}, new tokens at positions ${lengths.map((n) => n - 1).join(',')}`, async () => {
      const g = await gpu();
      const B = lengths.length, P = 260, stride = Math.ceil((P * 3 * C) / 64) * 64, slots = B + 2;
      // sequence i sits in slot order[i] (not its row; slots 0 and 1 stay unused), its new token at position lengths[i]-1
      const order = lengths.map((_, i) => slots - 1 - i);
      const list: DecodeEntry[] = lengths.map((n, i) => ({ row: i, slot: order[i], pos: n - 1 }));
      const host = caches(slots, stride, C, P, 3 + B);
      for (const e of list) host.fill(NaN, e.slot * stride + e.pos * 3 * C, e.slot * stride + P * 3 * C); // not written yet
      const qkv = randn(B * 3 * C, 11 + C);
      const cache = g.fromArray(host, [slots, stride], 'caches'), tq = g.fromArray(qkv, [B, 3 * C], 'qkv');
      const sentinel = new Float32Array((B + 1) * C).fill(7);
      const out = g.fromArray(sentinel, [B + 1, C], 'out'); // one more row than the entries name: left alone
      const entries = new DecodeEntries(g, list);
      try {
        kvAppend(tq, cache, entries, 0, B, C, stride);
        const expectCache = kvAppendCpu(qkv, host, list, C, stride);
        const got = await cache.read();
        for (const e of list) {
          const at = e.slot * stride + e.pos * 3 * C;
          assert.equal(Array.from(got.subarray(at, at + 3 * C)), Array.from(expectCache.subarray(at, at + 3 * C), Math.fround), `row ${e.row} appended`);
        }
        attentionDecode(cache, entries, 0, B, out, C, NH, stride);
        const ref = attentionDecodeCpu(expectCache, list, B + 1, C, NH, stride);
        const o = await out.read();
        assertRel(o.subarray(0, B * C), ref.subarray(0, B * C), 1e-4, 'attention');
        assert.equal(Array.from(o.subarray(B * C)), Array(C).fill(7), 'a row no entry names is left alone');
        // the reference itself: the last row of a causal forward over the same sequence
        const e = list[B - 1], n = e.pos + 1;
        const seq = expectCache.subarray(e.slot * stride, e.slot * stride + n * 3 * C);
        assertRel(ref.subarray(e.row * C, (e.row + 1) * C), attentionForwardCpu(seq, 1, n, C, NH).out.subarray((n - 1) * C), 1e-12, 'reference = causal forward');
      } finally {
        [cache, tq, out].forEach((z) => z.release());
        entries.release();
      }
    });
  }
}

t('entries split over two cache tensors (slots beyond one binding), each dispatch its own range', async () => {
  const g = await gpu();
  const C = 16, NH = 2, P = 40, stride = Math.ceil((P * 3 * C) / 64) * 64, B = 5;
  // rows 0..4; entries grouped by tensor: tensor 0 holds slots 0..2, tensor 1 slots 0..1
  const list: DecodeEntry[] = [{ row: 3, slot: 2, pos: 9 }, { row: 0, slot: 0, pos: 0 }, { row: 1, slot: 1, pos: 39 }, { row: 4, slot: 0, pos: 17 }, { row: 2, slot: 1, pos: 3 }];
  const h0 = caches(3, stride, C, P, 1), h1 = caches(2, stride, C, P, 2);
  const c0 = g.fromArray(h0, [3, stride], 'tensor 0'), c1 = g.fromArray(h1, [2, stride], 'tensor 1');
  const qkv = randn(B * 3 * C, 5), tq = g.fromArray(qkv, [B, 3 * C], 'qkv'), out = g.tensor([B, C], 'out');
  const entries = new DecodeEntries(g, list);
  try {
    kvAppend(tq, c0, entries, 0, 3, C, stride);
    kvAppend(tq, c1, entries, 3, 2, C, stride);
    attentionDecode(c0, entries, 0, 3, out, C, NH, stride);
    attentionDecode(c1, entries, 3, 2, out, C, NH, stride);
    const r0 = attentionDecodeCpu(kvAppendCpu(qkv, h0, list.slice(0, 3), C, stride), list.slice(0, 3), B, C, NH, stride);
    const r1 = attentionDecodeCpu(kvAppendCpu(qkv, h1, list.slice(3), C, stride), list.slice(3), B, C, NH, stride);
    assertRel(await out.read(), r0.map((v, i) => v + r1[i]), 1e-4, 'both tensors');
    assert.throws(() => attentionDecode(c1, entries, 0, 3, out, C, NH, stride), /slot 2/, 'an entry outside the tensor is rejected');
  } finally {
    [c0, c1, tq, out].forEach((z) => z.release());
    entries.release();
  }
});

t.run();
