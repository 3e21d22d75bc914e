// A bounded load and fault test of the server on loopback: rounds of 32 concurrent clients,
// several requests each, some streaming, some disconnecting mid-stream, some sending garbage.
// Every complete request must get its full, correct (greedy, known in advance) answer, the
// server must stay up, and memory must not grow from one round to the next.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { randomCheckpoint, request, startServer, streamedContent, type TestServer } from './serve_util.ts';

const t = suite('serve_load');
const CLIENTS = 32, REQUESTS = 3, ROUNDS = Number(process.env.SERVE_LOAD_ROUNDS ?? 3);
const MESSAGES = ['Hi!', 'How are you today?', 'What is the capital of France?', 'Tell me a joke.', 'Good night', 'Can you help me?', 'I like trains.', 'Why is the sky blue?'];
const body = (i: number, extra: Record<string, unknown> = {}) => ({ messages: [{ role: 'user', content: MESSAGES[i % MESSAGES.length] }], temperature: 0, max_tokens: 8, ...extra });

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** open a stream, read until the first piece of content, then hang up */
async function disconnectMidStream(url: string, i: number): Promise<void> {
  const ac = new AbortController();
  const r = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(body(i, { stream: true, max_tokens: 40 })), signal: ac.signal });
  const reader = r.body!.getReader();
  let got = '';
  while (got.split('data:').length < 3) {
    const { value, done } = await reader.read();
    if (done) break;
    got += new TextDecoder().decode(value);
  }
  ac.abort();
}

/** bytes that are not HTTP, or HTTP with a body that is not JSON; the connection is closed either way */
function garbage(url: string, i: number): Promise<string> {
  const { port } = new URL(url);
  const junk = i % 2
    ? Buffer.from(Array.from({ length: 300 }, (_, k) => (k * 37 + i) % 256))
    : `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\nConnection: close\r\n\r\n{"messages": [{"rol`;
  return new Promise((resolve) => {
    const sock = connect(Number(port), '127.0.0.1');
    let got = '';
    sock.setEncoding('utf8').on('data', (d) => (got += d));
    sock.on('error', () => {});
    sock.on('close', () => resolve(got));
    sock.end(junk);
  });
}

t('32 concurrent clients, several requests each, disconnects and garbage: full correct answers, the server stays up, memory flat', async () => {
  const srv: TestServer = await startServer(randomCheckpoint(11), { maxBatch: 8, scheduler: { maxQueue: 64 }, http: { requestTimeoutMs: 5000 } });
  try {
    // the answers, one request at a time
    const expected: string[] = [];
    for (let i = 0; i < MESSAGES.length; i++) {
      const r = await request(srv.url, '/v1/chat/completions', body(i));
      assert.is(r.status, 200, r.text);
      expected.push(r.json.choices[0].message.content);
    }
    assert.ok(new Set(expected).size > 1, 'different messages get different answers');
    const g = srv.gen.model.gpu;
    const memory: { heap: number; rss: number; gpuBytes: number }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      let complete = 0, disconnected = 0, rejected = 0;
      await Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
        for (let k = 0; k < REQUESTS; k++) {
          const i = c * REQUESTS + k + round, what = (c + k + round) % 6;
          if (what === 0) {
            await disconnectMidStream(srv.url, i);
            disconnected++;
          } else if (what === 1) {
            const reply = await garbage(srv.url, i);
            assert.match(reply, /^HTTP\/1\.1 400 /, `garbage gets a 400: ${reply.slice(0, 80)}`);
            rejected++;
          } else {
            const stream = what % 2 === 0;
            const r = await request(srv.url, '/v1/chat/completions', body(i, stream ? { stream: true } : {}));
            assert.is(r.status, 200, r.text);
            const content = stream ? streamedContent(r.text) : r.json.choices[0].message.content;
            assert.is(content, expected[i % MESSAGES.length], `round ${round}, client ${c}, request ${k} (${stream ? 'stream' : 'whole'})`);
            complete++;
          }
        }
      }));
      assert.ok(complete > CLIENTS && disconnected > 0 && rejected > 0, `${complete} complete, ${disconnected} disconnected, ${rejected} garbage`);
      // still up, nothing left running
      const h = await request(srv.url, '/health');
      assert.equal([h.status, h.json.active, h.json.queued], [200, 0, 0], h.text);
      await new Promise((r) => setTimeout(r, 50));
      gc();
      memory.push({ heap: process.memoryUsage().heapUsed, rss: process.memoryUsage().rss, gpuBytes: g.pool.liveBytes + g.pool.pooledBytes });
      if (process.env.SERVE_LOAD_VERBOSE) console.log(`round ${round}: ${complete} complete, ${disconnected} disconnected, ${rejected} garbage; steps ${srv.scheduler.steps}`, memory.at(-1));
    }
    // round 0 warms up (pipelines, pooled buffers of every batch size); later rounds must not grow
    const [a, b] = memory.slice(-2);
    const mb = (x: number) => (x / 2 ** 20).toFixed(1);
    assert.ok(b.gpuBytes <= a.gpuBytes, `GPU buffers ${mb(a.gpuBytes)} -> ${mb(b.gpuBytes)} MiB`);
    assert.ok(b.heap - a.heap < 8 * 2 ** 20, `JS heap ${mb(a.heap)} -> ${mb(b.heap)} MiB`);
    assert.ok(b.rss - a.rss < 64 * 2 ** 20, `RSS ${mb(a.rss)} -> ${mb(b.rss)} MiB`);
    assert.ok(srv.logs.length >= ROUNDS * CLIENTS * REQUESTS / 2, 'every request is logged');
  } finally {
    await srv.close();
  }
});

t.run();
