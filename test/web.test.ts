// The page's network edges without a browser: the static files (src/server/static.ts, what
// serve.js mounts at /, with and without a LoRA adapter) and the client for OpenAI's streaming chat completions (the page's
// server engine) against a hand-written event stream.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSpeakersHeader, speakersHeaderValue } from '../src/server/page_headers.ts';
import { staticHandler } from '../src/server/static.ts';
import { ApiError, listModels, serverReason, SseParser, streamChat } from '../src/browser/openai.ts';
import { lossCurveSvg } from '../src/util/plot.ts';
import { asSentence } from '../src/util/words.ts';
import { parseChatRequest } from '../src/server/api.ts';
import { defaultChatOptions } from '../src/chat/session.ts';
import { applyField, modelSpeakers, speakersFromQueryOrHost, SAMPLING_FIELDS, settingsFromQuery } from '../src/page/settings.ts';
import { configText } from '../src/model/weights.ts';
import { GPT2_124M } from '../src/model/config.ts';
import { DEFAULT_SPEAKERS } from '../src/data/format.ts';

const t = suite('web');
const dir = mkdtempSync(join(tmpdir(), 'gpt2-web-'));
const root = join(dir, 'page'), model = join(dir, 'model');
mkdirSync(root);
mkdirSync(model);
writeFileSync(join(root, 'index.html'), '<!doctype html><p>page</p>');
writeFileSync(join(root, 'app.js'), 'console.log(1)');
writeFileSync(join(root, 'style.css'), 'p {}');
writeFileSync(join(model, 'config.json'), '{}');
writeFileSync(join(model, 'model.safetensors'), 'weights');
writeFileSync(join(model, 'optimizer.safetensors'), 'not for download');
writeFileSync(join(dir, 'secret.txt'), 'secret');

/** a server on 127.0.0.1 for the length of fn */
async function withServer(handler: Parameters<typeof createServer>[1], fn: (base: string) => Promise<void>): Promise<void> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

/** a raw request (fetch would normalise `..` away) */
function raw(base: string, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path.startsWith('/') ? '' : '/'}`, { method, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d)).on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

t('a model trained with other speaker tags: config.json comes with them, and the page reads them back', async () => {
  const sp = { human: 'Usér', bot: 'Assistant' }; // not ASCII: a header carries it encoded
  await withServer((req, res) => void staticHandler({ root, modelDir: model, speakers: sp })(req, res), async (base) => {
    const config = await raw(base, 'GET', '/model/config.json');
    assert.is(config.status, 200);
    assert.equal(parseSpeakersHeader(config.headers['x-model-speakers'] as string), sp);
    assert.is((await raw(base, 'GET', '/model/model.safetensors')).headers['x-model-speakers'], undefined);
  });
  // Human/Bot too (serve.js --human Human --bot Bot on a model whose config.json records others): the page takes the header over the file
  await withServer((req, res) => void staticHandler({ root, modelDir: model, speakers: DEFAULT_SPEAKERS })(req, res), async (base) => {
    assert.equal(parseSpeakersHeader((await raw(base, 'GET', '/model/config.json')).headers['x-model-speakers'] as string), DEFAULT_SPEAKERS);
  });
  // read as chat.js reads a train_state.json's tags: trimmed, and the same one twice is no pair
  assert.equal(parseSpeakersHeader(encodeURIComponent('{"human":" User ","bot":"Assistant"}')), { human: 'User', bot: 'Assistant' });
  for (const bad of [null, '', 'nonsense', 'null', encodeURIComponent('{"human":"A"}'), encodeURIComponent('{"human":"A:","bot":"B"}'), encodeURIComponent('{"human":"A","bot":"A"}'), encodeURIComponent('{"human":"A","bot":" A"}')]) {
    assert.is(parseSpeakersHeader(bad), null, String(bad));
  }
});

t('static files: the page and the model with content types and ETags; nothing else is reachable', async () => {
  const handle = staticHandler({ root, modelDir: model });
  await withServer((req, res) => {
    if (!handle(req, res)) {
      res.writeHead(418);
      res.end('not mine');
    }
  }, async (base) => {
    const index = await raw(base, 'GET', '/');
    assert.is(index.status, 200);
    assert.is(index.headers['content-type'], 'text/html; charset=utf-8');
    assert.is(index.body, '<!doctype html><p>page</p>');
    assert.is((await raw(base, 'GET', '/app.js')).headers['content-type'], 'text/javascript; charset=utf-8');
    assert.is((await raw(base, 'GET', '/style.css?v=2')).headers['content-type'], 'text/css; charset=utf-8');
    const weights = await raw(base, 'GET', '/model/model.safetensors');
    assert.is(weights.body, 'weights');
    assert.is(weights.headers['content-type'], 'application/octet-stream');
    const etag = weights.headers.etag as string;
    assert.ok(etag, 'no ETag');
    const head = await raw(base, 'HEAD', '/model/model.safetensors');
    assert.is(head.status, 200);
    assert.is(head.headers['content-length'], '7');
    assert.is(head.headers.etag, etag);
    assert.is((await raw(base, 'GET', '/model/model.safetensors', { 'If-None-Match': etag })).status, 304);
    const config = await raw(base, 'GET', '/model/config.json');
    assert.is(config.body, '{}');
    assert.is(config.headers['x-model-adapter'], 'none', 'the page is told there is no adapter to look for');
    assert.is(config.headers['x-model-weights'], 'model.safetensors', 'the page is told the weights are one file');
    assert.is(config.headers['x-model-speakers'], undefined, 'Human/Bot go without saying');
    for (const path of ['/model/optimizer.safetensors', '/nope.js', '/model/']) assert.is((await raw(base, 'GET', path)).status, 404, path);
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/model/..%2fsecret.txt', '/..%2f..%2fsecret.txt', '/a%5c..%5c..%5csecret.txt', '/%00', '/%E0%A4%A']) {
      const r = await raw(base, 'GET', path);
      assert.ok(r.status === 400 || r.status === 404, `${path}: ${r.status}`);
      assert.not.match(r.body, /secret/, path);
    }
    // not the page's: the API's routes and other methods go to the caller
    assert.is((await raw(base, 'POST', '/')).status, 418);
    assert.is((await raw(base, 'GET', '/v1/models')).status, 418);
    assert.is((await raw(base, 'GET', '/health')).status, 418);
  });
  await withServer((req, res) => void staticHandler({ root, modelDir: null })(req, res), async (base) => {
    const r = await raw(base, 'GET', '/model/model.safetensors');
    assert.is(r.status, 404);
    assert.match(r.body, /no model/);
  });
});

t('static files of a sharded save: the index and the shards it names, with ETags, and X-Model-Weights says so; nothing else; model.safetensors beside them wins', async () => {
  const sharded = join(dir, 'sharded');
  mkdirSync(sharded);
  writeFileSync(join(sharded, 'config.json'), '{}');
  const index = { metadata: { total_size: 8 }, weight_map: { 'wte.weight': 'model-00001-of-00002.safetensors', 'wpe.weight': 'model-00002-of-00002.safetensors' } };
  writeFileSync(join(sharded, 'model.safetensors.index.json'), JSON.stringify(index));
  writeFileSync(join(sharded, 'model-00001-of-00002.safetensors'), 'shard 1');
  writeFileSync(join(sharded, 'model-00002-of-00002.safetensors'), 'shard 2');
  writeFileSync(join(sharded, 'model-00003-of-00003.safetensors'), 'another save');
  await withServer((req, res) => void staticHandler({ root, modelDir: sharded })(req, res), async (base) => {
    assert.is((await raw(base, 'GET', '/model/config.json')).headers['x-model-weights'], 'model.safetensors.index.json');
    assert.equal(JSON.parse((await raw(base, 'GET', '/model/model.safetensors.index.json')).body), index);
    for (const [i, body] of [[1, 'shard 1'], [2, 'shard 2']] as const) {
      const path = `/model/model-0000${i}-of-00002.safetensors`;
      const get = await raw(base, 'GET', path);
      assert.is(get.body, body, path);
      const head = await raw(base, 'HEAD', path);
      assert.is(head.status, 200, path);
      assert.is(head.headers['content-length'], '7', path);
      assert.ok(head.headers.etag, `${path}: no ETag`);
      assert.is(head.headers.etag, get.headers.etag, path);
      assert.is((await raw(base, 'GET', path, { 'If-None-Match': head.headers.etag as string })).status, 304, path);
    }
    for (const path of ['/model/model.safetensors', '/model/model-00003-of-00003.safetensors']) {
      const r = await raw(base, 'GET', path);
      assert.is(r.status, 404, path);
      assert.match(r.body, /the model is \/model\/config\.json and \/model\/model\.safetensors\.index\.json and the shards it names/, path);
    }
    // model.safetensors saved beside them since: it is the model now, as in transformers, and the shards are not served
    writeFileSync(join(sharded, 'model.safetensors'), 'weights');
    assert.is((await raw(base, 'GET', '/model/config.json')).headers['x-model-weights'], 'model.safetensors');
    assert.is((await raw(base, 'GET', '/model/model.safetensors')).body, 'weights');
    assert.is((await raw(base, 'GET', '/model/model-00001-of-00002.safetensors')).status, 404);
  });
});

t('static files with a LoRA adapter (serve.js --adapter): its two files under /model/adapter/, nothing else of its directory; 404 without one', async () => {
  const adapter = join(dir, 'adapter');
  mkdirSync(adapter);
  writeFileSync(join(adapter, 'adapter_config.json'), '{"r": 4}');
  writeFileSync(join(adapter, 'adapter_model.safetensors'), 'lora');
  writeFileSync(join(adapter, 'optimizer.safetensors'), 'not for download');
  await withServer((req, res) => void staticHandler({ root, modelDir: model, adapterDir: adapter })(req, res), async (base) => {
    const cfg = await raw(base, 'GET', '/model/adapter/adapter_config.json');
    assert.is(cfg.status, 200);
    assert.is(cfg.body, '{"r": 4}');
    assert.is(cfg.headers['content-type'], 'application/json; charset=utf-8');
    const weights = await raw(base, 'GET', '/model/adapter/adapter_model.safetensors');
    assert.is(weights.body, 'lora');
    assert.is(weights.headers['content-type'], 'application/octet-stream');
    const head = await raw(base, 'HEAD', '/model/adapter/adapter_model.safetensors');
    assert.is(head.status, 200);
    assert.is(head.headers['content-length'], '4');
    assert.ok(head.headers.etag, 'no ETag');
    assert.is((await raw(base, 'GET', '/model/adapter/adapter_model.safetensors', { 'If-None-Match': head.headers.etag as string })).status, 304);
    assert.is((await raw(base, 'GET', '/model/model.safetensors')).body, 'weights', 'the base model beside it');
    assert.is((await raw(base, 'GET', '/model/config.json')).headers['x-model-adapter'], 'adapter/');
    for (const path of ['/model/adapter/optimizer.safetensors', '/model/adapter/', '/model/adapter', '/model/adapter/config.json', '/model/adapter_config.json']) {
      assert.is((await raw(base, 'GET', path)).status, 404, path);
    }
    for (const path of ['/model/adapter/../../secret.txt', '/model/adapter/..%2f..%2fsecret.txt', '/model/adapter/%2e%2e/optimizer.safetensors']) {
      const r = await raw(base, 'GET', path);
      assert.ok(r.status === 400 || r.status === 404, `${path}: ${r.status}`);
      assert.not.match(r.body, /secret|not for download/, path);
    }
  });
  for (const adapterDir of [null, undefined]) {
    await withServer((req, res) => void staticHandler({ root, modelDir: model, adapterDir })(req, res), async (base) => {
      for (const name of ['adapter_config.json', 'adapter_model.safetensors']) {
        const r = await raw(base, 'HEAD', `/model/adapter/${name}`);
        assert.is(r.status, 404, name);
      }
      const r = await raw(base, 'GET', '/model/adapter/adapter_config.json');
      assert.match(r.body, /no LoRA adapter/);
    });
  }
});

t('lossCurveSvg: a diverging run (one huge loss, NaN and infinite ones) draws no NaN into the SVG', () => {
  for (const pts of [[[1, 2.4e17]], [[1, 2.4e17], [2, NaN]], [[1, 3], [2, Infinity], [3, 3]]] as [number, number][][]) {
    const svg = lossCurveSvg(pts, [[2, NaN]], 'loss');
    assert.not.match(svg, /NaN|Infinity/, JSON.stringify(pts));
    assert.match(svg, /<path d="M|<rect x="[0-9.]+" y="[0-9.]+" width="4"/);
  }
});

// the SVG's axis labels: [position, text], the steps under the x axis, the losses left of the y axis
const axisLabels = (svg: string, axis: 'x' | 'y') =>
  [...svg.matchAll(/<text x="([^"]+)" y="([^"]+)" text-anchor="(middle|end)">([0-9.]+)<\/text>/g)]
    .filter((m) => m[3] === (axis === 'x' ? 'middle' : 'end')).map((m) => [Number(m[axis === 'x' ? 1 : 2]), m[4]] as [number, string]);
const evenlySpaced = (labels: [number, string][]) => labels.slice(2).every(([p], i) => Math.abs(p - labels[i + 1][0] - (labels[1][0] - labels[0][0])) < 1e-6);

t('lossCurveSvg: round axis labels (steps of 1, 2, 5 x 10^k), evenly spaced, each once, integer steps', () => {
  const curve = (n: number, from: number, to: number) => Array.from({ length: n }, (_, i) => [i + 1, from + ((to - from) * i) / Math.max(1, n - 1)] as [number, number]);
  const page = { width: 400, height: 260 };
  const cases: [string, string, string[], string[]][] = [
    // train.js's 12-step run was labelled 0 2 5 7 10 12 and 10.82 10.74 10.66 10.57 10.49 10.41
    ['12 steps', lossCurveSvg(curve(12, 10.82, 10.41), [[0, 10.82], [12, 10.41]], 'loss'), ['0', '2', '4', '6', '8', '10', '12'], ['10.45', '10.50', '10.55', '10.60', '10.65', '10.70', '10.75', '10.80']],
    ['450 steps', lossCurveSvg(curve(450, 10.8, 3.1), [], 'loss'), ['0', '100', '200', '300', '400'], ['4', '5', '6', '7', '8', '9', '10']],
    ['1 step', lossCurveSvg(curve(1, 10.82, 10.82), [[0, 10.83], [1, 10.75]], 'loss'), ['0', '1'], ['10.75', '10.76', '10.77', '10.78', '10.79', '10.80', '10.81', '10.82', '10.83']],
    // the page's chart (page.test checks a 4-step run's labels 0-4 in the browser)
    ['page, 4 steps', lossCurveSvg(curve(4, 10.82, 10.5), [[0, 10.83], [4, 10.52]], 'loss', page), ['0', '1', '2', '3', '4'], ['10.5', '10.6', '10.7', '10.8']],
    ['page, step 0 only', lossCurveSvg([], [[0, 10.83]], 'loss', page), ['0', '1'], ['6', '8', '10', '12', '14', '16']],
  ];
  for (const [name, svg, xs, ys] of cases) {
    const x = axisLabels(svg, 'x'), y = axisLabels(svg, 'y');
    assert.equal(x.map((l) => l[1]), xs, `${name}: steps`);
    assert.equal(y.map((l) => l[1]), ys, `${name}: losses`);
    assert.ok(evenlySpaced(x) && evenlySpaced(y), `${name}: uneven gaps ${JSON.stringify([x, y])}`);
  }
});

t('lossCurveSvg: the legend names only the curves drawn (the page\'s step-0 chart has only a held-out point)', () => {
  const legend = (svg: string) => [...svg.matchAll(/>(train loss|val loss)</g)].map((m) => m[1]);
  assert.equal(legend(lossCurveSvg([], [[0, 10.83]], 'loss')), ['val loss']);
  assert.equal(legend(lossCurveSvg([[1, 10.8], [2, 10.7]], [], 'loss')), ['train loss']);
  assert.equal(legend(lossCurveSvg([[1, 10.8], [2, NaN]], [[2, NaN]], 'loss')), ['train loss']);
  assert.equal(legend(lossCurveSvg([[1, 10.8], [2, 10.7]], [[0, 10.9]], 'loss')), ['train loss', 'val loss']);
  // one train point (a 1-step run) is a mark, not a path of one point that draws nothing
  const one = lossCurveSvg([[1, 10.82]], [[0, 10.83]], 'loss');
  assert.equal(legend(one), ['train loss', 'val loss']);
  assert.match(one, /<rect x="[0-9.]+" y="[0-9.]+" width="4" height="4" fill="#1f77b4"\/>/);
});

t('the page\'s settings take a sampling value exactly when serve.js does (one set of limits)', () => {
  const model = { id: 'tiny', contextLength: 1024, vocabSize: 50257, created: 1 };
  const cases: [string, number][] = [
    ['temperature', 0], ['temperature', 2], ['temperature', 2.5], ['temperature', 5], ['temperature', 1e9], ['temperature', -1],
    ['top_p', 0], ['top_p', 0.5], ['top_p', 1.5], ['top_k', 0], ['top_k', 1e9], ['top_k', -3], ['top_k', 2.5],
    ['repetition_penalty', 0], ['repetition_penalty', 1.3], ['frequency_penalty', -5], ['frequency_penalty', -2], ['frequency_penalty', 2.5],
    ['max_tokens', 0], ['max_tokens', 1.5], ['max_tokens', 20], ['seed', -1], ['seed', 42], ['seed', 1.5], ['seed', 1e30],
  ];
  const refused: string[] = [];
  for (const [name, v] of cases) {
    const f = SAMPLING_FIELDS.find((x) => x.name === name)!;
    const page = applyField(defaultChatOptions(), f, String(v));
    let server: string | null = null;
    try {
      parseChatRequest({ messages: [{ role: 'user', content: 'hi' }], [name]: v }, model, () => 1);
    } catch (e) {
      server = (e as Error).message;
    }
    assert.is(page === null, server === null, `${name} ${v}: the page says ${page ?? 'yes'}, the server ${server ?? 'yes'}`);
    if (server !== null) refused.push(`${name} ${v}`);
  }
  // both sides taking (or refusing) everything would agree too: the cases hold values of each kind
  assert.equal(refused, ['temperature 2.5', 'temperature 5', 'temperature 1000000000', 'temperature -1', 'top_p 0', 'top_p 1.5', 'top_k -3', 'top_k 2.5',
    'repetition_penalty 0', 'frequency_penalty -5', 'frequency_penalty 2.5', 'max_tokens 0', 'max_tokens 1.5', 'seed 1.5', 'seed 1e+30']);
});

t('a query parameter the page does not know (a typo: ?temprature=) is said with the ones it knows; every one it knows is taken without a word', () => {
  const s = settingsFromQuery('?engine=browser&temprature=0.5');
  assert.equal(s.problems, ['?temprature=0.5: not a setting of this page (it takes engine, temperature, top_k, top_p, repetition_penalty, frequency_penalty, max_tokens, seed, max_new_tokens, persona, model, adapter, server, human, bot)']);
  assert.is(s.engine, 'browser', 'the rest is taken');
  const known = { engine: 'server', temperature: '0', top_k: '5', top_p: '0.5', repetition_penalty: '1', frequency_penalty: '0', max_tokens: '20', seed: '3', max_new_tokens: '30', persona: 'p', model: 'm/', adapter: 'a/', server: 'http://x', human: 'User', bot: 'Assistant' };
  assert.equal(settingsFromQuery(`?${new URLSearchParams(known)}`).problems, []);
  // what a shared link picks up is not a typo of the visitor's
  assert.equal(settingsFromQuery('?utm_source=newsletter&utm_medium=email&fbclid=IwAR0&gclid=Cj0&msclkid=5c1&temperature=0').problems, []);
});

t('?human=/?bot=: the tags of a model trained with others, checked as chat.js checks --human/--bot; each one given wins over the header\'s, which wins over Human/Bot', () => {
  const q = (search: string) => settingsFromQuery(search);
  assert.equal(q('?human=User&bot=Assistant').speakers, { human: 'User', bot: 'Assistant' });
  assert.equal(q('?human=%20User%20').speakers, { human: 'User' });
  assert.equal(q('').speakers, {});
  for (const [search, problem] of [
    ['?human=Us:er', /^\?human=Us:er: must be a non-empty name without ':' or newlines$/],
    ['?bot=', /^\?bot=: must be a non-empty name/],
    ['?human=Bot&bot=%20Bot', /^\?human=Bot&bot=Bot: the human and bot tags are both 'Bot'/],
  ] as const) {
    const s = q(search);
    assert.equal(s.speakers, {}, search);
    assert.is(s.problems.length, 1, `${search}: ${s.problems.join('; ')}`);
    assert.match(s.problems[0], problem);
  }
  const header = { human: 'User', bot: 'Assistant' };
  assert.equal(speakersFromQueryOrHost(null, {}), { human: 'Human', bot: 'Bot' });
  assert.equal(speakersFromQueryOrHost(header, {}), header);
  assert.equal(speakersFromQueryOrHost(header, { bot: 'AI' }), { human: 'User', bot: 'AI' });
  assert.equal(speakersFromQueryOrHost(null, { human: 'Q', bot: 'A' }), { human: 'Q', bot: 'A' });
  assert.throws(() => speakersFromQueryOrHost(null, { human: 'Bot' }), /^\?human=Bot: the human and bot tags are both 'Bot'/);
  assert.throws(() => speakersFromQueryOrHost(header, { bot: 'User' }), /^\?bot=User: the human and bot tags are both 'User'/);
  // a static host says nothing: the page takes the tags config.json records (the Fine-tune tab's download, a merged adapter); serve.js's header wins over them
  const url = 'https://host/model/config.json', recorded = configText(GPT2_124M, { human: 'User', bot: 'AI' });
  assert.equal(modelSpeakers(null, recorded, url), { human: 'User', bot: 'AI' });
  assert.is(modelSpeakers(null, configText(GPT2_124M), url), null);
  assert.equal(modelSpeakers(speakersHeaderValue(DEFAULT_SPEAKERS), recorded, url), DEFAULT_SPEAKERS);
  assert.equal(speakersFromQueryOrHost(modelSpeakers(null, recorded, url), { human: 'Me' }), { human: 'Me', bot: 'AI' });
});

t('?max_tokens= (or chat.js\'s name for it, ?max_new_tokens=) presets Max tokens; a value it cannot take is said under the name the query gave', () => {
  const a = settingsFromQuery('?max_tokens=64&temperature=0');
  assert.is(a.chat.maxNewTokens, 64);
  assert.is(a.chat.sampling.temperature, 0);
  assert.ok(a.maxTokensGiven);
  const b = settingsFromQuery('?max_new_tokens=48');
  assert.is(b.chat.maxNewTokens, 48);
  assert.ok(b.maxTokensGiven);
  assert.equal(b.problems, []);
  assert.is(settingsFromQuery('?max_tokens=20&max_new_tokens=30').chat.maxNewTokens, 20, 'the API name wins');
  for (const name of ['max_tokens', 'max_new_tokens']) {
    const bad = settingsFromQuery(`?${name}=0`);
    assert.is(bad.chat.maxNewTokens, 128, name);
    assert.not.ok(bad.maxTokensGiven, name);
    assert.is(bad.problems.length, 1, name);
    assert.match(bad.problems[0], new RegExp(`^\\?${name}=0: max_tokens `), name);
  }
});

t('SseParser: events split anywhere, CRLF and CR, comments, multi-line data, other fields', () => {
  const stream = ': keep-alive\r\ndata: {"a":1}\r\n\r\nevent: x\ndata: line one\ndata: line two\nid: 7\n\ndata:[DONE]\r\r\n';
  const whole = new SseParser().push(stream);
  assert.equal(whole, ['{"a":1}', 'line one\nline two', '[DONE]']);
  for (let cut = 0; cut <= stream.length; cut++) {
    const p = new SseParser();
    assert.equal([...p.push(stream.slice(0, cut)), ...p.push(stream.slice(cut))], whole, `split at ${cut}`);
  }
  const p = new SseParser();
  assert.equal([...stream].flatMap((c) => p.push(c)), whole, 'one character at a time');
});

t('streamChat: POSTs the messages and sampling params by API name with stream: true and usage asked for; joins the deltas; reads what the server dropped and the usage; aborts, also before the answer; reports errors. listModels reads the context length', async () => {
  let body: any = null;
  await withServer((req, res) => {
    if (req.method === 'GET' && req.url === '/v1/models') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const model = (id: string, more: object) => ({ id, object: 'model', created: 0, owned_by: 'me', ...more });
      return void res.end(JSON.stringify({ object: 'list', data: [model('tiny', { context_length: 64 }), model('vllm', { max_model_len: 2048 }), model('plain', {}), model('odd', { context_length: '64' })] }));
    }
    let text = '';
    req.setEncoding('utf8').on('data', (d) => (text += d)).on('end', () => {
      body = JSON.parse(text);
      if (body.temperature < 0) {
        res.writeHead(400, { 'Content-Type': 'application/json' });
        return void res.end(JSON.stringify({ error: { message: 'temperature must be >= 0', type: 'invalid_request_error', param: 'temperature', code: null } }));
      }
      if (body.max_tokens === 2) return; // no answer at all: the client aborts before the response
      res.writeHead(200, { 'Content-Type': 'text/event-stream', ...(body.max_tokens === 8 ? { 'X-Dropped-Exchanges': '2' } : {}) });
      const chunk = (delta: object, finish: string | null) =>
        `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 0, model: 'tiny', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      const usage = `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 0, model: 'tiny', choices: [], usage: { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 } })}\n\n`;
      const all = chunk({ role: 'assistant', content: '' }, null) + chunk({ content: 'Hel' }, null) + chunk({ content: 'lo, Sam' }, null) + chunk({ content: '!' }, null) + chunk({}, 'stop') + usage + 'data: [DONE]\n\n';
      if (body.max_tokens === 1) return void res.write(chunk({ content: 'Hel' }, null)); // and never ends: the client aborts
      // serve.js stopping mid-reply: an error event after the text so far
      if (body.max_tokens === 3) return void res.end(chunk({ content: 'Hel' }, null) + `data: ${JSON.stringify({ error: { message: 'The server is shutting down.', type: 'server_error', param: null, code: 'server_shutting_down' } })}\n\n`);
      // in uneven pieces, as a network delivers them
      const cuts = [0, 5, 61, 62, 150, 151, 300, all.length];
      cuts.slice(1).forEach((c, i) => res.write(all.slice(cuts[i], c)));
      res.end();
    });
  }, async (base) => {
    assert.equal(await listModels(base), [
      { id: 'tiny', contextLength: 64 }, { id: 'vllm', contextLength: 2048 }, { id: 'plain', contextLength: null }, { id: 'odd', contextLength: null },
    ]);
    const deltas: string[] = [];
    const messages = [{ role: 'system' as const, content: 'Be kind.' }, { role: 'user' as const, content: 'Hi' }];
    const r = await streamChat(base, { model: 'tiny', messages, temperature: 0, top_k: 5, top_p: 0.9, repetition_penalty: 1.1, frequency_penalty: 0.2, seed: 3, max_tokens: 8 }, (d) => deltas.push(d));
    assert.equal(r, { content: 'Hello, Sam!', finishReason: 'stop', dropped: 2, usage: { prompt_tokens: 9, completion_tokens: 4 } }, 'serve.js says in a header what it dropped');
    assert.equal(deltas, ['Hel', 'lo, Sam', '!']);
    assert.equal(body, { model: 'tiny', messages, temperature: 0, top_k: 5, top_p: 0.9, repetition_penalty: 1.1, frequency_penalty: 0.2, seed: 3, max_tokens: 8, stream: true, stream_options: { include_usage: true } });
    const ctl = new AbortController();
    const partial = await streamChat(base, { model: 'tiny', messages, max_tokens: 1 }, () => ctl.abort(), ctl.signal);
    assert.equal(partial, { content: 'Hel', finishReason: null, dropped: 0, usage: null });
    const early = new AbortController();
    setTimeout(() => early.abort(), 200);
    assert.equal(await streamChat(base, { model: 'tiny', messages, max_tokens: 2 }, () => {}, early.signal), { content: '', finishReason: null, dropped: 0, usage: null }, 'a stop before the server answered is an empty reply, not an error');
    try {
      await streamChat(base, { model: 'tiny', messages, temperature: -1 }, () => {});
      assert.unreachable('no error for a 400');
    } catch (e) {
      assert.match((e as Error).message, /temperature must be >= 0/);
      // the field it is about, for the page to tell cases apart (serve.js's context_length_exceeded)
      assert.ok(e instanceof ApiError && e.param === 'temperature' && e.said === 'temperature must be >= 0', String(e));
    }
    try {
      await streamChat(base, { model: 'tiny', messages, max_tokens: 3 }, () => {});
      assert.unreachable('no error for an error event');
    } catch (e) {
      // its code, for the page to say the server stopped
      assert.ok(e instanceof ApiError && e.code === 'server_shutting_down' && e.message === 'The server is shutting down.', String(e));
    }
  });
});

t('asSentence (the page\'s one-line notices): a capital and a full stop; a message that starts with a URL or a path keeps it as written', () => {
  assert.is(asSentence('could not reach http://h/v1 (refused)'), 'Could not reach http://h/v1 (refused).');
  assert.is(asSentence('The server stopped.'), 'The server stopped.');
  assert.is(asSentence('Start it again (node dist/serve.js)'), 'Start it again (node dist/serve.js).');
  assert.is(asSentence('http://h/v1/chat/completions: not an API'), 'http://h/v1/chat/completions: not an API.');
  assert.is(asSentence('model/config.json: 404 Not Found'), 'model/config.json: 404 Not Found.');
  assert.is(asSentence('gpt2-medium: too big'), 'gpt2-medium: too big.');
});

t('serverReason: finish_reason length is a full context when the tokens reached the context before max_tokens, else max tokens', () => {
  const u = (prompt_tokens: number, completion_tokens: number) => ({ prompt_tokens, completion_tokens });
  const cases: [string | null, ReturnType<typeof u> | null, string][] = [
    ['length', u(11, 54), 'context'], // serve.js: the last token sampled is past the context (11 + 54 = 65)
    ['length', u(11, 53), 'context'], // a server that stops at the context (vLLM)
    ['length', u(11, 52), 'length'], // room was left: cut short some other way, not by the context
    ['length', u(11, 63), 'length'], // max_tokens reached, also when the context is full with it
    ['length', null, 'length'], // no usage: cannot tell
    ['stop', u(11, 54), 'stop'], ['content_filter', null, 'content_filter'], [null, u(11, 54), 'abort'],
  ];
  for (const [finishReason, usage, want] of cases) assert.is(serverReason({ finishReason, usage }, 64, 63), want, `${finishReason} ${JSON.stringify(usage)}`);
  assert.is(serverReason({ finishReason: 'length', usage: u(11, 54) }, Infinity, 63), 'length', 'a server that does not say its context');
});

t.run();
