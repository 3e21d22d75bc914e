// The chat front end without a GPU: sampling, stop strings, prompt building, KV-cache reuse
// and the REPL driven through streams with a scripted FakeGenerator.
import { PassThrough } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { applyPenalties, DEFAULT_SAMPLING, sampleToken, topIndices, type SamplingOptions } from '../src/chat/sampling.ts';
import { StopMatcher } from '../src/chat/stops.ts';
import { buildPrompt, KvMirror } from '../src/chat/context.ts';
import { FakeGenerator, oneHot, replyScript, type Script } from './fake_generator.ts';
import { answer, runRepl } from '../src/node/repl.ts';
import { ChatSession, exchangeTurns, type ChatOptions } from '../src/chat/session.ts';
import { generateReply, ReplyState } from '../src/chat/reply.ts';
import { decode, encode, EOT } from '../src/data/tokenizer.ts';
import { encodeBotTurn, encodeHumanTurn, encodePersona, type Speakers, type Turn } from '../src/data/format.ts';
import { Rng } from '../src/util/rng.ts';
import { mixSeed } from '../src/ops/dropout.ts';

const t = suite('chat');
const V = 50257;
const SP: Speakers = { human: 'Human', bot: 'Bot' };
const plain: SamplingOptions = { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, frequencyPenalty: 0, presencePenalty: 0, penaltyWindow: 64 };

function draws(logits: Float32Array, o: SamplingOptions, n: number, seed = 7): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => sampleToken(logits, [], o, rng));
}
function counts(xs: number[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}

// ---- sampling ----
t('temperature 0 is argmax, ties to the lowest id, after the penalties', () => {
  const l = new Float32Array(V);
  l[900] = 3; l[17] = 3; l[40000] = 2.9;
  assert.is(sampleToken(l, [], { ...DEFAULT_SAMPLING, temperature: 0, repetitionPenalty: 1, frequencyPenalty: 0 }, new Rng(1)), 17);
  // 17 and 900 seen recently: 3/1.15 - 0.2 < 2.9
  assert.is(sampleToken(l, [17, 900], { ...DEFAULT_SAMPLING, temperature: 0 }, new Rng(1)), 40000);
  assert.is(l[17], 3, 'sampleToken leaves the logits alone');
});

t('top-k never picks outside the k best, and picks all of them', () => {
  const l = new Rng(3).fillNormal(new Float32Array(2000), 1) as Float32Array;
  const best = Array.from(l.keys()).sort((a, b) => l[b] - l[a]).slice(0, 5);
  const c = counts(draws(l, { ...plain, topK: 5, temperature: 3 }, 3000));
  for (const id of c.keys()) assert.ok(best.includes(id), `picked ${id}, outside the top 5`);
  assert.is(c.size, 5, 'every one of the 5 best gets picked at high temperature');
  // ties at the boundary go to the lower ids
  const ties = new Float32Array(100);
  ties[50] = 1; ties[10] = 0.5; ties[90] = 0.5; ties[30] = 0.5;
  assert.equal(topIndices(ties, 3), [50, 10, 30]);
});

t('temperature and top-k: draws follow the renormalized softmax(logits / T)', () => {
  const l = new Float32Array(500).fill(-5);
  l[4] = 2; l[8] = 1.5; l[15] = 1; l[16] = 0.99;
  const T = 0.5, n = 10000;
  const c = counts(draws(l, { ...plain, temperature: T, topK: 3 }, n));
  const e = [2, 1.5, 1].map((x) => Math.exp(x / T));
  const z = e.reduce((a, b) => a + b);
  [4, 8, 15].forEach((id, i) => {
    const p = (c.get(id) ?? 0) / n;
    assert.ok(Math.abs(p - e[i] / z) < 0.015, `token ${id}: frequency ${p}, want ${e[i] / z}`);
  });
  assert.is(c.get(16), undefined, 'the 4th best is outside top-k 3');
});

t('top-p keeps the smallest prefix with mass >= p; tokens outside are never picked', () => {
  const probs = [0.5, 0.3, 0.15, 0.05];
  const l = new Float32Array(5000).fill(-Infinity);
  probs.forEach((p, i) => (l[i * 1000 + 1] = Math.log(p)));
  const n = 5000;
  const c = counts(draws(l, { ...plain, topP: 0.75 }, n));
  assert.equal([...c.keys()].sort((a, b) => a - b), [1, 1001], 'nucleus of 0.75 is {0.5, 0.3}');
  assert.ok(Math.abs((c.get(1)! / n) - 0.5 / 0.8) < 0.02, 'renormalized inside the nucleus');
  // at least one token, however small p is
  assert.equal([...counts(draws(l, { ...plain, topP: 1e-9 }, 200)).keys()], [1]);
  // with top-k the nucleus is measured on the renormalized top-k distribution
  // with top-k the nucleus is measured on the renormalized top-k distribution: 0.625 + 0.375
  assert.equal([...counts(draws(l, { ...plain, topK: 2, topP: 0.6 }, 500)).keys()], [1], 'top-2 renormalized, nucleus 0.6');
  const k = counts(draws(l, { ...plain, topK: 2, topP: 0.7 }, 500));
  assert.equal([...k.keys()].sort((a, b) => a - b), [1, 1001], 'top-2 renormalized, nucleus 0.7 needs both');
});

t('top-p alone: the nucleus boundary inside a run of nearly equal tokens, and a wide nucleus', () => {
  // ten tokens 0.001 apart (weight order opposite to id order), about 0.1 each: p = 0.35 keeps 4
  const l = new Float32Array(2000).fill(-Infinity);
  for (let j = 0; j < 10; j++) l[1000 - 10 * j] = 3 - 0.001 * j;
  const c = counts(draws(l, { ...plain, topP: 0.35 }, 2000));
  assert.equal([...c.keys()].sort((a, b) => a - b), [970, 980, 990, 1000]);
  // a realistic spread: compare with a full sort in float64
  const w = new Rng(9).fillNormal(new Float32Array(V), 2) as Float32Array;
  const T = 0.9, topP = 0.9;
  const order = Array.from(w.keys()).sort((a, b) => w[b] - w[a] || a - b);
  const p = order.map((id) => Math.exp((w[id] - w[order[0]]) / T));
  const z = p.reduce((a, b) => a + b);
  let n = 0;
  for (let mass = 0; mass < topP * z; ) mass += p[n++];
  const nucleus = new Set(order.slice(0, n));
  const wide = counts(draws(w, { ...plain, temperature: T, topP }, 1000));
  for (const id of wide.keys()) assert.ok(nucleus.has(id), `picked ${id}, outside the nucleus of ${n}`);
  assert.ok(n > 1000 && wide.size > 300, `nucleus ${n}, drew ${wide.size} distinct tokens`);
});

t('repetition and frequency penalties follow the formula over the window', () => {
  const l = Float32Array.from([2, -2, 1, 3, 0.5]);
  const recent = [4, 4, 4, 0, 1, 0, 2, 0]; // window 5: [0, 1, 0, 2, 0]; the 4s are too old
  applyPenalties(l, recent, { ...plain, repetitionPenalty: 1.5, frequencyPenalty: 0.25, penaltyWindow: 5 });
  const f = Math.fround;
  assert.equal(Array.from(l), [f(2 / 1.5 - 3 * 0.25), f(-2 * 1.5 - 0.25), f(1 / 1.5 - 0.25), 3, 0.5]);
  // OpenAI's frequency and presence penalties: logit -= frequency * count + presence * [count > 0]
  const oa = Float32Array.from([2, -2, 1, 3]);
  applyPenalties(oa, [0, 0, 0, 1, 3], { ...plain, frequencyPenalty: 0.5, presencePenalty: 0.75, penaltyWindow: Infinity });
  assert.equal(Array.from(oa), [f(2 - 1.5 - 0.75), f(-2 - 0.5 - 0.75), 1, f(3 - 0.5 - 0.75)]);
  const off = Float32Array.from([2, -2]);
  applyPenalties(off, [0, 1, 1], { ...plain });
  assert.equal(Array.from(off), [2, -2], 'penalty 1 and 0 change nothing');
});

t('a fixed seed repeats the same sequence; another seed differs', () => {
  const l = new Rng(5).fillNormal(new Float32Array(V), 2) as Float32Array;
  const run = (seed: number) => {
    const rng = new Rng(seed), out: number[] = [];
    for (let i = 0; i < 40; i++) out.push(sampleToken(l, out, DEFAULT_SAMPLING, rng));
    return out;
  };
  assert.equal(run(1337), run(1337));
  assert.not.equal(run(1337), run(1338));
  // seeds past 32 bits keep their high bits (they were dropped: 1 and 2^32 + 1 sampled alike); int32 and uint32 seeds keep their streams
  assert.not.equal(run(1), run(2 ** 32 + 1));
  assert.not.equal(run(2 ** 32 + 1), run(2 ** 33 + 1));
  assert.not.equal(run(-(2 ** 40)), run(0));
  assert.is(new Rng(-1).state, 2 ** 32 - 1);
  assert.is(new Rng(2 ** 32 - 1).state, 2 ** 32 - 1);
  // the same for the seeds train.js derives from its own (LoRA dropout masks, sampled-softmax draws); in-range ones unchanged
  assert.is.not(mixSeed(1, 0), mixSeed(2 ** 32 + 1, 0));
  assert.is(mixSeed(1337, 7, 2), 3169879209);
  assert.is(mixSeed(-5, 0), 1590019544);
});

// ---- stop strings ----
function feed(m: StopMatcher, pieces: string[]): { out: string; emits: string[]; stopped: boolean } {
  const emits: string[] = [];
  let stopped = false;
  for (const p of pieces) {
    const r = m.push(p);
    emits.push(r.emit);
    if (r.stopped) { stopped = true; break; }
  }
  return { out: emits.join(''), emits, stopped };
}

t('StopMatcher: a stop split across pieces is caught and not emitted', () => {
  const r = feed(new StopMatcher(['\nHuman:']), ['Hello', ' there', '\n', 'Hu', 'man', ':', ' more']);
  assert.ok(r.stopped);
  assert.is(r.out, 'Hello there');
  assert.equal(r.emits, ['Hello', ' there', '', '', '', '']);
  const chars = feed(new StopMatcher(['\nHuman:']), [...'ok\nHuman: x']);
  assert.ok(chars.stopped);
  assert.is(chars.out, 'ok');
});

t('StopMatcher: prefixes that turn out not to be stops are emitted', () => {
  const m = new StopMatcher(['\nHuman:']);
  const r = feed(m, ['a\n', 'Hu', 'go', '!\nH']);
  assert.not.ok(r.stopped);
  assert.equal(r.emits, ['a', '', '\nHugo', '!']);
  assert.is(m.flush(), '\nH', 'held text comes out at the end');
  assert.is(m.flush(), '');
  const o = feed(new StopMatcher(['aab']), ['a', 'a', 'a', 'b']);
  assert.ok(o.stopped);
  assert.is(o.out, 'a', 'overlapping prefix');
});

t('StopMatcher: several stop strings, the earliest wins', () => {
  const stops = ['\nHuman:', '\nBot:', 'END'];
  const r = feed(new StopMatcher(stops), ['x\nBo', 't: y']);
  assert.ok(r.stopped);
  assert.is(r.out, 'x');
  assert.is(feed(new StopMatcher(stops), ['fooENDbar\nBot:']).out, 'foo');
  assert.is(feed(new StopMatcher(stops), ['a\nHuman', ' b\nBot', ':']).out, 'a\nHuman b');
  const after = new StopMatcher(stops);
  after.push('END');
  assert.equal(after.push('more'), { emit: '', stopped: true });
  assert.is(after.flush(), '');
});

// ---- prompt building ----
const history: Turn[] = [
  { speaker: 'human', text: 'hi im jane' },
  { speaker: 'bot', text: 'Hello Jane.' },
  { speaker: 'human', text: 'what do you like?' },
  { speaker: 'bot', text: 'Chatting 🧠 with people!' },
];
const persona = 'You are GalaxyBrain, a friendly bot.';
const pieces = {
  persona: encodePersona(persona).tokens,
  ex1: [...encodeHumanTurn(history[0].text, SP).tokens, ...encodeBotTurn(history[1].text, SP).tokens],
  ex2: [...encodeHumanTurn(history[2].text, SP).tokens, ...encodeBotTurn(history[3].text, SP).tokens],
  msg: encodeHumanTurn('and now?', SP).tokens,
};

t('buildPrompt: exactly the format.ts tokens, in order', () => {
  const p = buildPrompt(persona, history, 'and now?', SP, 1000);
  assert.equal(p.tokens, [...pieces.persona, ...pieces.ex1, ...pieces.ex2, ...pieces.msg]);
  assert.is(p.dropped, 0);
  assert.is(decode(p.tokens),
    'You are GalaxyBrain, a friendly bot.\nHuman: hi im jane\nBot: Hello Jane.<|endoftext|>\nHuman: what do you like?\n' +
    'Bot: Chatting 🧠 with people!<|endoftext|>\nHuman: and now?\nBot:');
  assert.equal(buildPrompt('', [], 'x', { human: 'Me', bot: 'AI' }, 100).tokens, encode('Me: x\nAI:'));
});

t('buildPrompt: overflow drops the oldest whole exchanges, keeps the persona, then cuts the persona', () => {
  const full = pieces.persona.length + pieces.ex1.length + pieces.ex2.length + pieces.msg.length;
  let p = buildPrompt(persona, history, 'and now?', SP, full - 1);
  assert.equal(p.tokens, [...pieces.persona, ...pieces.ex2, ...pieces.msg]);
  assert.is(p.dropped, 1);
  const keep = pieces.persona.length + pieces.msg.length;
  p = buildPrompt(persona, history, 'and now?', SP, keep);
  assert.equal(p.tokens, [...pieces.persona, ...pieces.msg]);
  assert.is(p.dropped, 2);
  assert.is(p.personaCut, 0);
  p = buildPrompt(persona, history, 'and now?', SP, keep - 3);
  assert.equal(p.tokens, [...pieces.persona.slice(3), ...pieces.msg]);
  assert.equal([p.dropped, p.personaCut, p.messageCut], [2, 3, 0]);
  p = buildPrompt(persona, history, 'and now?', SP, 4);
  assert.equal(p.tokens, pieces.msg.slice(-4), 'the message alone is cut last, keeping its `Bot:` end');
  // at every budget: within budget, and never half a turn
  const ok = [
    [...pieces.persona, ...pieces.ex1, ...pieces.ex2, ...pieces.msg],
    [...pieces.persona, ...pieces.ex2, ...pieces.msg],
    [...pieces.persona, ...pieces.msg],
  ].map((x) => x.join(','));
  for (let b = keep; b <= full + 2; b++) {
    const q = buildPrompt(persona, history, 'and now?', SP, b);
    assert.ok(q.tokens.length <= b, `budget ${b}`);
    assert.ok(ok.includes(q.tokens.join(',')), `budget ${b}: not whole exchanges`);
  }
});

// ---- generation and the REPL with a fake model ----
const BOT = encode('Bot:');
/** a fake model that answers every message with `reply(prompt)` and then EOT */
function fake(reply: (prompt: readonly number[]) => string = () => ' Hello there', contextLength = 1024): FakeGenerator {
  return new FakeGenerator(replyScript(BOT, (p) => [...encode(reply(p)), EOT], V), { contextLength });
}
function options(o: Partial<ChatOptions> = {}): ChatOptions {
  return {
    sampling: { ...DEFAULT_SAMPLING }, maxNewTokens: 32, seed: 1337, speakers: { ...SP }, persona: '', stops: [], raw: false, quiet: true, ...o,
  };
}
async function pipe(gen: FakeGenerator, lines: string, o: Partial<ChatOptions> = {}, end = true): Promise<{ out: string; log: string }> {
  const input = new PassThrough(), output = new PassThrough(), log = new PassThrough();
  let out = '', logged = '';
  output.on('data', (d) => (out += d));
  log.on('data', (d) => (logged += d));
  input.write(lines);
  if (end) input.end();
  await runRepl(gen, options(o), { input, output, isTTY: false, log });
  await new Promise((r) => setImmediate(r));
  return { out, log: logged };
}

t('REPL over a pipe answers each line with a `Bot:` line, formatted as in training', async () => {
  const gen = fake();
  const { out } = await pipe(gen, 'hi\n');
  assert.is(out, 'Bot: Hello there\n');
  assert.equal(gen.appends[0], encodeHumanTurn('hi', SP).tokens, 'the prompt is the human turn ending in Bot:');
});

t('stop strings end the reply and are not printed; the trimmed reply joins the history', async () => {
  const gen = fake(() => ' Sure.\nHuman: I am the human now');
  const { out } = await pipe(gen, 'hi\n/history\n');
  assert.is(out, 'Bot: Sure.\nHuman: hi\nBot: Sure.\n');
  const bot = new FakeGenerator(replyScript(BOT, () => [...encode(' a\nBot: b'), EOT], V));
  assert.is((await pipe(bot, 'x\n')).out, 'Bot: a\n', '\\nBot: stops too');
  const custom = fake(() => ' one. two. three');
  assert.is((await pipe(custom, 'x\n', { stops: [' two'] })).out, 'Bot: one.\n', '--stop adds a stop string');
});

t('/reset clears the history and the cache; /history shows the turns', async () => {
  const gen = fake();
  const { out } = await pipe(gen, 'hi\n/history\n/reset\n/history\nagain\n');
  assert.is(out, 'Bot: Hello there\nHuman: hi\nBot: Hello there\n(new conversation)\n(no history)\nBot: Hello there\n');
  assert.is(gen.resets, 1);
  assert.equal(gen.tokens.slice(0, encodeHumanTurn('again', SP).tokens.length), encodeHumanTurn('again', SP).tokens,
    'after /reset the prompt starts afresh');
});

t('/persona sets the text placed before the conversation', async () => {
  const gen = fake();
  const { out } = await pipe(gen, '/persona You are a pirate.\n/persona\nahoy\n/persona -\n/persona\n');
  assert.is(out, '(persona set)\npersona: You are a pirate.\nBot: Hello there\n(persona cleared)\n(no persona)\n');
  assert.equal(gen.appends[0], [...encodePersona('You are a pirate.').tokens, ...encodeHumanTurn('ahoy', SP).tokens]);
});

t('raw mode has no persona: /persona says so instead of taking text that no prompt would hold', async () => {
  const gen = fake();
  const { out } = await pipe(gen, '/persona You are a pirate.\n/persona\nOnce upon a time\n', { raw: true });
  assert.is(out.split('\n').filter((l) => l.startsWith('(raw mode has no persona')).length, 2, out);
  assert.not.match(out, /persona set|^persona:/m);
  assert.equal(gen.appends[0], encode('Once upon a time'), 'the line alone is continued');
});

t('/set temperature 0 makes replies greedy; /set lists and rejects bad values', async () => {
  // X and Y nearly tied for three tokens, then EOT
  const X = encode(' yes')[0], Y = encode(' no')[0];
  const script: Script = (tokens) => {
    const k = tokens.length - (tokens.lastIndexOf(BOT[BOT.length - 1]) + 1);
    if (k >= 3) return oneHot(V, EOT);
    const l = new Float32Array(V).fill(-10);
    l[X] = 5; l[Y] = 4.9;
    return l;
  };
  const msgs = 'a\nb\nc\nd\ne\nf\n';
  const sampled = await pipe(new FakeGenerator(script), msgs);
  assert.ok(sampled.out.split('\n').some((l) => l && l !== 'Bot: yes yes yes'), 'temperature 0.8 samples');
  const greedy = await pipe(new FakeGenerator(script), '/set temperature 0\n/set repetition_penalty 1\n/set frequency-penalty 0\n' + msgs);
  assert.is(greedy.out, 'temperature = 0\nrepetition_penalty = 1\nfrequency_penalty = 0\n' + 'Bot: yes yes yes\n'.repeat(6));
  const { out } = await pipe(fake(), '/set top_k 7\n/set\n/set top_p 2\n/set bogus 1\n/set max_new_tokens 5000\n/set top-k\n/set bogus\n');
  assert.match(out, /\ntop_k = 7\nunknown setting 'bogus' \(one of temperature, .*\)\n$/, '/set NAME shows its value');
  assert.match(out, /top_k += 7\n/);
  assert.match(out, /temperature +0\.8\n/);
  assert.match(out, /top_p must be in \(0, 1\]/);
  assert.match(out, /unknown setting 'bogus'/);
  assert.match(out, /max_new_tokens must be < the context length 1024/);
});

t('commands in capitals work (Caps Lock); /set with more than a name and a value changes nothing and says so', async () => {
  const { out } = await pipe(fake(), '/HELP\n/Set Top_K 7\n/set temperature 0.5 top_k 3\n/set\n/QUIT\nhi\n');
  assert.match(out, /^Commands:\n/);
  assert.match(out, /\ntop_k = 7\n\/set takes one name and one value, got 'temperature 0\.5 top_k 3' \(nothing changed\)\n/);
  assert.match(out, /temperature +0\.8\n/, 'the temperature stays');
  assert.match(out, /top_k +7\n/);
  assert.not.match(out, /Bot:/, '/QUIT left');
});

// a terminal: readline in terminal mode over streams (keys as bytes, Ctrl-C is \x03), and a
// model that yields between tokens as a GPU does, so keys arrive while a reply is generated
async function terminal(gen: FakeGenerator, o: Partial<ChatOptions> = {}, pasteMode?: boolean, columns?: number) {
  const input = new PassThrough(), output = Object.assign(new PassThrough(), { columns });
  let out = '';
  output.on('data', (d) => (out += d));
  const append = gen.append.bind(gen);
  gen.append = async (tokens) => {
    await new Promise((r) => setImmediate(r));
    return append(tokens);
  };
  const done = runRepl(gen, options(o), { input, output, isTTY: true, pasteMode });
  const until = async (re: RegExp) => {
    for (const t0 = Date.now(); !re.test(out);) {
      if (Date.now() - t0 > 10_000) throw new Error(`no ${re} after 10 s in:\n${out}`);
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  return { keys: (k: string) => input.write(k), until, done, out: () => out };
}

t('a terminal: Ctrl-C stops the reply, the conversation and the REPL go on', async () => {
  const la = encode(' la')[0];
  const term = await terminal(new FakeGenerator(replyScript(BOT, () => new Array(5000).fill(la), V)), { maxNewTokens: 1000, quiet: false });
  term.keys('hi\r');
  await term.until(/Bot: la la la/);
  term.keys('\x03');
  await term.until(/\(interrupted\)/);
  term.keys('/history\r');
  await term.until(/\nBot: la la[ la]*\r?\n/);
  term.keys('/quit\r');
  await term.done;
  assert.match(term.out(), /Human: hi\r?\nBot: (la ?)+\r?\n/, `the interrupted reply is in the history:\n${term.out()}`);
});

t('a terminal: Ctrl-C before the first token leaves the message alone in the history, with no empty Bot turn', async () => {
  const gen = fake(() => ' ok');
  // the first prefill waits until Ctrl-C is in, so the reply is stopped before any token
  let prefilling = false, release!: () => void;
  const ctrlC = new Promise<void>((r) => (release = r));
  const append = gen.append.bind(gen);
  gen.append = async (tokens) => {
    if (gen.appends.length === 0) {
      prefilling = true;
      await ctrlC;
    }
    return append(tokens);
  };
  const term = await terminal(gen, { quiet: false });
  term.keys('hi\r');
  for (const t0 = Date.now(); !prefilling && Date.now() - t0 < 10_000;) await new Promise((r) => setTimeout(r, 1));
  term.keys('\x03');
  await new Promise((r) => setTimeout(r, 20));
  release();
  await term.until(/\(interrupted\)/);
  term.keys('again\r');
  await term.until(/Bot: ok/);
  term.keys('/history\r/quit\r');
  await term.done;
  assert.match(term.out(), /\nHuman: hi\r?\nHuman: again\r?\nBot: ok\r?\n/, `/history: the stopped message, no empty Bot turn:\n${term.out()}`);
  const prompt = [...encode('Human: hi\n'), ...encodeHumanTurn('again', SP).tokens];
  assert.equal(gen.tokens.slice(0, prompt.length), prompt, 'the next prompt holds the message without a Bot: cue');
});

t('a terminal: Ctrl-C at the prompt drops what was typed (the prompt redrawn empty sent it with the next line)', async () => {
  const term = await terminal(fake(() => ' ok'));
  term.keys('abc');
  term.keys('\x03');
  await term.until(/Ctrl-C interrupts a reply/);
  term.keys('def\r');
  await term.until(/Bot: ok/);
  term.keys('/history\r/quit\r');
  await term.done;
  assert.match(term.out(), /Human: def\r?\nBot: ok/, `/history shows the message as sent:\n${term.out()}`);
  assert.not.match(term.out(), /abcdef/);
});

t('a terminal: lines typed while a reply is generated are each shown after the prompt they answer', async () => {
  const term = await terminal(fake((p) => ` re ${decode(p.slice(-4, -2)).trim()}`));
  term.keys('one\rtwo\rthree\r');
  await term.until(/Bot: re three\n/);
  term.keys('/quit\r');
  await term.done;
  // the prompt alone before `Bot:` read as an empty message answered
  assert.match(term.out(), /\nHuman: two\nBot: re two\nHuman: three\nBot: re three\n/, term.out());
});

t('a terminal: keys typed while a reply is generated are not echoed into it; they come after the next prompt', async () => {
  const la = encode(' la')[0];
  const term = await terminal(new FakeGenerator(replyScript(BOT, () => [...new Array(200).fill(la), EOT], V)), { maxNewTokens: 300 }, true, 20);
  term.keys('hi\r');
  await term.until(/Bot: la la/);
  term.keys('typed ahead\r');
  for (const c of 'a partial line longer than the terminal is wide') { // key by key, as typed
    term.keys(c);
    await new Promise((r) => setImmediate(r));
  }
  await term.until(/Human: typed ahead\nBot: (la ?)+\n/);
  term.keys('\r/quit\r');
  await term.done;
  const out = term.out();
  assert.match(out, /\nBot: la( la){199}\nHuman: typed ahead\nBot: la( la){199}\n/, `the replies whole, each line after the prompt it answers:\n${JSON.stringify(out)}`);
  // the partial line is drawn once, after the second reply, from where the cursor is (not up inside that reply)
  const second = out.indexOf('Human: typed ahead\nBot:');
  const after = out.slice(out.indexOf('\n', second + 'Human: typed ahead\n'.length) + 1);
  assert.match(after, /^\x1b\[1G\x1b\[0JHuman: a partial line longer/, JSON.stringify(after));
  assert.is(out.split('a partial line').length, 2, 'drawn once');
});

t('a terminal: a pasted block of lines is one message (bracketed paste), sent at its last newline or with the line Enter ends', async () => {
  const gen = fake(() => ' ok');
  const term = await terminal(gen);
  await term.until(/Type a message/);
  assert.match(term.out(), /^\x1b\[\?2004h/, 'bracketed paste turned on');
  term.keys('\x1b[200~first line\rsecond line\r\x1b[201~');
  await term.until(/Bot: ok/);
  term.keys('\x1b[200~a\rb\x1b[201~');
  term.keys(' c\r');
  await term.until(/Bot: ok[^]*Bot: ok/);
  term.keys('/history\r/quit\r');
  await term.done;
  assert.match(term.out(), /Human: first line\nsecond line\nBot: ok\nHuman: a\nb c\nBot: ok\n/, `/history: two messages, not five:\n${term.out()}`);
  assert.equal(gen.appends[0], encodeHumanTurn('first line\nsecond line', SP).tokens, 'the lines joined as training joins a turn\'s untagged lines');
  assert.match(term.out(), /\x1b\[\?2004l$/, 'bracketed paste turned off on leaving');
});

t('a terminal: a pasted block that starts with a command runs it (one line), and the lines after it are the next message', async () => {
  const gen = fake(() => ' ok');
  const term = await terminal(gen);
  term.keys('hi\r');
  await term.until(/Bot: ok/);
  term.keys('\x1b[200~/reset\rhello there\rmore\r\x1b[201~');
  await term.until(/Bot: ok[^]*Bot: ok/);
  term.keys('\x1b[200~/set temperature 0\rsecond\r\x1b[201~');
  await term.until(/Bot: ok[^]*Bot: ok[^]*Bot: ok/);
  term.keys('\x1b[200~/history\r\r\x1b[201~'); // nothing after it: no message
  await term.until(/Human: second\nBot: ok\n\S*Human: /);
  term.keys('/quit\r');
  await term.done;
  const out = term.out();
  assert.match(out, /\(new conversation\)\nHuman: hello there\nmore\nBot: ok\n/, `/reset ran, the rest was the next message, shown after its prompt:\n${out}`);
  assert.match(out, /\ntemperature = 0\nHuman: second\nBot: ok\n/, '/set took its line alone');
  assert.match(out, /\nHuman: hello there\nmore\nBot: ok\nHuman: second\nBot: ok\n\S*Human: \S*\/quit/, `/history after the reset:\n${out}`);
  assert.is(gen.resets, 1);
  assert.equal(gen.tokens.slice(0, encodeHumanTurn('hello there\nmore', SP).tokens.length), encodeHumanTurn('hello there\nmore', SP).tokens);
});

t('a terminal: text typed during a reply, Enter not yet pressed, is shown after the next prompt with the cursor after it', async () => {
  const la = encode(' la')[0];
  const term = await terminal(new FakeGenerator(replyScript(BOT, () => [...new Array(20).fill(la), EOT], V)));
  term.keys('hi\r');
  await term.until(/Bot: la/);
  term.keys('\x1b[200~abc\rdef\x1b[201~'); // a paste without its last newline
  await term.until(/Human: def/);
  term.keys('g\r');
  await term.until(/Human: def[^]*Bot: la/);
  term.keys('/history\r/quit\r');
  await term.done;
  assert.match(term.out(), /\nHuman: abc\ndefg\nBot: /, 'sent as shown');
  // 'Human: def' is 10 columns: the 'g' goes in the 11th (at the 8th it covered the 'd' on the screen)
  assert.match(term.out(), /Human: def\x1b\[11Gg/, `the prompt redrawn with the cursor at the end:\n${JSON.stringify(term.out())}`);
});

t('a terminal: SIGTERM or SIGHUP turn bracketed paste off before the process ends', async () => {
  for (const sig of ['SIGTERM', 'SIGHUP'] as const) {
    const before = process.listeners(sig);
    const term = await terminal(fake());
    await term.until(/Type a message/);
    const added = process.listeners(sig).filter((l) => !before.includes(l));
    assert.is(added.length, 1, `a ${sig} listener while the REPL runs`);
    const exit = process.exit;
    let code: unknown;
    process.exit = ((c?: number) => void (code = c)) as typeof process.exit;
    try {
      (added[0] as (s: NodeJS.Signals) => void)(sig);
    } finally {
      process.exit = exit;
    }
    assert.match(term.out(), /\x1b\[\?2004l$/, `${sig}: bracketed paste turned off`);
    assert.is(code, sig === 'SIGTERM' ? 143 : 129);
    term.keys('/quit\r');
    await term.done;
    assert.equal(process.listeners(sig), before, 'the listener goes with the REPL');
  }
});

t('a terminal: Ctrl-Z, then fg: the REPL goes on (readline pauses its input on SIGCONT; chat.js ended without a word) and bracketed paste is on again', async () => {
  const term = await terminal(fake());
  await term.until(/Type a message/);
  const kill = process.kill;
  const sent: unknown[] = [];
  // readline stops the process with SIGTSTP itself: here it is recorded, not sent
  process.kill = (pid: number, sig?: string | number) => (sent.push([pid, sig]), true);
  try {
    term.keys('\x1a');
    await new Promise((r) => setImmediate(r));
  } finally {
    process.kill = kill;
  }
  assert.equal(sent, [[process.pid, 'SIGTSTP']]);
  const before = term.out().length;
  process.emit('SIGCONT', 'SIGCONT'); // fg
  term.keys('hi\r');
  await term.until(/Bot: Hello there/);
  assert.match(term.out().slice(before), /^\x1b\[\?2004h/, 'bracketed paste on again (the shell turned it off)');
  term.keys('/quit\r');
  await term.done;
});

t('a terminal whose output is a pipe (chat.js | head -1): no bracketed-paste codes, which would go into the pipe', async () => {
  const term = await terminal(fake(), {}, false);
  term.keys('hi\r');
  await term.until(/Bot: Hello there/);
  term.keys('/quit\r');
  await term.done;
  assert.not.match(term.out(), /\x1b\[\?2004/);
});

t('/quit ends the REPL with input still open; end of input ends it too', async () => {
  const gen = fake();
  const { out } = await pipe(gen, '/help\n/quit\nhi\n', {}, false);
  assert.match(out, /\/persona TEXT/);
  assert.not.match(out, /Bot:/);
  assert.is((await pipe(fake(), '')).out, '');
  assert.is((await pipe(fake(), 'no newline at the end')).out, 'Bot: Hello there\n');
  assert.is((await pipe(fake(), '/frobnicate\n')).out, 'unknown command /frobnicate; /help lists the commands\n');
  // '//' sends a message that starts with '/' (a path), one slash less
  const gen2 = fake();
  assert.is((await pipe(gen2, '//usr/bin is where it is\n')).out, 'Bot: Hello there\n');
  assert.equal(gen2.appends[0], encodeHumanTurn('/usr/bin is where it is', SP).tokens);
});

t('--raw: plain text continued, no formatting, no default stops, only the continuation printed', async () => {
  const gen = new FakeGenerator(replyScript(encode(' upon'), () => [...encode(' a time\nHuman: there'), EOT], V));
  const session = new ChatSession(gen, options({ raw: true }));
  const output = new PassThrough();
  let out = '';
  output.on('data', (d) => (out += d));
  await answer(session, 'Once upon', { output, tag: false });
  assert.is(out, ' a time\nHuman: there\n');
  assert.equal(gen.appends[0], encode('Once upon'));
  assert.equal(session.history, [], 'raw mode keeps no history');
  const repl = await pipe(new FakeGenerator(replyScript(encode(' upon'), () => [...encode(' a time'), EOT], V)), 'Once upon\n', { raw: true });
  assert.is(repl.out, ' a time\n');
});

t('KV reuse: the second message only prefills the new tokens', async () => {
  const gen = fake();
  const session = new ChatSession(gen, options());
  await session.say('hi');
  const cachedAfterFirst = [...gen.tokens];
  const appendsBefore = gen.appends.length;
  const a = await session.say('how are you?');
  const prompt2 = buildPrompt('', session.history.slice(0, 2), 'how are you?', SP, 1000).tokens;
  assert.equal(prompt2.slice(0, cachedAfterFirst.length), cachedAfterFirst, 'the cache is a prefix of the new prompt');
  assert.equal(gen.appends[appendsBefore], prompt2.slice(cachedAfterFirst.length), 'only the new tokens are appended');
  assert.equal(gen.appends[appendsBefore].slice(0, 2), [EOT, ...encode('\n')]);
  assert.is(a.reply.reusedTokens, cachedAfterFirst.length);
  assert.is(gen.resets, 0);
});

t('KV reuse: a cache that diverges (stop string) is truncated to the common prefix', async () => {
  const gen = fake(() => ' Sure.\nHuman: x');
  const session = new ChatSession(gen, options());
  await session.say('hi');
  const cached = [...gen.tokens];
  const n = gen.appends.length;
  await session.say('ok');
  const prompt2 = buildPrompt('', session.history.slice(0, 2), 'ok', SP, 1000).tokens;
  let lcp = 0;
  while (cached[lcp] === prompt2[lcp]) lcp++;
  assert.ok(lcp < cached.length, 'the cached reply diverges from the history');
  assert.equal(gen.appends[n], prompt2.slice(lcp));
  assert.equal(gen.tokens.slice(0, prompt2.length), prompt2);
});

t('context overflow: old exchanges dropped, reported, and the model never overflows', async () => {
  const gen = fake(() => ' Hello there my friend', 64);
  const { out, log } = await pipe(gen, 'first message here\nsecond message here\nthird message here\nfourth one\n', { maxNewTokens: 16, quiet: false });
  assert.is(out, 'Bot: Hello there my friend\n'.repeat(4));
  assert.match(log, /prefill \d+ tok in \d+ ms \([\d.-]+ tok\/s\).*decode \d+ tok in \d+ ms/);
  assert.match(log, /\(dropped \d+ old exchanges? to fit the context\)/);
  assert.is(log.trim().split('\n').length, 4, 'one statistics line per reply');
  assert.ok(Math.max(...gen.appends.map((x) => x.length)) <= 48);
});

t('the statistics line says when a reply was cut at max_new_tokens, or was empty; not when it ended by itself', async () => {
  const cut = await pipe(fake(() => ' one two three four five six'), 'hi\n', { maxNewTokens: 3, quiet: false });
  assert.is(cut.out, 'Bot: one two three\n');
  assert.match(cut.log, /decode \d+ tok in \d+ ms \([\d.-]+ tok\/s\) \(stopped: max_new_tokens 3 reached\)\n$/);
  const whole = await pipe(fake(() => ' one two'), 'hi\n', { maxNewTokens: 3, quiet: false });
  assert.is(whole.out, 'Bot: one two\n');
  assert.not.match(whole.log, /stopped|empty/);
  // <|endoftext|> first, or a stop string after nothing but whitespace
  for (const reply of ['', ' \nHuman: hi']) {
    const empty = await pipe(fake(() => reply), 'hi\n', { quiet: false });
    assert.is(empty.out, 'Bot: \n');
    assert.match(empty.log, /^prefill [^\n]* \(empty reply: the model ended it at once\)\n$/, `said once: ${JSON.stringify(reply)}`);
  }
  // a terminal: the statistics line goes to the same output as the reply, once
  const term = await terminal(fake(() => ''), { quiet: false });
  term.keys('hi\r');
  await term.until(/empty reply/);
  term.keys('/quit\r');
  await term.done;
  assert.match(term.out(), /\nBot: \nprefill [^\n]* \(empty reply: the model ended it at once\)\n\S*Human: /, term.out());
  assert.is(term.out().split('empty reply').length, 2, 'said once');
});

t('an empty reply is said (with --quiet too) and left out of the conversation: the next prompt holds the message without a `Bot:` cue', async () => {
  const gen = fake((p) => (decode(p).endsWith('again\nBot:') ? ' ok' : ''));
  const { out, log } = await pipe(gen, 'hi\nagain\n/history\n', { quiet: true });
  assert.is(out, 'Bot: \nBot: ok\nHuman: hi\nHuman: again\nBot: ok\n', '/history: no empty Bot turn');
  assert.is(log, '(empty reply: the model ended it at once)\n', 'said once, with --quiet');
  const prompt = [...encode('Human: hi\n'), ...encodeHumanTurn('again', SP).tokens];
  assert.equal(gen.tokens.slice(0, prompt.length), prompt, `the next prompt: ${JSON.stringify(decode(gen.tokens))}`);
  // the page keeps its turns with the same function; serve.js leaves an empty assistant message out likewise
  assert.equal(exchangeTurns('hi', ' \n'), [{ speaker: 'human', text: 'hi' }]);
  assert.equal(exchangeTurns('hi', ' yo '), [{ speaker: 'human', text: 'hi' }, { speaker: 'bot', text: 'yo' }]);
});

t('context overflow: after a drop the next exchanges reuse the cache again', async () => {
  const gen = fake(() => ' Hello there my friend', 128);
  const msgs = Array.from({ length: 11 }, (_, i) => `m${i}`).join('\n') + '\n';
  const { log } = await pipe(gen, msgs, { maxNewTokens: 16, quiet: false });
  const lines = log.trim().split('\n');
  const d = lines.findIndex((l) => l.includes('dropped'));
  assert.ok(d > 0 && d < lines.length - 1, 'a drop happens before the last message');
  assert.not.match(lines[d + 1], /dropped/, 'the next message needs no drop');
  const m = /prefill (\d+) tok in .* \+ (\d+) reused from the cache/.exec(lines[d + 1]);
  assert.ok(m && +m[1] < 15 && +m[2] > 50, `prefills only its new tokens: ${lines[d + 1]}`);
});

t('penalties count the model\'s earlier replies (penaltyContext) but not the prompt', async () => {
  const yes = encode(' yes')[0], no = encode(' no')[0];
  // logits slightly prefer ' yes' over ' no', then EOT
  const script = (tokens: readonly number[]) => {
    const l = new Float32Array(V);
    if (tokens.length > 0 && (tokens[tokens.length - 1] === yes || tokens[tokens.length - 1] === no)) l[EOT] = 100;
    else { l[yes] = 2; l[no] = 1.9; }
    return l;
  };
  const o = { ...DEFAULT_SAMPLING, temperature: 0, repetitionPenalty: 1.3, frequencyPenalty: 0 };
  const prompt = [...encode(' yes yes yes'), ...encodeHumanTurn('x', SP).tokens]; // ' yes' in the prompt: not penalised
  const first = await generateReply(new FakeGenerator(script), new KvMirror(), prompt, { sampling: o, maxNewTokens: 4, stops: [], rng: new Rng(1) });
  assert.is(first.text, ' yes');
  const second = await generateReply(new FakeGenerator(script), new KvMirror(), prompt, {
    sampling: o, maxNewTokens: 4, stops: [], rng: new Rng(1), penaltyContext: first.tokens,
  });
  assert.is(second.text, ' no', 'the earlier reply\'s token is penalised');
});

t('the penalties leave out what the human said: a value said back when told can be recalled', async () => {
  const emma = encode(' Emma')[0], bob = encode(' Bob')[0], nice = encode(' Nice')[0];
  assert.equal([encode(' Emma').length, encode(' Bob').length, encode(' Nice').length], [1, 1, 1]);
  // logits slightly prefer ' Emma' over ' Bob', and ' Nice' over both; then EOT
  const script = (tokens: readonly number[]) => {
    const l = new Float32Array(V);
    const last = tokens[tokens.length - 1];
    if (last === emma || last === bob || last === nice) l[EOT] = 100;
    else { l[nice] = 2.1; l[emma] = 2; l[bob] = 1.9; }
    return l;
  };
  const s = new ChatSession(new FakeGenerator(script), options({ sampling: { ...DEFAULT_SAMPLING, temperature: 0, repetitionPenalty: 1.3, frequencyPenalty: 0.2 } }));
  s.setHistory([{ speaker: 'human', text: 'I am Emma' }, { speaker: 'bot', text: 'Nice to meet you, Emma!' }]);
  const { reply } = await s.say("What's my name?");
  assert.is(reply.text, ' Emma', 'told, so not penalised; the bot\'s own earlier " Nice" still is');
  s.setHistory([{ speaker: 'human', text: 'I am Emma' }, { speaker: 'bot', text: 'Nice to meet you, Emma!' }]);
  assert.equal(s.penaltyContext("What's my name?").map((id) => decode([id])), [' Nice', ' to', ' meet', ' you', ',', '!'], 'the bot\'s own words, less the human\'s');
  s.persona = 'Your name is Bob.';
  s.setHistory([{ speaker: 'human', text: 'hi' }, { speaker: 'bot', text: 'Nice to meet you, Bob! Emma' }]);
  assert.ok(!s.penaltyContext('who are you?').includes(bob), 'the persona counts as told');
  assert.ok(s.penaltyContext('who are you?').includes(emma), 'words the human never said are penalised');
  s.opts.sampling.penaltyWindow = 2;
  assert.equal(s.penaltyContext('x').map((id) => decode([id])), ['!', ' Emma'], 'the window keeps the last tokens');
  s.opts.sampling.penaltyWindow = 0;
  assert.equal(s.penaltyContext('x'), [], 'window 0: none');
});

t('generateReply: max tokens, abort, and characters split across tokens', async () => {
  const loop = new FakeGenerator(() => oneHot(V, encode(' la')[0]));
  const kv = new KvMirror();
  const greedy = { ...DEFAULT_SAMPLING, temperature: 0, repetitionPenalty: 1, frequencyPenalty: 0 };
  const r = await generateReply(loop, kv, [1, 2, 3], { sampling: greedy, maxNewTokens: 5, stops: [], rng: new Rng(1) });
  assert.equal([r.text, r.reason, r.tokens.length, r.decodeTokens], [' la la la la la', 'length', 5, 4]);
  assert.is(kv.tokens.length, loop.cached);
  let n = 0;
  const ab = await generateReply(loop, kv, [1, 2, 3], { sampling: greedy, maxNewTokens: 50, stops: [], rng: new Rng(1), aborted: () => ++n > 2 });
  assert.equal([ab.reason, ab.tokens.length, ab.reusedTokens], ['abort', 2, 2]);
  const emoji = encode(' 🧠🚀');
  assert.ok(emoji.length > 2, 'the emoji span several tokens');
  const gen = new FakeGenerator(replyScript(BOT, () => [...emoji, EOT], V));
  const pieces: string[] = [];
  const e = await generateReply(gen, new KvMirror(), encodeHumanTurn('x', SP).tokens, { sampling: greedy, maxNewTokens: 20, stops: [], rng: new Rng(1), onText: (s) => pieces.push(s) });
  assert.is(e.text, ' 🧠🚀');
  // the pieces streamed make the reply (none at all would pass the check below)
  assert.is(pieces.join(''), ' 🧠🚀', 'streamed through onText');
  assert.ok(pieces.every((p) => !p.includes('\ufffd')), 'no broken characters streamed');
  assert.is(e.reason, 'eot');
});

t('ReplyState: one step per logits row; stop strings held back, limits, end from outside', () => {
  const greedy = { ...DEFAULT_SAMPLING, temperature: 0, repetitionPenalty: 1, frequencyPenalty: 0 };
  const say = (text: string) => encode(text).map((id) => oneHot(V, id));
  // ' Hi\nHuman: x': the stop string arrives over several tokens and is never emitted
  const r = new ReplyState({ sampling: greedy, maxNewTokens: 20, stops: ['\nHuman:'], rng: new Rng(1) }, 100);
  const steps = say(' Hi\nHuman: x').map((l) => (r.done ? null : r.next(l))).filter((x) => x !== null);
  assert.equal(steps.map((x) => x!.text).join(''), ' Hi');
  assert.is(steps.at(-1)!.token, null);
  assert.equal([r.reason, r.text, r.done], ['stop', ' Hi', true]);
  assert.throws(() => r.next(oneHot(V, 1)), /after the reply ended/);
  // EOT ends it; the held-back prefix of a stop string comes out at the end
  const e = new ReplyState({ sampling: greedy, maxNewTokens: 20, stops: ['\nHuman:'], rng: new Rng(1) }, 100);
  assert.is(say(' ok\nHu').map((l) => e.next(l).text).join(''), ' ok', '`\nHu` may still become a stop');
  assert.equal(e.next(oneHot(V, EOT)), { token: null, text: '\nHu' });
  assert.equal([e.reason, e.text], ['eot', ' ok\nHu']);
  // maxNewTokens and room: the token that fills them is the last, and is not fed back
  const m = new ReplyState({ sampling: greedy, maxNewTokens: 2, stops: [], rng: new Rng(1) }, 100);
  assert.is(m.next(oneHot(V, 11)).token, 11);
  assert.equal([m.next(oneHot(V, 12)).token, m.reason, m.tokens], [null, 'length', [11, 12]]);
  const c = new ReplyState({ sampling: greedy, maxNewTokens: 10, stops: [], rng: new Rng(1) }, 1);
  assert.is(c.next(oneHot(V, 11)).token, 11, 'one more token fits the context');
  assert.equal([c.next(oneHot(V, 12)).token, c.reason], [null, 'context']);
  const a = new ReplyState({ sampling: greedy, maxNewTokens: 10, stops: ['END'], rng: new Rng(1) }, 100);
  a.next(oneHot(V, encode(' EN')[0]));
  assert.equal([a.text, a.end('abort'), a.text, a.reason, a.end('eot'), a.reason], [' ', 'EN', ' EN', 'abort', '', 'abort'], 'the held-back EN comes out on abort');
});

t.run();
