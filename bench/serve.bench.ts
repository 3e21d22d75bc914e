// Continuous batching at GPT-2 124M shapes (random weights): aggregate decode tokens/s with 1, 4
// and 8 sequences decoding together at context 128, each step one batched forward plus each
// sequence's sampling (ReplyState, the server's defaults: temperature 1, top-p 1), as the
// server's scheduler runs them. Prompts are prefilled once, outside the timing.
import { GPT2 } from '../src/model/gpt2.ts';
import { GPT2BatchGenerator } from '../src/model/generate.ts';
import { GPT2_124M } from '../src/model/config.ts';
import { ReplyState } from '../src/chat/reply.ts';
import { Rng } from '../src/util/rng.ts';
import { once, registerBench } from './harness.ts';

const CONTEXT = 128, STEPS = 4;

registerBench('serve', (gpu) => {
  const c = GPT2_124M;
  // built by the first case that runs (its warm-up): a --case that picks none builds nothing
  const prefilled = once(async () => {
    const gen = new GPT2BatchGenerator(GPT2.fromArrays(gpu, c, GPT2.initArrays(c, 1)), 8);
    for (let s = 0; s < 8; s++) await gen.prefill(s, Array.from({ length: CONTEXT }, (_, i) => (i * 13 + s) % c.vocab_size));
    return gen;
  });
  const sampling = { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, frequencyPenalty: 0, presencePenalty: 0, penaltyWindow: Infinity };
  const reply = (s: number) => new ReplyState({ sampling, maxNewTokens: Infinity, stops: [], rng: new Rng(s) }, c.n_positions - CONTEXT);
  const streams = (B: number) => async () => {
    const gen = await prefilled();
    const states = Array.from({ length: B }, (_, s) => reply(s));
    const next = Array.from({ length: B }, () => 42);
    for (let s = 0; s < B; s++) gen.truncate(s, CONTEXT); // every run decodes at the same context
    for (let step = 0; step < STEPS; step++) {
      const logits = await gen.decode(next.map((token, slot) => ({ slot, token })));
      logits.forEach((l, s) => {
        const t = states[s].next(l).token;
        if (t === null) states[s] = reply(s + step); // an end of text: a new reply in the same slot
        next[s] = t ?? 42;
      });
    }
  };
  return [1, 4, 8].map((B, i, all) => ({
    name: `decode, ${B} stream${B > 1 ? 's' : ''}`, shape: `context ${CONTEXT}, ${STEPS} steps`, tokens: B * STEPS, run: streams(B),
    cleanup: i === all.length - 1 ? () => void prefilled.peek()?.then((gen) => { gen.release(); for (const p of gen.model.params.values()) p.release(); }) : undefined,
  }));
});
