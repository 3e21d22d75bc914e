// KV-cached generation against full forwards and the CPU reference model.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GPT2 } from '../src/model/gpt2.ts';
import { GPT2Generator } from '../src/model/generate.ts';
import { gpt2Cpu } from './gpt2_cpu.ts';
import { assertRel, gpu } from './util.ts';
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

t.run();
