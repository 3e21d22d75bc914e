// The OpenAI-compatible server on a small random checkpoint: the same replies as chat.js,
// streamed = not streamed, batched = alone, the official `openai` client, every error case
// (each followed by a good request), disconnects, and `node dist/serve.js` as a process.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import type { ChatCompletion, ChatCompletionChunk, Completion, Model } from 'openai/resources';
import { ApiError, chatChunk, chatCompletion, contextFacts, modelObject, parseChatRequest, textCompletion, usage, usageChunk } from '../src/server/api.ts';
import { encodeHumanTurn, encodePersona, DEFAULT_SPEAKERS } from '../src/data/format.ts';
import { Rng } from '../src/util/rng.ts';
import { decode } from '../src/data/tokenizer.ts';
import type { ReplyOptions } from '../src/chat/reply.ts';
import { assertOneLineError, start, stderrLines, waitForStdout } from './child.ts';
import { saveAdapter } from '../src/node/adapter_dir.ts';
import { checkLora, initLoraArrays, type LoraSettings } from '../src/model/lora.ts';
import { ApiServer } from '../src/server/http.ts';
import type { Job, Scheduler } from '../src/server/scheduler.ts';
import { parameterShapes } from '../src/model/config.ts';
import { isF16Weight } from '../src/model/gpt2.ts';
import { events, randomCheckpoint, request, SERVE_CONFIG, startServer, streamedContent, type TestServer } from './serve_util.ts';

const t = suite('serve');
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = randomCheckpoint();
let srv: TestServer;

const chat = (content: string, extra: Record<string, unknown> = {}) => ({ messages: [{ role: 'user', content }], temperature: 0, max_tokens: 12, ...extra });

/** node dist/NAME.js ARGS; resolves with its exit code and output */
function run(name: string, args: string[], timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'dist', `${name}.js`), ...args], { cwd: ROOT });
  let stdout = '', stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${name}.js ${args.join(' ')}: still running after ${timeoutMs} ms\n${stdout}\n${stderr}`)); }, timeoutMs);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

t.before(async () => {
  srv = await startServer(dir, { maxBatch: 4 });
});
t.after(async () => {
  await srv.close();
});

t('response objects have the shapes of the openai package types', () => {
  // compile-time: tsc checks these assignments against the official client's types (npm test type-checks test/)
  const h = { id: 'x', created: 1, model: 'tiny' };
  const u = usage(3, 4);
  const c: ChatCompletion = chatCompletion(h, 'hi', 'stop', u);
  const k: ChatCompletionChunk[] = [chatChunk(h, { role: 'assistant', content: '' }, null, true), chatChunk(h, {}, 'length', false), usageChunk(h, 'chat.completion.chunk', u)];
  const p: Completion = textCompletion(h, 'hi', 'stop', u);
  const m: Model = modelObject({ id: 'tiny', contextLength: 96, vocabSize: 50257, created: 1 });
  assert.equal([c.usage?.total_tokens, k.length, p.choices[0].text, m.object], [7, 3, 'hi', 'model']);
});

t('greedy content equals chat.js --prompt for the same conversation (persona as a system message)', async () => {
  for (const [persona, message] of [['You are a pirate.', 'Hi there, what is your name?']]) {
    const r = await run('chat', ['--init', dir, '--prompt', message, ...(persona ? ['--persona', persona] : []),
      '--temperature', '0', '--repetition-penalty', '1', '--frequency-penalty', '0', '--max-new-tokens', '12', '--quiet']);
    assert.is(r.code, 0, r.stderr);
    const messages = [...(persona ? [{ role: 'system', content: persona }] : []), { role: 'user', content: message }];
    const s = await request(srv.url, '/v1/chat/completions', { messages, temperature: 0, max_tokens: 12 });
    assert.is(s.status, 200, s.text);
    assert.ok(r.stdout.trim().length > 0, 'a non-empty reply');
    assert.is(`${s.json.choices[0].message.content}\n`, r.stdout, `persona '${persona}'`);
    assert.is(s.json.usage.prompt_tokens, encodeHumanTurn(message, DEFAULT_SPEAKERS).tokens.length + (persona ? encodePersona(persona).tokens.length : 0));
  }
});

t('a model trained with other speaker tags gets its prompt and stops in those tags', () => {
  const sp = { human: 'User', bot: 'Assistant' };
  const model = { id: 'tagged', contextLength: 96, vocabSize: 50257, created: 1, speakers: sp };
  const r = parseChatRequest({ messages: [{ role: 'user', content: 'Hi there' }] }, model, () => 1);
  assert.equal(r.prompt, encodeHumanTurn('Hi there', sp).tokens);
  assert.ok(decode(r.prompt).endsWith('User: Hi there\nAssistant:'), decode(r.prompt));
  assert.equal(r.reply.stops.slice(0, 2), ['\nUser:', '\nAssistant:']);
  // without tags: Human/Bot
  const d = parseChatRequest({ messages: [{ role: 'user', content: 'Hi there' }] }, { ...model, speakers: undefined }, () => 1);
  assert.equal(d.prompt, encodeHumanTurn('Hi there', DEFAULT_SPEAKERS).tokens);
});

t('an empty assistant message is left out of the prompt, as chat.js and the page leave an empty reply out of their history', () => {
  const model = { id: 'tiny', contextLength: 96, vocabSize: 50257, created: 1 };
  for (const content of ['', ' ', null]) {
    const r = parseChatRequest({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content }, { role: 'user', content: 'again' }] }, model, () => 1);
    assert.is(decode(r.prompt), 'Human: hi\nHuman: again\nBot:', JSON.stringify(content));
  }
  // it still counts as the last message: the user's must come after it
  assert.throws(() => parseChatRequest({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: '' }] }, model, () => 1), /last message/);
});

t('contextFacts: a context_length_exceeded message without the API\'s remedy, for the page to say its own; param says which case', () => {
  const model = { id: 'tiny', contextLength: 64, vocabSize: 50257, created: 1 };
  const refusal = (body: object) => {
    try {
      parseChatRequest(body, model, () => 1);
    } catch (e) {
      if (e instanceof ApiError) return e;
      throw e;
    }
    throw new Error('not refused');
  };
  // the prompt alone fills the context: the messages are what to change; it fits but not beside max_tokens: that is (as the request named it)
  const cases: [object, string, RegExp][] = [
    [{ messages: [{ role: 'user', content: 'word '.repeat(80) }], max_tokens: 12 }, 'messages', /^This model's context is 64 tokens; the prompt needs \d+ tokens, and a reply needs at least one more\.$/],
    [{ messages: [{ role: 'user', content: 'word '.repeat(40) }], max_tokens: 40 }, 'max_tokens', /^This model's context is 64 tokens; the prompt needs \d+ tokens, which leaves \d+ for the reply next to max_tokens 40\.$/],
    [{ messages: [{ role: 'user', content: 'word '.repeat(40) }], max_completion_tokens: 40 }, 'max_completion_tokens', /^This model's context is 64 tokens; the prompt needs \d+ tokens, which leaves \d+ for the reply next to max_completion_tokens 40\.$/],
    // an old exchange was there to drop: the count is after dropping it (a lone message has none to drop)
    [{ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }, { role: 'user', content: 'word '.repeat(80) }] }, 'messages', /^This model's context is 64 tokens; the prompt needs \d+ tokens even with old exchanges dropped, and a reply needs at least one more\.$/],
  ];
  for (const [body, param, facts] of cases) {
    const e = refusal(body);
    assert.is(e.code, 'context_length_exceeded');
    assert.is(e.param, param, e.message);
    assert.match(e.message, /\. Shorten the messages/);
    assert.match(contextFacts(e.message), facts);
  }
});

t('a value of the wrong JSON type is named as OpenAI names it: a string, a number, a boolean, an array, an object', () => {
  const model = { id: 'tiny', contextLength: 64, vocabSize: 50257, created: 1 };
  const message = (body: object) => {
    try {
      parseChatRequest({ messages: [{ role: 'user', content: 'hi' }], ...body }, model, () => 1);
    } catch (e) {
      return (e as Error).message;
    }
    return 'not refused';
  };
  assert.is(message({ temperature: {} }), "Invalid type for 'temperature': expected a number, but got an object.");
  assert.is(message({ temperature: [] }), "Invalid type for 'temperature': expected a number, but got an array.");
  assert.is(message({ temperature: 'hot' }), "Invalid type for 'temperature': expected a number, but got a string.");
  assert.is(message({ stream: 1 }), "Invalid type for 'stream': expected a boolean, but got a number.");
  assert.is(message({ model: true }), "Invalid type for 'model': expected a string, but got a boolean.");
});

t('streamed chunks joined equal the non-streamed content (chat and completions), with usage', async () => {
  for (const seed of [1, 2]) {
    const body = chat('Tell me a story.', { temperature: 0.9, seed, max_tokens: 16 });
    const whole = await request(srv.url, '/v1/chat/completions', body);
    const streamed = await request(srv.url, '/v1/chat/completions', { ...body, stream: true, stream_options: { include_usage: true } });
    assert.is(streamed.status, 200);
    assert.match(streamed.headers.get('content-type') ?? '', /^text\/event-stream/);
    const ev = events(streamed.text);
    assert.equal(ev[0].choices[0].delta, { role: 'assistant', content: '' }, 'the first chunk carries the role');
    assert.ok(ev.every((e) => e.object === 'chat.completion.chunk' && e.id === ev[0].id));
    assert.is(streamedContent(streamed.text), whole.json.choices[0].message.content, `seed ${seed}`);
    assert.is(ev.at(-2).choices[0].finish_reason, whole.json.choices[0].finish_reason);
    assert.equal(ev.at(-1).usage, whole.json.usage, 'the last chunk carries the usage');
    assert.ok(ev.slice(0, -1).every((e) => e.usage === null));
  }
  const body = { prompt: 'Once upon a time', max_tokens: 10, seed: 5 };
  const whole = await request(srv.url, '/v1/completions', body);
  const streamed = await request(srv.url, '/v1/completions', { ...body, stream: true });
  assert.is(whole.json.object, 'text_completion');
  assert.is(streamedContent(streamed.text), whole.json.choices[0].text);
  assert.is(whole.json.usage.completion_tokens, 10);
});

t('a reply that fills the context ends with finish_reason length, and its usage says so: prompt + completion tokens reach /v1/models\' context_length, below max_tokens', async () => {
  const { context_length: ctx } = (await request(srv.url, '/v1/models/tiny')).json;
  assert.is(ctx, 96);
  const r = await request(srv.url, '/v1/chat/completions', chat('Keep talking.', { max_tokens: 95, stream: true, stream_options: { include_usage: true } }));
  const ev = events(r.text);
  const u = ev.at(-1).usage;
  assert.is(ev.at(-2).choices[0].finish_reason, 'length', JSON.stringify(u));
  assert.ok(u.completion_tokens < 95 && u.prompt_tokens + u.completion_tokens >= ctx, JSON.stringify(u));
  // and one cut by max_tokens: fewer
  const short = events((await request(srv.url, '/v1/chat/completions', chat('Keep talking.', { max_tokens: 20, stream: true, stream_options: { include_usage: true } }))).text);
  assert.is(short.at(-2).choices[0].finish_reason, 'length');
  assert.is(short.at(-1).usage.completion_tokens, 20);
});

t('4 conversations decoded together give token-for-token the output of each alone, joining and leaving at different steps', async () => {
  const prompts = ['Hello!', 'What is two plus two?', 'Tell me about the sea and the sky.', 'Bye'].map((m) => encodeHumanTurn(m, DEFAULT_SPEAKERS).tokens);
  const lengths = [14, 6, 20, 10];
  const options = (i: number): ReplyOptions => ({
    sampling: { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, frequencyPenalty: 0, presencePenalty: 0, penaltyWindow: Infinity },
    maxNewTokens: lengths[i], stops: [], rng: new Rng(i),
  });
  const runJob = (i: number, onText?: (n: number) => void) => new Promise<string>((resolve, reject) => {
    let pieces = 0;
    srv.scheduler.submit({
      prompt: prompts[i], reply: options(i),
      events: { onText: () => onText?.(++pieces), onEnd: (e) => resolve(`${e.reason}:${e.completionTokens}:${e.text}`), onError: reject },
    });
  });
  const alone: string[] = [];
  for (let i = 0; i < 4; i++) alone.push(await runJob(i));
  // together: 0 starts; 1 joins after 0's 2nd piece, 2 after 1's 1st, 3 after 0's 5th; the lengths make them leave at different steps
  const batches: number[] = [];
  const steps = srv.scheduler.opts;
  const saved = steps.onStep;
  steps.onStep = (b) => batches.push(b);
  try {
    const together: Promise<string>[] = [];
    together[0] = runJob(0, (n) => {
      if (n === 2) together[1] = runJob(1, (m) => { if (m === 1) together[2] = runJob(2); });
      if (n === 5) together[3] = runJob(3);
    });
    await together[0];
    while (together.length < 4 || together.includes(undefined as never)) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await Promise.all(together), alone);
  } finally {
    steps.onStep = saved;
  }
  assert.ok(Math.max(...batches) >= 3, `steps decoded several sequences at once: ${batches.join(',')}`);
  assert.ok(new Set(batches).size >= 3, `sequences joined and left: batch sizes ${batches.join(',')}`);
});

t('the official openai client: chat (stream and not), completions, models, with an API key', async () => {
  const keyed = await startServer(dir, { maxBatch: 2, http: { apiKey: 'sk-test-123' } });
  try {
    const client = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: 'sk-test-123', maxRetries: 0 });
    const models = await client.models.list();
    assert.equal(models.data.map((m) => m.id), ['tiny']);
    assert.is((await client.models.retrieve('tiny')).id, 'tiny');
    const params = { model: 'tiny', messages: [{ role: 'user' as const, content: 'Hi, who are you?' }], temperature: 0, max_tokens: 10 };
    const c = await client.chat.completions.create(params);
    assert.is(c.object, 'chat.completion');
    assert.is(c.choices[0].message.role, 'assistant');
    assert.ok(['stop', 'length'].includes(c.choices[0].finish_reason));
    const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
    let text = '', usageSeen = 0;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usageSeen = chunk.usage.total_tokens;
    }
    assert.is(text, c.choices[0].message.content);
    assert.is(usageSeen, c.usage!.total_tokens);
    const p = await client.completions.create({ model: 'tiny', prompt: 'The weather today', max_tokens: 6, temperature: 0 });
    assert.is(p.choices[0].text.length > 0, true);
    // refusals come to the client as OpenAI's: a BadRequestError naming the field
    const refused = async (body: object) => {
      try { await client.chat.completions.create({ ...params, ...body }); } catch (e) { return e as InstanceType<typeof OpenAI.BadRequestError>; }
      throw new Error(`not refused: ${JSON.stringify(body)}`);
    };
    const tooMany = await refused({ max_tokens: 96 });
    assert.equal([tooMany.status, tooMany.param, tooMany.code], [400, 'max_tokens', 'invalid_value']);
    assert.match(tooMany.message, /max_tokens is too large: 96\. This model supports at most 95 completion tokens/);
    const both = await refused({ max_completion_tokens: 10 });
    assert.equal([both.status, both.param, both.code], [400, 'max_tokens', 'invalid_parameter_combination']);
    assert.match(both.message, /^400 Setting 'max_tokens' and 'max_completion_tokens' at the same time is not supported: give one of them\.$/);
    const streamOptions = await refused({ stream_options: { include_usage: true } });
    assert.equal([streamOptions.status, streamOptions.param, streamOptions.type], [400, 'stream_options', 'invalid_request_error']);
    const wrong = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
    let status = 0;
    try { await wrong.chat.completions.create(params); } catch (e) { status = (e as { status: number }).status; }
    assert.is(status, 401);
  } finally {
    await keyed.close();
  }
});

/** a raw HTTP exchange: what the server answers to `data` (it may close the connection) */
function raw(url: string, data: string | Buffer, { waitMs = 5000, end = true } = {}): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const sock = connect(Number(port), hostname);
    let got = '';
    sock.setEncoding('utf8').on('data', (d) => (got += d));
    sock.on('error', () => {});
    const timer = setTimeout(() => { sock.destroy(); resolve(got); }, waitMs);
    sock.on('close', () => { clearTimeout(timer); resolve(got); });
    sock.write(data);
    if (end) sock.end();
  });
}

t('every error case answers with OpenAI error JSON and the right status; a good request works after each', async () => {
  const s = await startServer(dir, { maxBatch: 1, scheduler: { maxQueue: 0 }, http: { apiKey: 'k', requestTimeoutMs: 600, headersTimeoutMs: 600 } });
  const auth: RequestInit = { headers: { Authorization: 'Bearer k' } };
  const good = async (what: string) => {
    const r = await request(s.url, '/v1/chat/completions', chat('Are you still there?', { max_tokens: 2 }), auth);
    assert.is(r.status, 200, `a good request after ${what}: ${r.text}`);
    assert.is(r.json.choices[0].message.role, 'assistant');
  };
  const expectError = async (what: string, r: { status: number; json: any; text: string }, status: number, param?: string | null, code?: string | null) => {
    assert.is(r.status, status, `${what}: ${r.text}`);
    assert.ok(r.json && typeof r.json.error?.message === 'string' && r.json.error.message.length > 0, `${what}: error JSON: ${r.text}`);
    assert.ok('type' in r.json.error && 'param' in r.json.error && 'code' in r.json.error, `${what}: message, type, param, code`);
    if (param !== undefined) assert.is(r.json.error.param, param, `${what}: param`);
    if (code !== undefined) assert.is(r.json.error.code, code, `${what}: code`);
    await good(what);
  };
  try {
    const post = (body: unknown, path = '/v1/chat/completions', init = auth) => request(s.url, path, body, init);
    const cases: [string, unknown, number, string | null | undefined, (string | null)?][] = [
      ['malformed JSON', '{"messages": [', 400, null, 'invalid_json'],
      ['not an object', '[1, 2]', 400, undefined],
      ['messages missing', { temperature: 0 }, 400, 'messages'],
      ['messages not an array', { messages: 'hi' }, 400, 'messages', 'invalid_type'],
      ['empty messages', { messages: [] }, 400, 'messages'],
      ['unknown role', { messages: [{ role: 'wizard', content: 'hi' }] }, 400, 'messages[0].role'],
      ['content of the wrong type', { messages: [{ role: 'user', content: 42 }] }, 400, 'messages[0].content', 'invalid_type'],
      ['last message not the user\'s', { messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }] }, 400, 'messages'],
      ['temperature of the wrong type', chat('x', { temperature: 'hot' }), 400, 'temperature', 'invalid_type'],
      ['temperature < 0', chat('x', { temperature: -0.5 }), 400, 'temperature'],
      ['top_p 0', chat('x', { top_p: 0 }), 400, 'top_p'],
      ['top_p > 1', chat('x', { top_p: 1.5 }), 400, 'top_p'],
      ['max_tokens 0', chat('x', { max_tokens: 0 }), 400, 'max_tokens'],
      ['max_tokens not an integer', chat('x', { max_tokens: 2.5 }), 400, 'max_tokens'],
      // the context is 96 tokens, one at least the prompt's: a reply of 96 never fits
      ['max_tokens of the whole context', chat('x', { max_tokens: 96 }), 400, 'max_tokens', 'invalid_value'],
      ['max_completion_tokens beyond the context', chat('x', { max_tokens: undefined, max_completion_tokens: 100_000 }), 400, 'max_completion_tokens', 'invalid_value'],
      ['completions: max_tokens of the whole context', { prompt: 'x', max_tokens: 96 }, 400, 'max_tokens', 'invalid_value'],
      // both names at once are refused as OpenAI refuses them, equal or not; each is checked before that
      ['max_tokens and max_completion_tokens', chat('x', { max_tokens: 5, max_completion_tokens: 6 }), 400, 'max_tokens', 'invalid_parameter_combination'],
      ['max_tokens and max_completion_tokens, equal', chat('x', { max_tokens: 5, max_completion_tokens: 5 }), 400, 'max_tokens', 'invalid_parameter_combination'],
      ['max_tokens beyond the context beside max_completion_tokens', chat('x', { max_tokens: 100_000, max_completion_tokens: 4 }), 400, 'max_tokens', 'invalid_parameter_combination'],
      ['max_tokens 0 beside max_completion_tokens', chat('x', { max_tokens: 0, max_completion_tokens: 4 }), 400, 'max_tokens', 'invalid_value'],
      ['max_tokens of the wrong type beside max_completion_tokens', chat('x', { max_tokens: 'lots', max_completion_tokens: 4 }), 400, 'max_tokens', 'invalid_type'],
      ['completions: max_tokens and max_completion_tokens', { prompt: 'x', max_tokens: 4, max_completion_tokens: 8 }, 400, 'max_tokens', 'invalid_parameter_combination'],
      ['stream_options without stream', chat('x', { stream_options: { include_usage: true } }), 400, 'stream_options', null],
      ['stream_options with stream false', chat('x', { stream: false, stream_options: { include_usage: false } }), 400, 'stream_options', null],
      ['completions: stream_options without stream', { prompt: 'x', stream_options: { include_usage: true } }, 400, 'stream_options', null],
      ['n > 1', chat('x', { n: 2 }), 400, 'n', 'unsupported_value'],
      ['n 0', chat('x', { n: 0 }), 400, 'n', 'invalid_value'],
      ['stop of the wrong type', chat('x', { stop: 5 }), 400, 'stop'],
      ['an empty stop string', chat('x', { stop: '' }), 400, 'stop', 'invalid_value'],
      ['an empty stop string in a list', chat('x', { stop: ['\n\n', ''] }), 400, 'stop', 'invalid_value'],
      ['stream of the wrong type', chat('x', { stream: 'yes' }), 400, 'stream'],
      ['unknown model', chat('x', { model: 'gpt-4o' }), 404, 'model', 'model_not_found'],
      ['a conversation that cannot fit the context', chat('word '.repeat(200)), 400, 'messages', 'context_length_exceeded'],
      ['completions: a prompt that cannot fit', { prompt: 'word '.repeat(200) }, 400, 'prompt', 'context_length_exceeded'],
      ['a message that fits only without the room max_tokens asks for', chat('word '.repeat(60), { max_tokens: 60 }), 400, 'max_tokens', 'context_length_exceeded'],
      // what the server cannot give is refused, not answered without it
      ['logprobs', chat('x', { logprobs: true, top_logprobs: 2 }), 400, 'logprobs', 'unsupported_parameter'],
      ['top_logprobs', chat('x', { top_logprobs: 2 }), 400, 'top_logprobs', 'unsupported_parameter'],
      ['tools', chat('x', { tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] }), 400, 'tools', 'unsupported_parameter'],
      ['functions', chat('x', { functions: [{ name: 'f', parameters: {} }], function_call: 'auto' }), 400, 'functions', 'unsupported_parameter'],
      ['response_format json', chat('x', { response_format: { type: 'json_object' } }), 400, 'response_format', 'unsupported_parameter'],
      ['logit_bias', chat('x', { logit_bias: { 50256: -100 } }), 400, 'logit_bias', 'unsupported_parameter'],
      ['audio', chat('x', { modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'wav' } }), 400, 'audio', 'unsupported_parameter'],
      ['completions: echo', { prompt: 'x', echo: true }, 400, 'echo', 'unsupported_parameter'],
      ['completions: logprobs 0 (the chosen tokens)', { prompt: 'x', logprobs: 0 }, 400, 'logprobs', 'unsupported_parameter'],
      ['completions: suffix', { prompt: 'x', suffix: 'end' }, 400, 'suffix', 'unsupported_parameter'],
      ['completions: best_of 2', { prompt: 'x', best_of: 2 }, 400, 'best_of', 'unsupported_parameter'],
    ];
    for (const [what, body, status, param, code] of cases) {
      await expectError(what, await post(body, what.startsWith('completions') ? '/v1/completions' : '/v1/chat/completions'), status, param, code);
    }
    // OpenAI's words for both, with the bound said
    assert.is((await post(chat('x', { max_tokens: 96 }))).json.error.message, 'max_tokens is too large: 96. This model supports at most 95 completion tokens (its context is 96 tokens, the prompt included), whereas you provided 96.');
    assert.is((await post(chat('x', { stream_options: { include_usage: true } }))).json.error.message, "The 'stream_options' parameter is only allowed when 'stream' is enabled.");
    assert.is((await post({ ...chat('x', { stream: true, stream_options: { include_usage: true } }) })).status, 200, 'stream_options with stream');
    assert.is((await post(chat('x', { stream_options: null }))).status, 200, 'stream_options null asks for nothing');
    assert.is((await post(chat('x', { max_tokens: null, max_completion_tokens: 4 }))).json.usage?.completion_tokens <= 4, true, 'max_tokens null is not given');
    assert.match((await post(chat('x', { logprobs: true }))).json.error.message, /^Unsupported parameter: 'logprobs' \(true\): this server does not return log-probabilities; leave it out\.$/);
    // ... while what asks for nothing, or changes nothing a client reads, is taken
    for (const extra of [{ logprobs: false, top_logprobs: null, logit_bias: {}, tools: [], response_format: { type: 'text' }, modalities: ['text'] },
      { tools: [{ type: 'function', function: { name: 'f', parameters: {} } }], tool_choice: 'none' }, { user: 'sam', metadata: { a: '1' }, store: false, parallel_tool_calls: true }]) {
      const r = await post(chat('x', extra));
      assert.is(r.status, 200, `${JSON.stringify(extra)}: ${r.text}`);
    }
    const plain = await post({ prompt: 'x', echo: false, suffix: null, best_of: 1, logprobs: null }, '/v1/completions');
    assert.is(plain.status, 200, plain.text);
    // the context is 96 tokens: a message of ~65 is refused next to max_tokens 60 with how low to set it, and fits without max_tokens
    assert.match((await post(chat('word '.repeat(60), { max_tokens: 60 }))).json.error.message, /Shorten the messages, or set max_tokens to at most \d+\./);
    const fits = await post(chat('word '.repeat(60), { max_tokens: undefined }));
    assert.is(fits.status, 200, `without max_tokens a long message may use the context but one token: ${fits.text}`);
    // ... and the old exchanges go, not the reply's room
    const history = [{ role: 'user', content: 'Hello there, how are you today?' }, { role: 'assistant', content: 'I am fine, thank you.' }];
    const withHistory = await post({ ...chat('x', { max_tokens: undefined }), messages: [...history, { role: 'user', content: 'word '.repeat(60) }] });
    assert.is(withHistory.status, 200, withHistory.text);
    assert.is(withHistory.json.usage.prompt_tokens, fits.json.usage.prompt_tokens, 'the history is dropped');
    // ... and the response says so, readable from a page on another origin (the page shows it under the reply)
    assert.is(withHistory.headers.get('x-dropped-exchanges'), '1', 'the dropped exchange in a header');
    assert.match(withHistory.headers.get('access-control-expose-headers') ?? '', /X-Dropped-Exchanges/);
    assert.is(fits.headers.get('x-dropped-exchanges'), null, 'nothing dropped, nothing said');
    const streamed = await post({ ...chat('x', { max_tokens: undefined, stream: true }), messages: [...history, { role: 'user', content: 'word '.repeat(60) }] });
    assert.is(streamed.headers.get('x-dropped-exchanges'), '1', 'a stream says it too');
    // completions: max_tokens absent (or null) is OpenAI's default of 16, and the refusal says so
    for (const extra of [{}, { max_tokens: null }]) {
      const r = await post({ prompt: 'word '.repeat(85), ...extra }, '/v1/completions');
      assert.match(r.json.error?.message ?? r.text, /next to max_tokens 16 \(the default\)\. Shorten the prompt, or set max_tokens to at most \d+\./, JSON.stringify(extra));
      assert.is(r.json.error?.param, 'max_tokens', 'the default is what does not fit');
    }
    await expectError('no API key', await post(chat('x'), '/v1/chat/completions', { headers: {} }), 401, null, 'invalid_api_key');
    await expectError('a wrong API key', await post(chat('x'), '/v1/chat/completions', { headers: { Authorization: 'Bearer nope' } }), 401, null, 'invalid_api_key');
    await expectError('unknown path', await request(s.url, '/v1/embeddings', {}, auth), 404, null, 'unknown_url');
    await expectError('unknown model path', await request(s.url, '/v1/models/nope', undefined, auth), 404, 'model');
    await expectError('a model path that is not percent-encoding', await request(s.url, '/v1/models/%E0%A4%A', undefined, auth), 404, 'model');
    // an id that decodes to a line break is logged on one line (no forged log lines)
    await expectError('a model id with a line break', await request(s.url, '/v1/models/x%0AGET%20%2Fv1%2Fmodels%20200%200ms', undefined, auth), 404, 'model');
    const wrongMethod = await request(s.url, '/v1/chat/completions', undefined, auth);
    assert.is(wrongMethod.headers.get('allow'), 'POST');
    await expectError('GET on a POST endpoint', wrongMethod, 405);
    await expectError('POST on a GET endpoint', await request(s.url, '/v1/models', {}, auth), 405);
    // 413: a body over 1 MiB, declared and not declared (chunked)
    const big = JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat((1 << 20) + 10) }] });
    await expectError('a body over 1 MiB', await post(big), 413, null, 'request_too_large');
    const chunked = await raw(s.url, `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nTransfer-Encoding: chunked\r\n\r\n${(1 << 20).toString(16)}\r\n${'y'.repeat(1 << 20)}\r\n10\r\n${'y'.repeat(16)}\r\n0\r\n\r\n`);
    assert.match(chunked, /^HTTP\/1\.1 413 /, 'chunked body over the limit');
    await good('a chunked body over the limit');
    // 503: one sequence busy, no queue
    const long = request(s.url, '/v1/chat/completions', chat('Keep talking.', { max_tokens: 60, stream: true }), auth);
    while (s.scheduler.active === 0) await new Promise((r) => setTimeout(r, 5));
    // (one that would drop an old exchange: the header comes with a completion only)
    const busy = await post({ ...chat('x', { max_tokens: undefined }), messages: [...history, { role: 'user', content: 'word '.repeat(60) }] });
    assert.is(busy.status, 503, busy.text);
    assert.is(busy.json.error.code, 'queue_full');
    // --max-queue 0: not '0 requests are waiting', which would not say why it is busy
    assert.is(busy.json.error.message, 'The server is busy: it generates up to 1 reply at once and lets none wait, and all are taken. Retry later.');
    assert.is(busy.headers.get('retry-after'), '1');
    assert.is(busy.headers.get('x-dropped-exchanges'), null, 'an error answers no completion: nothing was dropped from one');
    const done = await long;
    assert.is(done.status, 200);
    assert.ok(events(done.text).at(-1).choices[0].finish_reason, 'a stream longer than the request timeout is not cut');
    await good('a full queue');
    // slow and half-sent requests time out (408) and the connection is closed
    const slow = await raw(s.url, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nContent-Length: 100\r\n\r\n{"messa', { end: false });
    assert.match(slow, /^HTTP\/1\.1 408 /, `half-sent body: '${slow}'`);
    assert.is(JSON.parse(slow.slice(slow.indexOf('\r\n\r\n') + 4)).error.code, 'request_timeout', 'OpenAI error JSON');
    assert.ok(s.logs.some((l) => /^POST \/v1\/chat\/completions 408 \d+ms \(request_timeout: The request did not arrive in time \(the headers within 0\.6 s, all of it within 0\.6 s\); send it whole\.\)$/.test(l)), `logged as 408:\n${s.logs.join('\n')}`);
    const headers = await raw(s.url, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n', { end: false });
    assert.match(headers, /^HTTP\/1\.1 408 /, `half-sent headers: '${headers}'`);
    await good('half-sent requests');
    // garbage instead of HTTP
    assert.match(await raw(s.url, 'HELLO?\r\n\r\n'), /^HTTP\/1\.1 400 /);
    await good('garbage');
    // a body that breaks HTTP's framing (a chunk size that is not hex): its 400, and the request's log line says so, not 499
    const badChunk = await raw(s.url, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"mes\r\nZZ\r\n');
    assert.match(badChunk, /^HTTP\/1\.1 400 [^]*"code":"bad_request"/);
    await good('a body that is not HTTP');
    assert.ok(s.logs.some((l) => /^POST \/v1\/chat\/completions 400 \d+ms \(bad_request: The request is not valid HTTP\.\)$/.test(l)), `logged as 400:\n${s.logs.join('\n')}`);
    assert.ok(s.logs.some((l) => /^POST \/v1\/chat\/completions 400 \d+ms \(\w+: .+\)$/.test(l)), `errors are logged with what was wrong:\n${s.logs.join("\n")}`);
    assert.not.ok(s.logs.some((l) => l.includes('\n') || l.startsWith('GET /v1/models 200 0ms')), `every log entry is one line:\n${s.logs.filter((l) => l.includes('\n') || l.startsWith('GET /v1/models 200')).join('\n---\n')}`);
    assert.ok(s.logs.some((l) => /^POST \/v1\/chat\/completions 200 prompt=\d+ completion=\d+ \d+ms$/.test(l)), `requests are logged:\n${s.logs.slice(0, 5).join('\n')}`);
  } finally {
    await s.close();
  }
});

t('a burst over what the server runs and queues: the one refused is told the limits (2 at once, 1 more waiting), whatever the loop had admitted', async () => {
  const s = await startServer(dir, { maxBatch: 2, scheduler: { maxQueue: 1 } });
  try {
    const answers = await Promise.all(['One', 'Two', 'Three', 'Four'].map((m) => request(s.url, '/v1/chat/completions', chat(m, { max_tokens: 40, temperature: 0.8, seed: 1 }))));
    const refused = answers.filter((a) => a.status === 503);
    assert.is(refused.length, 1, answers.map((a) => a.status).join(','));
    assert.is(refused[0].json.error.message, 'The server is busy: it generates up to 2 replies at once and lets 1 more wait, and all are taken. Retry later.');
    assert.is(answers.filter((a) => a.status === 200).length, 3);
  } finally {
    await s.close();
  }
});

t('stopping: a request sent but not yet read gets a 503, not a reset; queued and running streams end with a shutting-down error, not finish_reason length', async () => {
  const s = await startServer(dir, { maxBatch: 1 });
  try {
    const running = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(chat('Go on forever.', { max_tokens: 80, stream: true })) });
    const reader = running.body!.getReader();
    while (s.scheduler.active === 0) await new Promise((res) => setTimeout(res, 2));
    const queued = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(chat('Me next.', { max_tokens: 8, stream: true })) });
    assert.is(s.scheduler.queued, 1);
    const body = JSON.stringify(chat('Hello?', { max_tokens: 2 }));
    // sent in this turn of the event loop, so the server has not read it when it starts to stop
    const unread = raw(s.url, `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    const health = raw(s.url, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    const stopped = s.server.close(0);
    assert.match(await unread, /^HTTP\/1\.1 503 [^]*"code":"server_shutting_down"/, 'a 503 for a request sent before the stop');
    assert.match(await health, /^HTTP\/1\.1 503 [^]*"status":"stopping"/, 'a health check says the server is going: no more requests to send here');
    const lines = (await queued.text()).split('\n\n').filter(Boolean);
    assert.match(lines.at(-1)!, /^data: \{"error":\{.*"code":"server_shutting_down"/, `the queued stream: ${lines.join(' | ')}`);
    assert.not.ok(lines.some((l) => l.includes('"finish_reason":"length"')), 'not cut for length');
    // the running stream, cut after some text: the same error after it, not a finish_reason "length"
    const decoder = new TextDecoder();
    let text = '';
    for (let c = await reader.read(); !c.done; c = await reader.read()) text += decoder.decode(c.value, { stream: true });
    const events = text.split('\n\n').filter(Boolean);
    assert.ok(events.some((l) => l.includes('"content"')), `the running stream had text: ${events.join(' | ')}`);
    assert.match(events.at(-1)!, /^data: \{"error":\{.*"code":"server_shutting_down"/, `the running stream: ${events.slice(-3).join(' | ')}`);
    assert.not.ok(events.some((l) => l.includes('"finish_reason":"length"')), 'the running stream not cut for length');
    await stopped;
    // the log tells the two cut streams from replies that ended: their 200 went out, then the error
    const cut = s.logs.filter((l) => /^POST \/v1\/chat\/completions 200 prompt=\d+ completion=\d+ \d+ms \(server_shutting_down: The server is shutting down\.\)$/.test(l));
    assert.is(cut.length, 2, s.logs.join('\n'));
  } finally {
    await s.close();
  }
});

t('a client that disconnects mid-stream frees its slot within one step', async () => {
  const s = await startServer(dir, { maxBatch: 1 });
  // count from the moment the server learns of the hang-up (its ticket is cancelled), not from
  // the client's abort: the socket's close takes event-loop turns to arrive, steps run meanwhile
  let cancelledAt = -1;
  const submit = s.scheduler.submit.bind(s.scheduler);
  s.scheduler.submit = (job) => {
    const ticket = submit(job);
    return ticket && { cancel: () => { if (cancelledAt < 0) cancelledAt = s.scheduler.steps; ticket.cancel(); } };
  };
  try {
    const ac = new AbortController();
    const r = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(chat('Go on forever.', { max_tokens: 80, stream: true })), signal: ac.signal });
    const reader = r.body!.getReader();
    let got = '';
    while (!got.includes('"content":"') || got.split('data:').length < 4) got += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    while (s.scheduler.active > 0) await new Promise((res) => setTimeout(res, 2));
    assert.ok(cancelledAt >= 0, 'the hang-up cancelled the request');
    assert.ok(s.scheduler.steps - cancelledAt <= 1, `freed ${s.scheduler.steps - cancelledAt} steps after the server saw the hang-up`);
    assert.ok(s.scheduler.decoded < 60, 'the reply was not generated to the end');
    const next = await request(s.url, '/v1/chat/completions', chat('Next!', { max_tokens: 4 }));
    assert.is(next.status, 200);
    await new Promise((res) => setTimeout(res, 50));
    const gone = s.logs.find((l) => l.includes('(client closed the connection)'));
    assert.ok(gone, s.logs.join('\n'));
    // logged when its reply ended, with the tokens sent before the hang-up (not 0)
    assert.ok(Number(/ completion=(\d+) /.exec(gone!)?.[1]) >= 2, gone);
  } finally {
    await s.close();
  }
});

/**
 * The HTTP server over a scheduler whose replies never end by themselves: only a hang-up (its ticket's cancel) or
 * the test, through `jobs`' events, ends one, so nothing races the model.
 */
async function manualServer() {
  const jobs: Job[] = [];
  const scheduler = {
    gen: { slots: 4 }, opts: { maxQueue: 0 }, active: 0, queued: 0, cancelAll() {}, idle: () => Promise.resolve(),
    submit(job: Job) {
      jobs.push(job);
      let ended = false;
      return { cancel: () => { if (!ended) job.events.onEnd({ reason: 'abort', text: ' Hi', completionTokens: 3 }); ended = true; } };
    },
  } as unknown as Scheduler;
  const logs: string[] = [];
  const server = new ApiServer({ model: { id: 'tiny', contextLength: 96, vocabSize: 50257, created: 1 }, scheduler, log: (l) => logs.push(l) });
  const url = await server.listen(0, '127.0.0.1');
  const sleep = () => new Promise((res) => setTimeout(res, 2));
  /** the log lines written since the last call, once there is one */
  const logLine = async () => {
    while (!logs.length) await sleep();
    return logs.splice(0).join('\n');
  };
  return { jobs, logs, server, url, sleep, logLine };
}

t('a client that hangs up before its reply is sent is logged as 499, not 200; a stream whose 200 went out keeps it', async () => {
  const { jobs, logs, server, url, sleep, logLine } = await manualServer();
  try {
    for (const stream of [false, true]) {
      const ac = new AbortController(), n = jobs.length;
      const answered = fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(chat('Hi', { stream })), signal: ac.signal }).catch(() => null);
      while (jobs.length === n) await sleep();
      if (stream) await answered; // its 200 went out with the first chunk
      ac.abort();
      assert.match(await logLine(), new RegExp(`^POST /v1/chat/completions ${stream ? 200 : 499} prompt=\\d+ completion=3 \\d+ms \\(client closed the connection\\)$`), stream ? 'streamed' : 'not streamed');
    }
    // gone in the middle of the body: nothing was answered either, nor is a 400 written to the closed connection afterwards
    const { port } = new URL(url);
    const arrived = new Promise<[IncomingMessage, ServerResponse]>((res) => server.server.once('request', (...a) => res(a)));
    const sock = connect(Number(port), '127.0.0.1').on('error', () => {});
    sock.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"messa');
    const [req, res] = await arrived;
    const reqClosed = new Promise((r) => req.once('close', r));
    sock.destroy();
    assert.match(await logLine(), /^POST \/v1\/chat\/completions 499 \d+ms \(client closed the connection\)$/, 'mid-body');
    await reqClosed; // the body's reader learns of it last
    await new Promise((r) => setTimeout(r, 20));
    assert.not.ok(res.headersSent, 'no response written after the client went away');
    assert.is(req.socket.bytesWritten, 0, 'nor any raw error on its connection');
    assert.is(logs.length, 0, logs.join('\n'));
  } finally {
    await server.close(0);
  }
});

t('garbage sent on a connection whose stream is under way closes it: no raw 400 in the middle of the stream', async () => {
  const { jobs, server, url, sleep, logLine } = await manualServer();
  try {
    const sock = connect(Number(new URL(url).port), '127.0.0.1').on('error', () => {});
    let got = '';
    sock.setEncoding('utf8').on('data', (d) => (got += d));
    const closed = new Promise((r) => sock.once('close', r));
    const body = JSON.stringify(chat('Hi', { stream: true }));
    sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    while (!jobs.length || !got.includes('"role":"assistant"')) await sleep();
    jobs[0].events.onText(' Hello');
    while (!got.includes('Hello')) await sleep();
    sock.write('HELLO?\r\n\r\n'); // pipelined after the request: the server reads it while the stream runs
    await closed;
    assert.is(got.split('HTTP/1.1 ').length, 2, `one response on the connection, the stream's:\n${got}`);
    assert.match(await logLine(), /^POST \/v1\/chat\/completions 200 prompt=\d+ completion=3 \d+ms \(client closed the connection\)$/);
  } finally {
    await server.close(0);
  }
});

t('a reply the model fails is answered 500 (a stream: an error event) and its log line says why, as for a refused request', async () => {
  const { jobs, logs, server, url, sleep } = await manualServer();
  try {
    for (const stream of [false, true]) {
      const n = jobs.length;
      const answered = fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(chat('Hi', { stream })) });
      while (jobs.length === n) await sleep();
      if (stream) await answered; // its 200 went out with the first chunk
      jobs[n].events.onError(new Error('the GPU device was lost'));
      const r = await answered;
      const text = await r.text();
      assert.is(r.status, stream ? 200 : 500, text);
      assert.ok(text.includes('"message":"The model failed: the GPU device was lost"'), text);
      let line: string | undefined;
      while (!(line = logs.find((l) => l.startsWith('POST')))) await sleep();
      assert.match(line, new RegExp(`^POST /v1/chat/completions ${stream ? 200 : 500} prompt=\\d+ completion=0 \\d+ms \\(server_error: The model failed: the GPU device was lost\\)$`), stream ? 'streamed' : 'not streamed');
      logs.splice(0);
    }
  } finally {
    await server.close(0);
  }
});

t('GET /health, /v1/models, / (the chat page) and /model/ (its download), CORS preflight', async () => {
  const h = await request(srv.url, '/health');
  assert.equal([h.status, h.json.status, h.json.model, h.json.max_batch], [200, 'ok', 'tiny', 4]);
  // HEAD, as some load balancers and uptime checks send it: GET's status and headers, no body
  for (const path of ['/health', '/v1/models', '/v1/models/tiny']) {
    const head = await fetch(`${srv.url}${path}`, { method: 'HEAD' });
    assert.is(head.status, 200, `HEAD ${path}`);
    assert.match(head.headers.get('content-type') ?? '', /application\/json/);
    assert.is(await head.text(), '');
  }
  const m = await request(srv.url, '/v1/models');
  assert.equal(m.json, { object: 'list', data: [{ id: 'tiny', object: 'model', created: 1, owned_by: 'gpt2-webgpu', context_length: 96 }] }, 'the context length too (the page checks max_tokens against it)');
  assert.equal((await request(srv.url, '/v1/models/')).json, m.json, 'with a trailing slash');
  const page = await request(srv.url, '/');
  assert.is(page.status, 200, 'dist/page/index.html (npm test builds it)');
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  const weights = await fetch(`${srv.url}/model/model.safetensors`, { method: 'HEAD' });
  assert.is(weights.status, 200, 'the model the page downloads');
  assert.ok([400, 404].includes((await fetch(`${srv.url}/%2e%2e/%2e%2e/etc/passwd`)).status), 'nothing outside the page and the model');
  const pre = await fetch(`${srv.url}/v1/chat/completions`, { method: 'OPTIONS' });
  assert.is(pre.status, 204);
  assert.match(pre.headers.get('access-control-allow-headers') ?? '', /Authorization/);
  // an SDK's own headers (the openai package sends x-stainless-*) are allowed, as asked
  const sdk = await fetch(`${srv.url}/v1/chat/completions`, { method: 'OPTIONS', headers: { 'Access-Control-Request-Headers': 'authorization,content-type,x-stainless-lang' } });
  assert.is(sdk.headers.get('access-control-allow-headers'), 'authorization,content-type,x-stainless-lang');
});

t('node dist/serve.js: --help, one start line with the URL and model, a request, SIGTERM exits 0', async () => {
  const help = await run('serve', ['--help']);
  assert.is(help.code, 0);
  for (const f of ['--init', '--host', '--port', '--max-batch', '--api-key', '--max-queue', '--fast', '--help']) assert.match(help.stdout, new RegExp(`^  ${f}\\b`, 'm'));
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'serve.js'), '--init', dir, '--port', '0', '--max-batch', '2'], { cwd: ROOT });
  let out = '', err = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('close', r));
  try {
    const deadline = Date.now() + 60_000;
    while (!/^serving /m.test(out)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no start line:\n${out}\n${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const m = /^serving (\S+) at (http:\/\/127\.0\.0\.1:\d+)\/v1 \(.*; the chat page at (\S+)$/m.exec(out);
    assert.ok(m, out);
    assert.is(m![1], dir.split('/').at(-1));
    assert.is(m![3], `${m![2]}/`);
    assert.is((await request(m![2], '/v1/chat/completions', { messages: [] })).status, 400);
    while (!/^POST \S+ 400 /m.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.match(out, /^POST \/v1\/chat\/completions 400 \d+ms \(\w+: .*messages/m, `an error is logged with what was wrong:\n${out}`);
    const streaming = request(m![2], '/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], max_tokens: 60, stream: true });
    while ((await request(m![2], '/health')).json.active === 0 && !/^POST /m.test(out)) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGTERM');
    const r = await streaming;
    assert.is(r.status, 200);
    assert.ok(events(r.text).at(-1).choices[0].finish_reason, 'the stream in flight ended cleanly');
    assert.is(await exited, 0, err);
    assert.match(out, /^SIGTERM: no new requests/m);
    assert.match(out, /^POST \/v1\/chat\/completions 200 prompt=\d+ completion=\d+ \d+ms$/m);
    assert.match(out, /^stopped$/m);
    assert.not.match(err, /warning: listening/, 'no warning on 127.0.0.1');
  } finally {
    child.kill('SIGKILL');
  }
});

t('node dist/serve.js: SIGHUP (its terminal closed, kill -HUP) stops it as SIGTERM does: the reply in flight finishes, exit 0 (it died at once)', async () => {
  const proc = start('serve', ['--init', dir, '--port', '0']);
  try {
    await waitForStdout(proc, /^serving /m);
    const url = /^serving \S+ at (\S+)\/v1 /m.exec(proc.stdout())![1];
    const streaming = request(url, '/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], max_tokens: 60, stream: true });
    while ((await request(url, '/health')).json.active === 0) await new Promise((r) => setTimeout(r, 10));
    proc.child.kill('SIGHUP');
    const r = await streaming;
    assert.is(r.status, 200);
    assert.ok(events(r.text).at(-1).choices[0].finish_reason, `the stream in flight ended cleanly:\n${r.text}`);
    const done = await proc.done;
    assert.is(done.code, 0, `exit code ${done.code} (signal ${done.signal})\n${done.stderr}`);
    assert.match(done.stdout, /^SIGHUP: no new requests; replies in flight get 10 s to finish/m);
    assert.match(done.stdout, /^stopped$/m);
  } finally {
    proc.child.kill('SIGKILL');
  }
});

t('node dist/serve.js whose log reader goes away (| head -1 for the URL) serves on, and SIGTERM still exits 0', async () => {
  const proc = start('serve', ['--init', dir, '--port', '0']);
  try {
    await waitForStdout(proc, /^serving /m);
    const url = /^serving \S+ at (\S+)\/v1 /m.exec(proc.stdout())![1];
    proc.child.stdout!.destroy(); // what `| head -1` does after the first line: the next log line gets EPIPE
    for (let i = 0; i < 3; i++) assert.is((await request(url, '/v1/completions', { prompt: 'Hi', max_tokens: 2 })).status, 200, proc.stderr());
    proc.child.kill('SIGTERM');
    const r = await proc.done;
    assert.is(r.code, 0, r.stderr);
    assert.equal(stderrLines(r.stderr), [], 'no EPIPE stack trace');
  } finally {
    proc.child.kill('SIGKILL');
  }
});

t('node dist/serve.js --host 0.0.0.0 without an API key warns that anyone who can reach the machine can use it; with one it does not', async () => {
  for (const key of [[], ['--api-key', 'k']]) {
    const proc = start('serve', ['--init', dir, '--host', '0.0.0.0', '--port', '0', ...key], { env: { GPT2_API_KEY: undefined } });
    try {
      await waitForStdout(proc, /^serving /m);
      await new Promise((r) => setTimeout(r, 100)); // stderr may come a moment after stdout
      const said = stderrLines(proc.stderr()).join('\n');
      if (key.length) assert.is(said, '', 'no warning with a key');
      else assert.is(said, 'warning: listening on 0.0.0.0 without an API key: anyone who can reach this machine can use the model; pass --api-key KEY (or set GPT2_API_KEY) to require one');
      proc.child.kill('SIGTERM');
      assert.is((await proc.done).code, 0, proc.stderr());
    } finally {
      proc.child.kill('SIGKILL');
    }
  }
});

t('node dist/serve.js --adapter: the model id is the adapter\'s directory name (the model served), as with the adapter as --init', async () => {
  const adapter = join(mkdtempSync(join(tmpdir(), 'gpt2-serve-')), 'pirate');
  const lora: LoraSettings = { r: 2, alpha: 4, dropout: 0, targets: ['c_attn'] };
  const sites = checkLora(SERVE_CONFIG, lora);
  saveAdapter(adapter, lora, sites, dir, initLoraArrays(sites, lora.r, 3));
  for (const args of [['--init', dir, '--adapter', adapter], ['--init', adapter]]) {
    const proc = start('serve', [...args, '--port', '0']);
    try {
      await waitForStdout(proc, /^serving /m);
      const m = /^serving (\S+) at (\S+)\/v1 /m.exec(proc.stdout());
      assert.is(m?.[1], 'pirate', proc.stdout());
      assert.equal((await request(m![2], '/v1/models')).json.data.map((d: { id: string }) => d.id), ['pirate'], args.join(' '));
    } finally {
      proc.child.kill('SIGTERM');
      await proc.done.catch(() => undefined);
    }
  }
});

t('node dist/serve.js: a port in use, a host not of this machine (with --port 0 too) or a key no header can carry is said in one line, before the model loads', async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  try {
    const port = String((busy.address() as AddressInfo).port);
    for (const [args, pattern] of [
      [['--port', port], /^error: cannot listen on 127\.0\.0\.1:\d+: the port is in use \(pick another with --port, or 0 for any free port\)$/],
      [['--host', 'nosuchhost.invalid', '--port', '0'], /^error: cannot listen on nosuchhost\.invalid:0: .*\(--host takes an address of this machine/],
      [['--api-key', 'sk-\u2026abc'], /^error: --api-key \(or GPT2_API_KEY\) must be printable ASCII without spaces/],
    ] as [string[], RegExp][]) {
      // a checkpoint that is not there: the error must come before any attempt to load it
      const r = await run('serve', ['--init', join(dir, 'not-loaded'), ...args]);
      assert.is(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr.split('\n').filter((l) => l && !l.startsWith('Warning:')).join('\n'), pattern);
    }
  } finally {
    busy.close();
  }
});

t('node dist/serve.js --max-batch more than the KV caches of which fit the machine\'s memory is said in one line, before any is allocated (it crashed)', async () => {
  const r = await start('serve', ['--init', dir, '--port', '0', '--max-batch', '10000000']).done;
  // SERVE_CONFIG: 2 layers of 96 positions x 3 x 32 floats
  assertOneLineError(r, [/^error: --max-batch 10000000 needs 737 GB of KV caches \(0\.1 MB a sequence: 2 layers of 96 positions\), more than this machine's [\d.]+ GB of memory holds beside the weights: pass --max-batch \d+ or less$/], '--max-batch 10000000');
  const fits = Number(/--max-batch (\d+) or less/.exec(r.stderr)![1]);
  assert.ok(fits > 1000 && fits * 73_728 <= totalmem(), `${fits} sequences fit`);
  // beside the weights as loaded: f32, or with --dtype f16 the matrices in 2 bytes (it counted 4)
  const weightBytes = (f16: boolean) => parameterShapes(SERVE_CONFIG).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1) * (f16 && isF16Weight(p.name) ? 2 : 4), 0);
  assert.is(fits, Math.floor((totalmem() - weightBytes(false)) / 73_728), 'f32');
  const half = await start('serve', ['--init', dir, '--port', '0', '--max-batch', '10000000', '--dtype', 'f16']).done;
  assertOneLineError(half, [/^error: --max-batch 10000000 needs 737 GB of KV caches/], '--max-batch 10000000 --dtype f16');
  assert.is(Number(/--max-batch (\d+) or less/.exec(half.stderr)![1]), Math.floor((totalmem() - weightBytes(true)) / 73_728), 'f16');
});

t.run();
