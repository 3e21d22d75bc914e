// KV-cached generation against full forwards and the CPU reference model.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GPT2, isF16Weight } from '../src/model/gpt2.ts';
import { GPT2BatchGenerator, GPT2Generator } from '../src/model/generate.ts';
import { DECODE_CHUNK } from '../src/ops/attention_decode.ts';
import { matmulPanels } from '../src/ops/matmul.ts';
import { matvecPanelCopies } from '../src/ops/matvec.ts';
import type { GPT2Config } from '../src/model/config.ts';
import { gpt2Cpu } from './gpt2_cpu.ts';
import { roundF16 } from '../src/util/f16.ts';
import { assertRel, fullLogits, gpu, kernelsRun, maxRelErr, withBindingLimit } from './util.ts';
import { TINY, tinyArrays } from './fixtures.ts';

const t = suite('generate');

t('cached decoding gives the full forward logits at every position (prefill, chunks, single tokens)', async () => {
  const g = await gpu();
  const arrays = tinyArrays(TINY, 11);
  const model = GPT2.fromArrays(g, TINY, arrays);
  const tokens = Array.from({ length: TINY.n_positions }, (_, i) => (i * 7 + 3) % TINY.vocab_size);
  const ref = gpt2Cpu(TINY, arrays, tokens, 1, tokens.length).logits;
  const V = TINY.vocab_size;
  const row = (i: number) => ref.subarray(i * V, (i + 1) * V);
  const gen = new GPT2Generator(model);
  // one token at a time from the start: every position
  const single = new GPT2Generator(model);
  for (let i = 0; i < tokens.length; i++) assertRel(await single.append([tokens[i]]), row(i), 1e-4, `single-token decode at ${i}`);
  // prefill 5, then a chunk of 3, then one token at a time
  assertRel(await gen.append(tokens.slice(0, 5)), row(4), 1e-4, 'prefill');
  assertRel(await gen.append(tokens.slice(5, 8)), row(7), 1e-4, 'chunk');
  for (let i = 8; i < tokens.length; i++) assertRel(await gen.append([tokens[i]]), row(i), 1e-4, `decode at ${i}`);
  assert.is(gen.cached, tokens.length);
  // truncate and re-append reproduces the same logits
  gen.truncate(6);
  assertRel(await gen.append(tokens.slice(6, 7)), row(6), 1e-4, 'after truncate');
  gen.reset();
  assertRel(await gen.append([tokens[0]]), row(0), 1e-4, 'after reset');
  for (const p of model.params.values()) p.release();
});

t('greedy generation equals the CPU reference greedy generation', async () => {
  const g = await gpu();
  const arrays = tinyArrays(TINY, 12);
  const model = GPT2.fromArrays(g, TINY, arrays);
  const gen = new GPT2Generator(model);
  const prompt = [1, 2, 3];
  const argmax = (a: ArrayLike<number>) => {
    let b = 0;
    for (let i = 1; i < a.length; i++) if (a[i] > a[b]) b = i;
    return b;
  };
  const gpuOut: number[] = [];
  let logits = await gen.append(prompt);
  for (let i = 0; i < 10; i++) {
    const tok = argmax(logits);
    gpuOut.push(tok);
    logits = await gen.append([tok]);
  }
  const cpuOut: number[] = [];
  const seq = [...prompt];
  for (let i = 0; i < 10; i++) {
    const l = gpt2Cpu(TINY, arrays, seq, 1, seq.length).logits;
    const tok = argmax(l.subarray((seq.length - 1) * TINY.vocab_size));
    cpuOut.push(tok);
    seq.push(tok);
  }
  assert.equal(gpuOut, cpuOut);
  for (const p of model.params.values()) p.release();
});

/** tokens of sequence k: a fixed pseudo-random stream */
const stream = (k: number, n: number, V: number) => Array.from({ length: n }, (_, i) => (i * (7 + 2 * k) + 3 * k + 1) % V);

/**
 * Sequences join (prefill), decode together one token per step, leave and are replaced in their
 * slot, each at its own length; every logits row must equal the CPU reference's for that
 * sequence and position. `plan[k]` = [join step, prompt length, decode steps].
 */
async function batchedMatchesReference(c: GPT2Config, slots: number, plan: [number, number, number][], bindingLimit?: number): Promise<void> {
  const g = await gpu();
  const arrays = tinyArrays(c, 21);
  const model = GPT2.fromArrays(g, c, arrays);
  const gen = await withBindingLimit(g, bindingLimit ?? g.bindingLimit, () => new GPT2BatchGenerator(model, slots));
  if (bindingLimit) assert.ok(gen.slotsPerTensor < slots, `the caches are split: ${gen.slotsPerTensor} slots per tensor`);
  const V = c.vocab_size;
  const seqs = plan.map(([join, prompt, steps], k) => ({ k, join, prompt, steps, tokens: stream(k, prompt + steps, V), done: 0, slot: -1 }));
  const refs = seqs.map((s) => gpt2Cpu(c, arrays, s.tokens, 1, s.tokens.length).logits);
  const row = (k: number, i: number) => refs[k].subarray(i * V, (i + 1) * V);
  const free = Array.from({ length: slots }, (_, i) => i);
  let checked = 0;
  for (let step = 0; seqs.some((s) => s.done < s.steps); step++) {
    // leave: finished sequences free their slot (the next one may land in it, with stale rows)
    for (const s of seqs) if (s.slot >= 0 && s.done === s.steps) { gen.truncate(s.slot, 0); free.push(s.slot); s.slot = -1; }
    // join: prefill the prompt into a free slot
    for (const s of seqs) {
      if (s.join !== step) continue;
      s.slot = free.shift()!;
      assert.is(gen.cached(s.slot), 0);
      assertRel(await gen.prefill(s.slot, s.tokens.slice(0, s.prompt)), row(s.k, s.prompt - 1), 1e-4, `seq ${s.k} prefill`);
      checked++;
    }
    // one batched step for every joined sequence with tokens left
    const active = seqs.filter((s) => s.slot >= 0 && s.done < s.steps);
    if (!active.length) continue;
    const logits = await gen.decode(active.map((s) => ({ slot: s.slot, token: s.tokens[s.prompt + s.done] })));
    active.forEach((s, i) => {
      const pos = s.prompt + s.done;
      assertRel(logits[i], row(s.k, pos), 1e-4, `seq ${s.k} (slot ${s.slot}) at position ${pos}, step ${step} with ${active.length} in the batch`);
      assert.is(gen.cached(s.slot), pos + 1);
      s.done++;
      checked++;
    });
  }
  assert.ok(checked > plan.length);
  gen.release();
  for (const p of model.params.values()) p.release();
}

// n_positions past the decode attention's key chunk, so lengths cross it
const LONG: GPT2Config = { ...TINY, n_positions: DECODE_CHUNK + 24 };

// f16 weights (inference, --dtype f16). Two checks: (1) the f16 generator computes exactly the
// model whose matrices are the f16-rounded ones: it matches the float64 reference on those
// weights as tightly as f32 matches f32 (1e-4): prefill through matmul (12 rows: the CPU adapter's
// packing reads the f16 matrices, other adapters widen them first), decode
// through matvec; (2) what the rounding costs: f16 logits vs f32 logits. Each rounded weight is
// off by at most 2^-11 (4.9e-4) of itself, so each rounded matrix adds an error of about 2^-11 of
// its output's scale (less where errors of random sign cancel); a token passes 4 of them per block
// and the lm_head: to first order the logits are within (4 n_layer + 1) · 2^-11 of the logit
// scale (max |logit|), 4.4e-3 for the 2-block TINY (measured: ~1e-3). Greedy tokens must agree
// wherever the f32 top two logits are further apart than twice that.
const F16_LOGIT_TOL = (4 * TINY.n_layer + 1) * 2 ** -11;

t('f16 weights: logits equal the float64 reference over f16-rounded weights (prefill via matmul, decode via matvec)', async () => {
  const g = await gpu();
  const arrays = tinyArrays(TINY, 21);
  const rounded = new Map([...arrays].map(([k, v]) => [k, isF16Weight(k) ? roundF16(v) : v]));
  const model = GPT2.fromArrays(g, TINY, arrays, undefined, 'f16');
  assert.is(model.weightsDtype, 'f16');
  assert.is(model.p('h.0.mlp.c_fc.weight').dtype, 'f16');
  assert.is(model.p('h.0.mlp.c_fc.bias').dtype, 'f32');
  const tokens = Array.from({ length: TINY.n_positions }, (_, i) => (i * 5 + 2) % TINY.vocab_size);
  const ref = gpt2Cpu(TINY, rounded, tokens, 1, tokens.length).logits;
  const V = TINY.vocab_size, row = (i: number) => ref.subarray(i * V, (i + 1) * V);
  const ran = await kernelsRun(g, async () => {
    // on a CPU adapter the generator packs the decode copies (matmul_pack's f16 variant reads the
    // f16 matrices), and prefill's matmul (and fullLogits below) then reads those copies
    const gen = new GPT2Generator(model);
    assertRel(await gen.append(tokens.slice(0, 12)), row(11), 1e-4, 'prefill of 12');
    for (let i = 12; i < tokens.length; i++) assertRel(await gen.append([tokens[i]]), row(i), 1e-4, `decode at ${i}`);
  });
  const prefillF16 = matmulPanels(g) ? /^matmul_pack_f16\./ : /^widen_f16\./;
  // decode: matvec_panels over copies packed by matmul_pack's f16 variant (CPU adapters; prefill's
  // matmul then reads those copies too), or the matvec kernels' f16 variants
  const decodeF16 = matvecPanelCopies(g) ? [/^matmul_pack_f16\./, /^matvec_panels\./] : [/^matvec_t(_sg)?_f16\./, /^matvec(_sg)?_f16\./];
  for (const k of [prefillF16, ...decodeF16, /^embedding_forward_f16\./]) {
    assert.ok([...ran.keys()].some((r) => k.test(r)), `${k} ran: ${[...ran.keys()]}`);
  }
  // the tape model's forward (eval's held-out loss) reads the f16 weights through matmul and gives the same logits
  const full = await fullLogits(model, Uint32Array.from(tokens), 1, tokens.length).read();
  assertRel(full, ref, 1e-4, 'fullLogits with f16 weights');
  for (const p of model.params.values()) p.release();
});

t('f16 weights vs f32: logits within (4 n_layer + 1) 2^-11 of the logit scale, greedy top-1 equal except near-ties', async () => {
  const g = await gpu();
  const arrays = tinyArrays(TINY, 22);
  const m32 = GPT2.fromArrays(g, TINY, arrays), m16 = GPT2.fromArrays(g, TINY, arrays, undefined, 'f16');
  const V = TINY.vocab_size;
  const prompts = [[1, 2, 3], [5], [7, 7, 7, 7], [0, 36, 18, 9, 4, 30, 11, 2, 25, 13], [33, 1], [12, 24, 6, 3, 20]];
  let compared = 0, agreed = 0, worst = 0;
  for (const prompt of prompts) {
    const g32 = new GPT2Generator(m32), g16 = new GPT2Generator(m16);
    let l32 = await g32.append(prompt), l16 = await g16.append(prompt);
    // teacher-forced on the f32 greedy path: both models see the same tokens at every step
    for (let step = 0; prompt.length + step < TINY.n_positions; step++) {
      const scale = Math.max(...Array.from(l32, Math.abs));
      const err = maxRelErr(l16, l32);
      worst = Math.max(worst, err);
      assert.ok(err <= F16_LOGIT_TOL, `prompt ${prompt} step ${step}: f16 logits off by ${err.toExponential(2)} of the scale ${scale.toFixed(2)}`);
      const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => l32[b] - l32[a]);
      const top16 = Array.from(l16).indexOf(Math.max(...l16));
      // a tie within f16 rounding: the top two f32 logits closer than the error bound on both
      const nearTie = l32[order[0]] - l32[order[1]] <= 2 * F16_LOGIT_TOL * scale;
      if (!nearTie) {
        compared++;
        assert.is(top16, order[0], `prompt ${prompt} step ${step}: greedy token ${top16} (f16) vs ${order[0]} (f32)`);
      }
      if (top16 === order[0]) agreed++;
      [l32, l16] = [await g32.append([order[0]]), await g16.append([order[0]])];
    }
  }
  assert.ok(compared >= 50, `only ${compared} greedy steps were clear of near-ties`);
  assert.ok(worst > 0, 'f16 and f32 logits are identical: the f16 weights were not rounded');
  for (const p of [...m32.params.values(), ...m16.params.values()]) p.release();
});

t('batched decoding: B=3 sequences of different lengths, joining and leaving, equal the reference per sequence', async () => {
  await batchedMatchesReference(TINY, 3, [[0, 3, 6], [0, 9, 4], [2, 1, 10], [5, 5, 6], [6, 2, 3]]);
});

t('batched decoding: B=8 (and B=1 steps), lengths crossing the decode chunk size', async () => {
  const C = DECODE_CHUNK;
  await batchedMatchesReference(LONG, 8, [
    [0, C - 2, 5], [0, 2, 3], [0, C + 10, 6], [1, 40, 8], [1, 7, 2], [1, C, 4], [2, 3, 3], [2, 90, 2], [4, C - 1, 3], [12, 5, 2],
  ]);
});

t('batched decoding: caches split over several tensors under a small binding limit', async () => {
  const stride = Math.ceil((TINY.n_positions * 3 * TINY.n_embd) / 64) * 64;
  await batchedMatchesReference(TINY, 5, [[0, 4, 5], [0, 2, 6], [0, 6, 3], [1, 3, 4], [1, 5, 5], [4, 2, 3]], 2 * stride * 4);
});

t('GPT2BatchGenerator rejects a slot twice in a step, a full context and a bad token', async () => {
  const g = await gpu();
  const model = GPT2.fromArrays(g, TINY, tinyArrays(TINY, 5));
  const gen = new GPT2BatchGenerator(model, 2);
  await gen.prefill(0, [1, 2]);
  let threw = '';
  try { await gen.decode([{ slot: 0, token: 1 }, { slot: 0, token: 2 }]); } catch (e) { threw = (e as Error).message; }
  assert.match(threw, /slot 0 given twice/);
  threw = '';
  try { await gen.decode([{ slot: 1, token: TINY.vocab_size }]); } catch (e) { threw = (e as Error).message; }
  assert.match(threw, /outside the vocabulary/);
  await gen.prefill(1, stream(1, TINY.n_positions, TINY.vocab_size));
  threw = '';
  try { await gen.decode([{ slot: 1, token: 3 }]); } catch (e) { threw = (e as Error).message; }
  assert.match(threw, /context overflow/);
  assert.is(gen.cached(0), 2, 'failed steps change no lengths');
  gen.release();
  for (const p of model.params.values()) p.release();
});

t.run();
