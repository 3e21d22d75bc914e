// End-to-end GPT-2 124M figures: one training step (forward + backward + AdamW), prompt
// prefill and KV-cached decode. Random weights: speed does not depend on their values.
import { GPT2 } from '../src/model/gpt2.ts';
import { GPT2Generator } from '../src/model/generate.ts';
import { GPT2_124M } from '../src/model/config.ts';
import { AdamW } from '../src/optim.ts';
import { registerBench } from './harness.ts';

registerBench('gpt2', (gpu, { batch, big }) => {
  const c = GPT2_124M;
  const model = GPT2.fromArrays(gpu, c, GPT2.initArrays(c, 1));
  const T = big ? 1024 : 128;
  const B = batch;
  const x = Uint32Array.from({ length: B * T }, (_, i) => (i * 31) % c.vocab_size);
  const y = Int32Array.from({ length: B * T }, (_, i) => (i * 17) % c.vocab_size);
  const opt = new AdamW(gpu, model.params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClip: 1 });
  const gen = new GPT2Generator(model);
  const prompt = Array.from({ length: 512 }, (_, i) => (i * 13) % c.vocab_size);
  const fill = (n: number) => async () => {
    gen.reset();
    await gen.append(prompt.slice(0, Math.min(n, 512)));
    if (n > 512) await gen.append(Array.from({ length: n - 512 }, (_, i) => (i * 7) % c.vocab_size));
  };
  const decodeAt = (ctx: number) => {
    let ready = false;
    return async () => {
      if (!ready) { await fill(ctx)(); ready = true; }
      gen.truncate(ctx); // same context length every run
      await gen.append([42]);
    };
  };
  return [
    {
      name: 'train step (fwd+bwd+AdamW)', shape: `B=${B} T=${T}`, tokens: B * T, flops: 6 * 124.4e6 * B * T,
      run: () => {
        opt.zeroGrad();
        model.lossPerToken(x, y, B, T, 1 / (B * T));
        model.tape.backward();
        model.tape.clear();
        opt.update(1e-4);
      },
    },
    { name: 'prefill', shape: '512-token prompt', tokens: 512, run: fill(512) },
    { name: 'decode @ context 128', shape: '1 token', tokens: 1, run: decodeAt(128) },
    {
      name: 'decode @ context 1000', shape: '1 token', tokens: 1, run: decodeAt(1000),
      cleanup: () => { for (const p of model.params.values()) p.release(); },
    },
  ];
});
