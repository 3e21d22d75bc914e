// End-to-end GPT-2 124M figures: one training step (forward + backward + AdamW), the same step
// training a LoRA adapter (r 8 on c_attn, the base frozen) with its time, memory and checkpoint
// size against full fine-tuning, and with the frozen base in f16 (train.js --lora 8 --dtype f16);
// prompt prefill and KV-cached decode, the latter two also with f16 weights (--dtype f16) and the
// weights' GPU bytes in each.
// Random weights: speed does not depend on their values.
import { GPT2 } from '../src/model/gpt2.ts';
import type { Tensor } from '../src/gpu/index.ts';
import { checkLora, initLoraArrays, type LoraSettings } from '../src/model/lora.ts';
import { GPT2BatchGenerator, GPT2Generator } from '../src/model/generate.ts';
import { GPT2_124M } from '../src/model/config.ts';
import { AdamW } from '../src/optim.ts';
import { median, once, registerBench, timeOnce } from './harness.ts';

registerBench('gpt2', (gpu, { batch, big }) => {
  const c = GPT2_124M;
  // every model and optimizer is built by the first case that runs on it (once)
  const arrays = once(() => GPT2.initArrays(c, 1));
  const model = once(() => GPT2.fromArrays(gpu, c, arrays()));
  const T = big ? 1024 : 128;
  const B = batch;
  const x = Uint32Array.from({ length: B * T }, (_, i) => (i * 31) % c.vocab_size);
  const y = Int32Array.from({ length: B * T }, (_, i) => (i * 17) % c.vocab_size);
  const hyper = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClip: 1 };
  const opt = once(() => new AdamW(gpu, model().params, hyper));
  const lora: LoraSettings = { r: 8, alpha: 16, dropout: 0, targets: ['c_attn'] };
  const loraModel = once(() => GPT2.fromArrays(gpu, c, arrays(), { settings: lora, arrays: initLoraArrays(checkLora(c, lora), lora.r, 1) }));
  const loraOpt = once(() => new AdamW(gpu, loraModel().trainable, hyper));
  const loraF16 = once(() => {
    const m = GPT2.fromArrays(gpu, c, arrays(), { settings: lora, arrays: initLoraArrays(checkLora(c, lora), lora.r, 1) }, 'f16');
    return { model: m, opt: new AdamW(gpu, m.trainable, hyper) };
  });
  const step = (m: GPT2, o: AdamW) => () => {
    o.zeroGrad();
    m.lossPerToken(x, y, B, T, 1 / (B * T));
    m.tape.backward();
    m.tape.clear();
    o.update(1e-4);
  };
  // what training keeps on the device besides activations, and what a checkpoint holds (trained tensors + AdamW's m and v)
  const bytes = (ts: Iterable<Tensor | null>) => [...ts].reduce((s, t) => s + (t?.bytes ?? 0), 0);
  const footprint = (m: GPT2, o: AdamW) => {
    const all = [...m.params.values(), ...(m.lora?.params.values() ?? [])];
    return { memory: bytes(all) + bytes(all.map((p) => p.grad)) + bytes([...o.m.values(), ...o.v.values()]), checkpoint: 3 * bytes(m.trainable.values()) };
  };
  const MB = (b: number) => (b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : `${(b / 1e6).toFixed(1)} MB`);
  type Timed = { wall: number; gpu?: number };
  const pairs: [Timed, Timed][] = [], basePairs: [Timed, Timed][] = [];
  const ms = (t: Timed) => t.gpu ?? t.wall;
  const prompt = Array.from({ length: 512 }, (_, i) => (i * 13) % c.vocab_size);
  const fill = (generator: () => GPT2Generator, n: number) => async () => {
    const gen = generator();
    gen.reset();
    await gen.append(prompt.slice(0, Math.min(n, 512)));
    if (n > 512) await gen.append(Array.from({ length: n - 512 }, (_, i) => (i * 7) % c.vocab_size));
  };
  const decodeAt = (generator: () => GPT2Generator, ctx: number) => {
    let ready = false;
    return async () => {
      if (!ready) { await fill(generator, ctx)(); ready = true; }
      const gen = generator();
      gen.truncate(ctx); // same context length every run
      await gen.append([42]);
    };
  };
  const gen = once(() => new GPT2Generator(model()));
  // f16 weights (after the training cases released their state), the same arrays rounded
  const f16 = once(() => new GPT2Generator(GPT2.fromArrays(gpu, c, arrays(), undefined, 'f16')));
  const weightBytes = (m: GPT2) => bytes(m.params.values());
  const copyBytes = (m: GPT2) => [...m.params.values()].reduce((s, p) => s + gpu.keptBytes(p), 0);
  const memoryNote = () => {
    // the f32 model only where a case of its own built it: an f16-only --case builds none for a note
    const m32 = gen.peek()?.model, m16 = f16().model; // each with decode's packed copies
    if (!m32) return `weights on the GPU: f16 ${MB(weightBytes(m16))}` + (copyBytes(m16) ? `, and decode's packed f32 copies ${MB(copyBytes(m16))}` : '');
    return `weights on the GPU: f16 ${MB(weightBytes(m16))} vs f32 ${MB(weightBytes(m32))} (${(weightBytes(m16) / weightBytes(m32)).toFixed(3)}x)` +
      (copyBytes(m32) ? `, and decode's packed f32 copies ${MB(copyBytes(m16))} and ${MB(copyBytes(m32))}` : '');
  };
  // f32 and f16 decode alternate, each timed alone, so that a change in the machine's load hits both
  const decodePair = (ctx: number) => {
    const pairs: [number, number][] = [];
    const [d32, d16] = [decodeAt(gen, ctx), decodeAt(f16, ctx)];
    return {
      name: `decode pair: f32 + f16 weights @ context ${ctx}`, shape: '1 token each', tokens: 2,
      run: async () => { pairs.push([(await timeOnce(gpu, d32)).wall, (await timeOnce(gpu, d16)).wall]); },
      reset: () => { pairs.length = 0; },
      report: () => {
        const m = pairs.slice(1); // the first pair was the warm-up
        const [a, b] = [median(m.map(([x]) => x)), median(m.map(([, y]) => y))];
        const r = m.map(([x, y]) => x / y);
        return `${m.length} alternating pairs: f32 ${(1000 / a).toFixed(2)} tok/s, f16 ${(1000 / b).toFixed(2)} tok/s: f16/f32 speed ${(a / b).toFixed(2)}x ` +
          `(pairs ${Math.min(...r).toFixed(2)}-${Math.max(...r).toFixed(2)}x); ${memoryNote()}`;
      },
    };
  };
  const f16Cases = [
    { name: 'prefill f16 weights', shape: '512-token prompt', tokens: 512, run: fill(f16, 512), report: memoryNote },
    { name: 'decode f16 weights @ context 128', shape: '1 token', tokens: 1, run: decodeAt(f16, 128), report: memoryNote },
    { name: 'decode f16 weights @ context 1000', shape: '1 token', tokens: 1, run: decodeAt(f16, 1000) },
    decodePair(128),
    {
      ...decodePair(1000),
      cleanup: () => {
        (f16.peek()?.batch as GPT2BatchGenerator | undefined)?.release();
        for (const p of [...(f16.peek()?.model.params.values() ?? []), ...(model.peek()?.params.values() ?? [])]) p.release();
      },
    },
  ];
  return [
    {
      name: 'train step (fwd+bwd+AdamW)', shape: `B=${B} T=${T}`, tokens: B * T, flops: 6 * 124.4e6 * B * T,
      run: () => step(model(), opt())(),
    },
    {
      // full and LoRA steps alternate, each timed alone, so that a change in the machine's load hits both
      name: 'train step pair: full + LoRA', shape: `B=${B} T=${T}, LoRA r8 c_attn`, tokens: 2 * B * T,
      run: async () => {
        pairs.push([await timeOnce(gpu, step(model(), opt())), await timeOnce(gpu, step(loraModel(), loraOpt()))]);
      },
      reset: () => { pairs.length = 0; },
      report: () => {
        const measured = pairs.slice(1); // the first pair was the warm-up
        const full = median(measured.map(([f]) => ms(f))), lora = median(measured.map(([, l]) => ms(l)));
        const ratios = measured.map(([f, l]) => ms(l) / ms(f));
        const f = footprint(model(), opt()), l = footprint(loraModel(), loraOpt());
        return `${measured.length} alternating pairs: full step ${full.toFixed(0)} ms, LoRA step ${lora.toFixed(0)} ms: LoRA/full ${(lora / full).toFixed(2)}x ` +
          `(pairs ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}x); params + grads + AdamW ${MB(l.memory)} vs ${MB(f.memory)} (${(l.memory / f.memory).toFixed(3)}x); ` +
          `checkpoint ${MB(l.checkpoint)} vs ${MB(f.checkpoint)} (${(l.checkpoint / f.checkpoint).toFixed(4)}x)`;
      },
      cleanup: () => {
        const o = opt.peek();
        for (const t of [...(o?.m.values() ?? []), ...(o?.v.values() ?? [])]) t.release();
        for (const p of model.peek()?.params.values() ?? []) p.grad?.release(), (p.grad = null);
      },
    },
    {
      // the LoRA step with its frozen base in f32 and in f16, alternating as above
      name: 'LoRA step pair: f32 + f16 base', shape: `B=${B} T=${T}, LoRA r8 c_attn`, tokens: 2 * B * T,
      run: async () => {
        const h = loraF16();
        basePairs.push([await timeOnce(gpu, step(loraModel(), loraOpt())), await timeOnce(gpu, step(h.model, h.opt))]);
      },
      reset: () => { basePairs.length = 0; },
      report: () => {
        const measured = basePairs.slice(1);
        const f32 = median(measured.map(([a]) => ms(a))), f16 = median(measured.map(([, b]) => ms(b)));
        const ratios = measured.map(([a, b]) => ms(b) / ms(a));
        const a = footprint(loraModel(), loraOpt()), b = footprint(loraF16().model, loraF16().opt);
        return `${measured.length} alternating pairs: f32 base ${f32.toFixed(0)} ms, f16 base ${f16.toFixed(0)} ms: f16/f32 ${(f16 / f32).toFixed(2)}x ` +
          `(pairs ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}x); params + grads + AdamW ${MB(b.memory)} vs ${MB(a.memory)} (${(b.memory / a.memory).toFixed(3)}x)`;
      },
      cleanup: () => {
        const [m, o, h] = [loraModel.peek(), loraOpt.peek(), loraF16.peek()];
        for (const t of [...(m ? [...m.params.values(), ...m.trainable.values()] : []), ...(o ? [...o.m.values(), ...o.v.values()] : []),
          ...(h ? [...h.model.params.values(), ...h.model.trainable.values(), ...h.opt.m.values(), ...h.opt.v.values()] : [])]) t.release();
      },
    },
    { name: 'prefill', shape: '512-token prompt', tokens: 512, run: fill(gen, 512) },
    { name: 'decode @ context 128', shape: '1 token', tokens: 1, run: decodeAt(gen, 128) },
    { name: 'decode @ context 1000', shape: '1 token', tokens: 1, run: decodeAt(gen, 1000) },
    ...f16Cases, // the last one releases both models
  ];
});
