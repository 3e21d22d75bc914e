// The chat page in a real headless Chromium (WebGPU on SwiftShader where there is no GPU),
// against the CLI on the same tiny random checkpoint: the same greedy reply, the same training
// losses, a downloaded model that chat.js loads; the fallback without WebGPU; a LoRA adapter
// merged in the browser (serve.js --adapter, ?adapter=) as chat.js --adapter merges it; a sharded
// save's shards joined in the browser; screenshots.
// One browser page goes through the steps in order (loading a page costs seconds here).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Dialog, Page } from 'playwright-core';
import type { GPT2Config } from '../src/model/config.ts';
import { saveGPT2Weights } from '../src/node/weights.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, saveAdapter } from '../src/node/adapter_dir.ts';
import { checkLora, initLoraArrays, type LoraSettings } from '../src/model/lora.ts';
import { Rng } from '../src/util/rng.ts';
import { ask, launch, pageLog, serveFolder, servePage, waitForState, type PageServer } from './browser.ts';
import { assertOk, ROOT, run, start, waitForStdout } from './child.ts';
import { shardedCopy, shardName, tinyArrays } from './fixtures.ts';
import { megabytes } from '../src/util/words.ts';

const t = suite('page');
const dir = mkdtempSync(join(tmpdir(), 'gpt2-page-'));
const SHOTS = join(ROOT, 'out/page-screenshots');
// GPT-2's tokenizer and vocabulary (the page chats through them), everything else tiny
const CONFIG: GPT2Config = { n_layer: 2, n_head: 2, n_embd: 32, n_positions: 64, vocab_size: 50257, layer_norm_epsilon: 1e-5 };
const ckpt = join(dir, 'tiny');
saveGPT2Weights(ckpt, CONFIG, tinyArrays(CONFIG, 11));
// a random LoRA adapter for it (B not zero, so it changes the replies)
const adapter = join(dir, 'adapter');
const LORA: LoraSettings = { r: 4, alpha: 8, dropout: 0, targets: ['c_attn', 'mlp.c_proj'] };
{
  const arrays = initLoraArrays(checkLora(CONFIG, LORA), LORA.r, 12);
  const rng = new Rng(13);
  for (const [name, v] of arrays) if (name.endsWith('lora_B.weight')) for (let i = 0; i < v.length; i++) v[i] = rng.normal() * 0.3;
  saveAdapter(adapter, LORA, checkLora(CONFIG, LORA), ckpt, arrays);
}
/** the adapter away from /model/adapter/ on the test server, for ?adapter= */
const ELSEWHERE = { '/lora/adapter_config.json': join(adapter, ADAPTER_CONFIG), '/lora/adapter_model.safetensors': join(adapter, ADAPTER_WEIGHTS) };
const GREEDY = { temperature: '0', repetition_penalty: '1', frequency_penalty: '0', max_tokens: '12' };
const greedyFlags = ['--temperature', '0', '--repetition-penalty', '1', '--frequency-penalty', '0', '--max-new-tokens', '12', '--quiet'];
const WIDE = { width: 1280, height: 820 }, NARROW = { width: 390, height: 844 };

let browser: Browser, server: PageServer, page: Page, logs: string[];

t.before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await servePage(ckpt, ELSEWHERE);
  browser = await launch({ webgpu: true });
  page = await browser.newPage({ viewport: WIDE });
  logs = pageLog(page);
});
let t0 = 0;
t.before.each(() => { t0 = performance.now(); });
t.after.each(() => { if (process.env.PAGE_TIMING) console.log(`  ${((performance.now() - t0) / 1000).toFixed(1)} s`); });
t.after(async () => {
  await browser?.close();
  await server?.close();
});

const url = (q: Record<string, string>) => `${server.url}?${new URLSearchParams(q)}`;
const chatJs = async (init: string, prompt: string, more: string[] = []) => {
  const r = await run('chat', ['--init', init, ...more, '--prompt', prompt, ...greedyFlags]);
  assertOk(r, 'chat.js --prompt');
  return r.stdout.trim();
};
/** the first 40 conversations of the shipped data: a few windows of 64 tokens */
const TRAIN_TEXT = readFileSync(join(ROOT, 'data/chat.txt'), 'utf8').split(/\n\s*\n/).slice(0, 40).join('\n\n') + '\n';
const trainFile = join(dir, 'train.txt');
writeFileSync(trainFile, TRAIN_TEXT);
const PROMPT = 'What is two plus two?';
/** chat.js's greedy reply to PROMPT on the untrained checkpoint (the first test sets it) */
let untrained = '';
const why = () => `\npage log:\n${logs.slice(-20).join('\n')}`;
/** from now on, keep every text #train-status shows (a run's lines replace each other faster than a test polls) */
const recordStatus = () => page.evaluate(`(() => {
  window.statusObserver?.disconnect();
  const seen = (window.statusSeen = []);
  window.statusObserver = new MutationObserver((records) => { for (const r of records) for (const n of r.addedNodes) seen.push(n.textContent); });
  window.statusObserver.observe(document.getElementById('train-status'), { childList: true });
})()`);
const statusSeen = () => page.evaluate('window.statusSeen') as Promise<string[]>;

t('in-browser greedy reply equals chat.js --prompt; a reload takes the weights from the cache', async () => {
  await page.goto(url({ engine: 'browser', ...GREEDY }));
  await waitForState(page, 'ready');
  // the server says it has no adapter, and the page has no icon: nothing to fail (a 404 is an error in the console)
  assert.equal(server.requests.filter((r) => /adapter|favicon/.test(r)), []);
  assert.equal(logs.filter((l) => /Failed to load/.test(l)), []);
  const [reply, expected] = await Promise.all([ask(page, PROMPT), chatJs(ckpt, PROMPT)]);
  assert.ok(expected.length > 0, 'chat.js gave an empty reply');
  assert.is(reply, expected, `page vs chat.js${why()}`);
  untrained = expected;
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

t('fine-tuning in the page: the same losses as train.js (the held-out loss before the first step too); the download loads in chat.js, which answers as the page does', async () => {
  assert.ok(untrained, 'needs the first test'); // else the reply is checked against '' below
  const steps = 4, lr = '0.001';
  const log = join(dir, 'train.jsonl');
  const cli = run('train', ['--init', ckpt, '--data', trainFile, '--out', join(dir, 'cli-out'), '--steps', String(steps), '--lr', lr, '--batch-size', '2', '--block-size', '64', '--log', log]);
  await page.click('.side-tabs button[data-view="train"]');
  await page.fill('#train-text', TRAIN_TEXT);
  await page.fill('#train-steps', String(steps));
  await page.fill('#train-lr', lr);
  await page.fill('#train-batch', '2');
  await page.fill('#train-block', '64');
  await recordStatus();
  await page.click('#train-start');
  await waitForState(page, 'ready', `document.getElementById('loss-chart').dataset.step === '${steps}'`);
  const byCliRun = await cli;
  assertOk(byCliRun, 'train.js');
  // the step-0 baseline, as train.js prints it ('step     0/4 | val X')
  const cliStart = Number(/^step +0\/4 \| val (\d+\.\d+)$/m.exec(byCliRun.stdout)?.[1]);
  const seen = await statusSeen();
  const pageStart = seen.map((l) => /^Step 0 of 4 · held-out (\d+\.\d{4})$/.exec(l)?.[1]).filter((v) => v !== undefined).map(Number);
  assert.is(pageStart.length, 1, `one step-0 held-out loss in the page's progress: ${JSON.stringify(seen)}${why()}`);
  assert.ok(Math.abs(pageStart[0] - cliStart) <= 1e-4 * cliStart + 1e-4, `step 0: page held-out ${pageStart[0]} vs train.js val ${cliStart}`);
  assert.match(seen[seen.indexOf(`Step 0 of 4 · held-out ${pageStart[0].toFixed(4)}`) + 1], /^Step 1 of 4 · /, 'the step-0 line comes before step 1\'s');
  // the chart: step 0's held-out point is on the curve, over the x axis's 0, clear of the axes (not in their corner); each step labelled once
  const chart = await page.evaluate(`(() => {
    const svg = document.querySelector('#loss-chart svg'), box = (e) => e.getBoundingClientRect();
    const axes = [...svg.querySelectorAll('line[stroke="#333"]')];
    const yAxis = box(axes.find((l) => l.getAttribute('x1') === l.getAttribute('x2'))), xAxis = box(axes.find((l) => l.getAttribute('y1') === l.getAttribute('y2')));
    const points = [...svg.querySelectorAll('circle')].map(box).map((c) => ({ x: (c.left + c.right) / 2, inside: c.left > yAxis.right && c.bottom < xAxis.top }));
    const ticks = [...svg.querySelectorAll('text')].filter((t) => box(t).top > xAxis.bottom && /^[0-9]+$/.test(t.textContent)).map((t) => ({ step: t.textContent, x: (box(t).left + box(t).right) / 2 }));
    return { points, ticks };
  })()`) as { points: { x: number; inside: boolean }[]; ticks: { step: string; x: number }[] };
  assert.ok(chart.points.length >= 2 && chart.points.every((p) => p.inside), `held-out points on an axis: ${JSON.stringify(chart.points)}`);
  assert.equal(chart.ticks.map((t) => t.step), ['0', '1', '2', '3', '4']);
  assert.ok(Math.abs(chart.points[0].x - chart.ticks[0].x) < 1, `step 0's point at x ${chart.points[0].x}, its label at ${chart.ticks[0].x}`);
  const inPage = new Map<number, number>(JSON.parse((await page.getAttribute('#loss-chart', 'data-losses'))!));
  const byCli = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; loss?: number });
  assert.is(byCli.length, steps);
  for (const { step, loss } of byCli) {
    assert.ok(loss !== undefined && inPage.has(step), `step ${step}: a loss on both sides (page ${inPage.get(step)}, train.js ${loss})${why()}`);
    const rel = Math.abs(inPage.get(step)! - loss!) / Math.abs(loss!);
    assert.ok(rel <= 1e-4, `step ${step}: page loss ${inPage.get(step)} vs train.js ${loss} (relative ${rel.toExponential(2)})`);
  }

  const out = join(dir, 'downloaded');
  mkdirSync(out);
  for (const [id, name] of [['#download-model', 'model.safetensors'], ['#download-config', 'config.json']]) {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(id)]);
    assert.is(download.suggestedFilename(), name);
    await download.saveAs(join(out, name));
  }
  await page.click('#reset');
  const [reply, expected] = await Promise.all([ask(page, PROMPT), chatJs(out, PROMPT)]);
  assert.is(reply, expected, `the trained page vs chat.js --init <downloaded>${why()}`);
  assert.is.not(expected, untrained, 'training did not change the greedy reply (the download may be the old weights)');
});

t('training shows a live loss curve and stops on Stop; screenshots during training, wide and narrow', async () => {
  await page.fill('#train-steps', '400');
  await page.click('#train-start');
  await waitForState(page, 'training', `+document.getElementById('loss-chart').dataset.step >= 3`);
  const progress = (await page.textContent('#train-status'))!;
  await page.screenshot({ path: join(SHOTS, 'training-wide.png') });
  await page.setViewportSize(NARROW);
  await page.click('.tabs button[data-view="train"]');
  await page.screenshot({ path: join(SHOTS, 'training-narrow.png') });
  await page.click('#train-stop');
  await waitForState(page, 'ready');
  const step = Number(await page.getAttribute('#loss-chart', 'data-step'));
  assert.ok(step >= 3 && step < 400, `stopped at step ${step}`);
  assert.match((await page.textContent('#train-status'))!, /Stopped after step/);
  // progress with an ETA, as train.js prints it
  assert.match(progress, /^Step \d+ of 400 · .* · ETA (\d+s|\d+m\d\ds|\d+\.\dh)$/);
  assert.ok(await page.isVisible('#loss-chart svg path'), 'no loss curve drawn');
  await page.click('.tabs button[data-view="chat"]');
  await page.setViewportSize(WIDE);
});

const hidden = async (id: string) => (await page.getAttribute(id, 'hidden')) !== null;

t('Stop before the first step (as the step-0 held-out loss shows) ends the run at once: no step trained; the chart and the download stay the last run\'s', async () => {
  await page.click('.side-tabs button[data-view="train"]');
  await recordStatus();
  const chartBefore = await page.innerHTML('#loss-chart'), losses = await page.getAttribute('#loss-chart', 'data-losses'), step = await page.getAttribute('#loss-chart', 'data-step');
  assert.ok(chartBefore.includes('<path'), 'needs the stopped run above: its curve');
  // Stop is pressed inside the step-0 line's update (its point already drawn), so lands before the first step whatever this machine's speed
  await page.evaluate(`(() => {
    const status = document.getElementById('train-status'), text = Object.getOwnPropertyDescriptor(Node.prototype, 'textContent');
    Object.defineProperty(status, 'textContent', { configurable: true, get: text.get, set(v) {
      text.set.call(this, v);
      if (v.startsWith('Step 0 of ')) {
        document.getElementById('train-stop').click();
        window.stopLabel = document.getElementById('train-stop').textContent;
      }
    } });
    document.getElementById('train-start').click();
  })()`);
  await waitForState(page, 'ready');
  await page.evaluate(`delete document.getElementById('train-status').textContent`);
  const seen = await statusSeen();
  assert.ok(seen.some((l) => l.startsWith('Step 0 of ')), `no step-0 line: ${JSON.stringify(seen)}${why()}`);
  assert.is(await page.textContent('#train-status'), 'Stopped before the first step: nothing trained; the model is as it was.', `${JSON.stringify(seen)}${why()}`);
  assert.is(await page.evaluate('window.stopLabel'), 'Stopping…', 'no step to finish');
  assert.not.ok(await hidden('#downloads'), 'the stopped run above still offers its weights');
  // the curve is the one whose model the download is, not this run's step-0 point
  assert.is(await page.innerHTML('#loss-chart'), chartBefore, 'the chart shows the run that trained nothing');
  assert.is(await page.getAttribute('#loss-chart', 'data-losses'), losses);
  assert.is(await page.getAttribute('#loss-chart', 'data-step'), step);
  await page.click('.side-tabs button[data-view="settings"]');
});

t('a diverged run (learning rate 1e6) puts the weights back and says so in the page\'s words; the last run\'s download stays; no NaN reaches the chart', async () => {
  await page.click('#reset');
  const before = await ask(page, PROMPT);
  assert.not.ok(await hidden('#downloads'), 'the stopped run above offers its weights');
  await page.click('.side-tabs button[data-view="train"]');
  const from = logs.length;
  await page.fill('#train-steps', '10');
  await page.fill('#train-lr', '1e6');
  await page.click('#train-start');
  await waitForState(page, 'ready', `document.getElementById('train-status').classList.contains('error')`);
  const status = (await page.textContent('#train-status'))!;
  assert.match(status, /the loss is .*training stopped\. The model is as it was before this run\. Try a lower Learning rate \(now 1000000\)/);
  assert.not.match(status, /--|checkpoint/, 'train.js\'s flags and files are not the page\'s');
  assert.not.ok(await hidden('#downloads'), 'the weights are the stopped run\'s again, and so is its download');
  assert.is(logs.slice(from).filter((l) => /NaN|error/i.test(l)).join('\n'), '', 'console errors during the diverged run');
  await page.click('#reset');
  assert.is(await ask(page, PROMPT), before, `the model after the diverged run${why()}`);

  // a run refused before its first step leaves the chart and the download as they were
  const chartBefore = await page.innerHTML('#loss-chart');
  await page.fill('#train-lr', '0.001');
  await page.fill('#train-batch', '0');
  await page.click('#train-start');
  await waitForState(page, 'ready', `document.getElementById('train-status').classList.contains('error')`);
  assert.match((await page.textContent('#train-status'))!, /Batch size/);
  assert.not.ok(await hidden('#downloads'), 'a run that never stepped hid the download');
  assert.is(await page.innerHTML('#loss-chart'), chartBefore, 'a run that never stepped cleared the chart');
  // one too big for the GPU's buffers: what to lower, in the form's words, and no advice about a setting the form does not have
  await page.fill('#train-batch', '1000000');
  await page.click('#train-start');
  await waitForState(page, 'ready', `document.getElementById('train-status').textContent.includes('1000000')`);
  const tooBig = (await page.textContent('#train-status'))!;
  await page.fill('#train-batch', '2');
  assert.match(tooBig, /^Batch size 1000000 x Block size 64 needs .*: lower Batch size to \d+ or less$/);
  // text that is no number is said as typed (it was "got NaN")
  await page.fill('#train-lr', '1e-3x');
  await page.click('#train-start');
  await waitForState(page, 'ready', `!document.getElementById('train-status').textContent.includes('Batch size')`);
  assert.is(await page.textContent('#train-status'), 'Learning rate: “1e-3x” is not a number.');
  await page.fill('#train-lr', '0.001');
  // a number field the browser cannot read has the value '' (which would mean its default): said, not trained with the default
  const steps = await page.inputValue('#train-steps');
  await page.fill('#train-steps', '');
  await page.focus('#train-steps');
  await page.keyboard.type('1e');
  await page.click('#train-start');
  await waitForState(page, 'ready', `document.getElementById('train-status').textContent.startsWith('Steps')`);
  assert.is(await page.textContent('#train-status'), 'Steps: not a number.');
  await page.fill('#train-steps', steps);
  await page.click('.side-tabs button[data-view="settings"]');
});

t('the Conversations label focuses the text box and keeps what was pasted; "use an example" fills it; 1 step, not 1 steps', async () => {
  await page.click('.side-tabs button[data-view="train"]');
  await page.fill('#train-text', TRAIN_TEXT);
  await page.click('label[for="train-text"]');
  assert.is(await page.inputValue('#train-text'), TRAIN_TEXT, 'clicking the label replaced the text');
  assert.ok(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { id: string } } }).document.activeElement.id === 'train-text'), 'the label does not focus the text box');
  await page.click('#train-example');
  assert.is.not(await page.inputValue('#train-text'), TRAIN_TEXT, 'the example button did nothing');
  await page.fill('#train-text', TRAIN_TEXT);
  await page.fill('#train-steps', '1');
  await page.click('#train-start');
  await waitForState(page, 'ready', `document.getElementById('loss-chart').dataset.step === '1'`);
  assert.match((await page.textContent('#train-status'))!, /^Done: 1 step on \d+ conversations, /);
  await page.click('.side-tabs button[data-view="settings"]');
});

t('leaving the page with fine-tuned weights that were not downloaded, or mid-run, asks first; after the download it does not', async () => {
  const dialogs: string[] = [];
  const onDialog = (d: Dialog) => {
    dialogs.push(d.type());
    void d.accept();
  };
  page.on('dialog', onDialog);
  try {
    // the run above trained and was not downloaded
    await page.reload();
    await waitForState(page, 'ready');
    assert.equal(dialogs, ['beforeunload']);
    // a fresh page (nothing trained yet) in the middle of a run: leaving loses the run
    await page.click('.side-tabs button[data-view="train"]');
    await page.fill('#train-text', TRAIN_TEXT);
    await page.fill('#train-steps', '400');
    await page.click('#train-start');
    await waitForState(page, 'training', `+document.getElementById('loss-chart').dataset.step >= 1`);
    await page.reload();
    await waitForState(page, 'ready');
    assert.equal(dialogs, ['beforeunload', 'beforeunload'], 'left in the middle of a run without asking');
    // a fresh page trains one step and downloads the result: nothing to lose
    await page.click('.side-tabs button[data-view="train"]');
    await page.fill('#train-text', TRAIN_TEXT);
    await page.fill('#train-steps', '1');
    await page.fill('#train-batch', '2');
    await page.fill('#train-block', '64');
    await page.click('#train-start');
    await waitForState(page, 'ready', `document.getElementById('loss-chart').dataset.step === '1'`);
    await Promise.all([page.waitForEvent('download'), page.click('#download-model')]);
    await page.reload();
    await waitForState(page, 'ready');
    assert.equal(dialogs, ['beforeunload', 'beforeunload'], 'asked although the weights were downloaded');
    await page.click('.side-tabs button[data-view="settings"]');
  } finally {
    page.off('dialog', onDialog);
  }
});

/** the words under the last reply */
const lastMeta = async (p = page) => (await p.locator('#log .meta').last().textContent()) ?? '';

t('choosing the server during the download and this browser again waits for the same load (one download, one GPU device)', async () => {
  // config.json held back, so that the load is still under way when the choice comes back
  await page.route('**/model/config.json', (r) => void new Promise((res) => setTimeout(res, 1500)).then(() => r.continue()));
  try {
    const from = server.requests.length;
    await page.goto(url({ engine: 'browser', ...GREEDY, max_tokens: '100' }));
    await page.click('#engine-server');
    await page.click('#engine-browser');
    await waitForState(page, 'ready');
    // taken before the model's context (64) was known: marked once it is
    const title = await page.getAttribute('#set-max_tokens', 'title'), notice = await page.textContent('#notice');
    // and left out, as a bad query value is (it left the prompt no room: every reply came back empty)
    await ask(page, PROMPT);
    const meta = await lastMeta();
    await page.fill('#set-max_tokens', GREEDY.max_tokens);
    assert.is(await page.getAttribute('#set-max_tokens', 'title'), '');
    assert.match(title!, /max_tokens must be < the context length 64, got 100; replies get at most 32$/);
    assert.match(notice!, /Max tokens 100 does not fit this model’s 64-token context\..*at most 32 tokens/);
    assert.match(meta, /^[1-9]\d* tokens?,/);
    assert.ok(await hidden('#notice'), 'the Max tokens notice stayed once it fit');
    assert.is(await page.getAttribute('body', 'data-engine'), 'browser');
    assert.equal(server.requests.slice(from).filter((r) => r.startsWith('GET /model/config.json')), ['GET /model/config.json'], 'the model was loaded twice');
  } finally {
    await page.unroute('**/model/config.json');
  }
});

t('same seed, same reply: on this browser each reply starts from the seed, as on the server', async () => {
  await page.fill('#set-temperature', '1');
  await page.fill('#set-seed', '5');
  try {
    await page.click('#reset');
    const first = await ask(page, PROMPT);
    await page.click('#reset');
    assert.is(await ask(page, PROMPT), first, 'the same question after New chat, with the same seed');
  } finally {
    await page.fill('#set-temperature', '0');
  }
});

t('a message longer than the context: this browser cuts it from its start and says so under the reply, in chat.js\'s words; a reply that fills the context says so, not max tokens', async () => {
  await page.click('#reset');
  await ask(page, 'hello there '.repeat(40)); // the tiny model's context is 64 tokens
  assert.match(await lastMeta(), /\(message cut by \d+ tokens from its start to fit the context\)/);
  assert.match(await lastMeta(), / · max tokens reached$/);
  await page.click('#reset');
  // 63 tokens do not fit after the prompt: the reply (which no stop ends) runs into the context's end first
  await page.fill('#set-max_tokens', '63');
  try {
    await ask(page, PROMPT);
    assert.match(await lastMeta(), / · the context window is full$/);
  } finally {
    await page.fill('#set-max_tokens', GREEDY.max_tokens);
    await page.click('#reset');
  }
});

/** a stand-in server's answer to GET /v1/models (one model), for a server engine where this test server has none */
const STAND_IN_MODELS = { contentType: 'application/json', body: JSON.stringify({ object: 'list', data: [{ id: 'stand-in', object: 'model', created: 0, owned_by: 'test' }] }) };
/** a chat.completion.chunk of a stand-in server's stream */
const chunk = (delta: object, finish: string | null) => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'stand-in', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
const activeId = () => page.evaluate(() => (globalThis as unknown as { document: { activeElement: { id: string } | null } }).document.activeElement?.id);

t('the keyboard: arrow keys choose the engine and the side tab (one Tab stop each, aria-checked, aria-selected); Escape stops a reply, also before the server answered; an empty reply says so', async () => {
  // a stand-in server engine: /v1/models answers; the first reply is never answered, the second is empty,
  // the third is cut by serve.js stopping (its error event after some text), the fourth finds no server
  let replies = 0;
  await page.route('**/v1/models', (r) => void r.fulfill(STAND_IN_MODELS));
  await page.route('**/v1/chat/completions', (r) => {
    const n = replies++;
    const stopping = `data: ${JSON.stringify({ error: { message: 'The server is shutting down.', type: 'server_error', param: null, code: 'server_shutting_down' } })}\n\n`;
    if (n === 1) void r.fulfill({ contentType: 'text/event-stream', body: `${chunk({ role: 'assistant', content: '' }, null)}${chunk({}, 'stop')}data: [DONE]\n\n` });
    if (n === 2) void r.fulfill({ contentType: 'text/event-stream', body: `${chunk({ role: 'assistant', content: '' }, null)}${chunk({ content: 'Hel' }, null)}${stopping}` });
    if (n === 3) void r.abort('connectionrefused');
  });
  try {
    await page.click('#reset');
    await page.focus('#engine-browser');
    await page.keyboard.press('ArrowRight');
    await waitForState(page, 'ready', `document.body.dataset.engine === 'server'`);
    assert.is(await page.getAttribute('#engine-server', 'aria-checked'), 'true');
    assert.is(await page.getAttribute('#engine-browser', 'aria-checked'), 'false');
    assert.is(await activeId(), 'engine-server', 'the focus moves with the choice');
    assert.equal([await page.getAttribute('#engine-server', 'tabindex'), await page.getAttribute('#engine-browser', 'tabindex')], ['0', '-1'], 'one Tab stop: the chosen engine');

    await page.fill('#message', PROMPT);
    await page.press('#message', 'Enter');
    await waitForState(page, 'generating');
    await page.keyboard.press('Escape');
    await waitForState(page, 'ready', `!document.querySelector('#log .streaming')`, 10_000);
    const bot = page.locator('#log .msg.bot').last(), meta = page.locator('#log .meta').last();
    assert.match((await meta.textContent())!, / · stopped$/, 'a stop, not an error');
    assert.is(await bot.textContent(), '');
    assert.is(await bot.getAttribute('data-empty'), 'stopped before any text', 'an empty bubble says it was stopped (it showed … as if still writing)');

    assert.is(await ask(page, PROMPT), '');
    assert.is(await bot.getAttribute('data-empty'), 'empty reply');
    assert.match((await meta.textContent())!, / · the model ended it before any text$/);
    await page.screenshot({ path: join(SHOTS, 'empty-replies-wide.png') });
    // serve.js stopped mid-reply (Ctrl-C), then gone: said so, and what to do, not 'Something went wrong'
    await ask(page, PROMPT);
    assert.is(await meta.textContent(), 'The server stopped. The server is shutting down. Start it again (node dist/serve.js) and send the message again, or choose This browser.');
    await ask(page, PROMPT);
    assert.match((await meta.textContent())!, /^The server did not answer\. Could not reach \S*\/v1\/chat\/completions \(.+\)\. Start it again \(node dist\/serve\.js\) and send the message again, or choose This browser\.$/);
    assert.is(await page.inputValue('#message'), PROMPT, 'the message is back in the box, to send again');
    await page.fill('#message', '');

    const tab = (v: string) => `.side-tabs button[data-view="${v}"]`;
    await page.focus(tab('settings'));
    await page.keyboard.press('ArrowRight');
    assert.is(await page.getAttribute('body', 'data-view'), 'train');
    assert.equal([await page.getAttribute(tab('train'), 'aria-selected'), await page.getAttribute(tab('settings'), 'aria-selected')], ['true', 'false']);
    await page.keyboard.press('ArrowLeft');
    assert.is(await page.getAttribute(tab('settings'), 'aria-selected'), 'true');

    await page.focus('#engine-server');
    await page.keyboard.press('ArrowLeft');
    await waitForState(page, 'ready', `document.body.dataset.engine === 'browser'`);
    assert.is(await page.getAttribute('#engine-browser', 'aria-checked'), 'true');
  } finally {
    await page.unroute('**/v1/models');
    await page.unroute('**/v1/chat/completions');
  }
});

t('a browser without WebGPU says so and turns to the server engine', async () => {
  const plain = await launch({ webgpu: false });
  try {
    const p = await plain.newPage({ viewport: NARROW });
    await p.goto(url({}));
    // this test server has no chat API: the server engine is not there either (serve.js: the next test)
    await waitForState(p, 'error');
    assert.is(await p.getAttribute('body', 'data-engine'), 'server');
    assert.is(await p.getAttribute('#engine-server', 'aria-checked'), 'true');
    const notice = (await p.textContent('#notice'))!;
    assert.match(notice, /cannot run the model itself/);
    assert.match(notice, /no GPU adapter/);
    assert.match(notice, /Chrome/);
    assert.match(notice, /server engine is not available/);
    await p.screenshot({ path: join(SHOTS, 'no-webgpu-narrow.png') });
  } finally {
    await plain.close();
  }
});

t('server engine (node dist/serve.js): the page at / replies as chat.js does; without WebGPU it falls back to it; a restart with another model is followed', async () => {
  let proc = start('serve', ['--init', ckpt, '--port', '0'], { timeoutMs: 300_000 });
  try {
    await waitForStdout(proc, /https?:\/\/\S+/);
    const base = new URL(/https?:\/\/\S+/.exec(proc.stdout())![0]).origin;
    const head = await fetch(`${base}/model/model.safetensors`, { method: 'HEAD' });
    assert.is(head.status, 200, 'serve.js does not offer /model/model.safetensors (is src/server/static.ts mounted?)');
    const p = await browser.newPage({ viewport: WIDE });
    await p.goto(`${base}/?${new URLSearchParams({ engine: 'server', ...GREEDY })}`);
    await waitForState(p, 'ready');
    assert.is(await ask(p, PROMPT), untrained, 'the server engine vs chat.js');
    assert.match(await lastMeta(p), / · max tokens reached$/);
    // /v1/models says the context (64): Max tokens is checked against it as for this browser's engine,
    // and a reply that fills it says so, as this browser's does (the API says 'length' for both)
    await p.fill('#set-max_tokens', '100');
    assert.match((await p.getAttribute('#set-max_tokens', 'title'))!, /max_tokens must be < the context length 64/);
    await p.fill('#set-max_tokens', '63');
    assert.is(await p.getAttribute('#set-max_tokens', 'title'), '');
    await p.click('#reset');
    await ask(p, PROMPT);
    assert.match(await lastMeta(p), / · the context window is full$/);
    await p.fill('#set-max_tokens', GREEDY.max_tokens);
    // Max tokens not given: chat.js's default (128) becomes half the 64-token context, as chat.js makes it, not a field marked wrong that nobody typed
    const fresh = await browser.newPage({ viewport: WIDE });
    try {
      await fresh.goto(`${base}/?engine=server`);
      await waitForState(fresh, 'ready');
      assert.equal([await fresh.inputValue('#set-max_tokens'), await fresh.getAttribute('#set-max_tokens', 'title'), await fresh.$eval('#set-max_tokens', (e) => e.classList.contains('invalid'))], ['32', '', false], 'the default Max tokens on a 64-token model');
    } finally {
      await fresh.close();
    }
    const plain = await launch({ webgpu: false });
    try {
      const q = await plain.newPage({ viewport: NARROW });
      await q.goto(`${base}/?${new URLSearchParams(GREEDY)}`);
      await waitForState(q, 'ready');
      assert.is(await q.getAttribute('body', 'data-engine'), 'server');
      assert.match((await q.textContent('#notice'))!, /cannot run the model itself/);
      assert.is(await ask(q, PROMPT), untrained, 'the fallback server engine vs chat.js');
      await q.screenshot({ path: join(SHOTS, 'no-webgpu-server-narrow.png') });
    } finally {
      await plain.close();
    }

    // a conversation past the context: serve.js drops old exchanges and the page says so, in the browser engine's words
    await p.click('#reset');
    const meta = () => lastMeta(p);
    for (let i = 0; i < 2; i++) await ask(p, PROMPT);
    assert.not.match((await meta())!, /dropped/, 'two exchanges fit');
    await ask(p, PROMPT);
    // in tokens, as this browser's engine says them (the stream's usage), not in chunks
    assert.match((await meta())!, /^\d+ tokens? in [\d.]+ s \(dropped 1 old exchange to fit the context\)( · max tokens reached)?$/);
    // a message that cannot fit: the server refuses it, and the page says why and what to do, and gives the message back
    const refused = async (text: string, n: number) => {
      await p.fill('#message', text);
      await p.press('#message', 'Enter');
      await waitForState(p, 'ready', `document.querySelectorAll('#log .meta.error').length === ${n}`);
      return meta();
    };
    // the server's facts, then what to do once, in the page's words (the server's own remedy said it in the API's as well);
    // the persona and the message alone fill the context (the old exchanges are dropped already): Max tokens cannot help
    const long = 'hello there '.repeat(40).trim();
    let said = await refused(long, 1);
    assert.match(said, /^The server refused the message: it does not fit the model’s context\. This model's context is 64 tokens; the prompt needs \d+ tokens even with old exchanges dropped, and a reply needs at least one more\. Shorten the message or the persona; the This browser engine cuts a long message from its start instead\.$/);
    assert.not.match(said, /Shorten the messages/);
    assert.not.match(said, /https?:/, 'the URL is not the news');
    assert.is(await p.inputValue('#message'), long, 'the refused message is back in the box');
    // a message that fits the context, but not beside a reply of Max tokens (12): lowering it would do, and the page says so
    said = await refused('hello there '.repeat(26).trim(), 2);
    assert.match(said, /^The server refused the message: it does not fit the model’s context\. This model's context is 64 tokens; the prompt needs \d+ tokens even with old exchanges dropped, which leaves \d+ for the reply next to max_tokens 12\. Lower Max tokens in Settings, or shorten the message or the persona; the This browser engine/);
    assert.not.match(said, /set max_tokens/);

    // the same weights under another name on the same port: the open page's requests name 'tiny', which is gone
    assert.is(await p.textContent('#model-name'), 'tiny');
    proc.child.kill('SIGTERM');
    await proc.done.catch(() => undefined);
    const renamed = join(dir, 'tiny2');
    cpSync(ckpt, renamed, { recursive: true });
    proc = start('serve', ['--init', renamed, '--port', new URL(base).port], { timeoutMs: 300_000 });
    await waitForStdout(proc, /https?:\/\/\S+/);
    await p.click('#reset');
    assert.is(await ask(p, PROMPT), untrained, `the server engine after the restart: ${await p.textContent('#log .turn:last-child .meta')}`);
    assert.is(await p.textContent('#model-name'), 'tiny2', 'the header names the new model');
    await p.close();
  } finally {
    proc.child.kill('SIGTERM');
    await proc.done.catch(() => undefined);
  }
});

t('serve.js --api-key: the page asks for the key once, keeps it for the tab, and the server engine works with it', async () => {
  const proc = start('serve', ['--init', ckpt, '--port', '0', '--api-key', 'sk-page'], { timeoutMs: 300_000 });
  try {
    await waitForStdout(proc, /https?:\/\/\S+/);
    const base = new URL(/https?:\/\/\S+/.exec(proc.stdout())![0]).origin;
    const p = await browser.newPage({ viewport: NARROW });
    await p.goto(`${base}/?${new URLSearchParams({ engine: 'server', ...GREEDY })}`);
    await waitForState(p, 'error');
    assert.match((await p.textContent('#notice'))!, /This server needs an API key\./);
    // typed into a password field of the notice, Enter to send: never shown in the clear
    const key = '#notice input[aria-label="API key of this server"]';
    assert.is(await p.getAttribute(key, 'type'), 'password');
    await p.fill(key, 'wrong');
    await p.press(key, 'Enter');
    await waitForState(p, 'error');
    assert.match((await p.textContent('#notice'))!, /the key given was not it/);
    await p.screenshot({ path: join(SHOTS, 'api-key-narrow.png') });
    await p.fill(key, 'sk-page');
    await p.click('#notice button:has-text("Use this key")');
    await waitForState(p, 'ready');
    assert.is(await ask(p, PROMPT), untrained, 'the server engine with the key vs chat.js');
    await p.reload(); // the key stays for the tab
    await waitForState(p, 'ready');
    await p.close();
  } finally {
    proc.child.kill('SIGTERM');
    await proc.done.catch(() => undefined);
  }
});

/** chat.js --adapter's greedy reply to PROMPT (the first adapter test sets it) */
let adapted = '';

t('serve.js --adapter: the page finds the adapter at /model/adapter/ and merges it in the browser; it replies as chat.js --adapter', async () => {
  assert.ok(untrained, 'needs the first test'); // else the reply is checked against '' below
  const proc = start('serve', ['--init', ckpt, '--adapter', adapter, '--port', '0'], { timeoutMs: 300_000 });
  try {
    const cli = chatJs(ckpt, PROMPT, ['--adapter', adapter]);
    await waitForStdout(proc, /https?:\/\/\S+/);
    const base = new URL(/https?:\/\/\S+/.exec(proc.stdout())![0]).origin;
    for (const path of ['/model/model.safetensors', '/model/config.json', `/model/adapter/${ADAPTER_CONFIG}`, `/model/adapter/${ADAPTER_WEIGHTS}`]) {
      assert.is((await fetch(`${base}${path}`, { method: 'HEAD' })).status, 200, `serve.js --adapter does not offer ${path}`);
    }
    assert.equal(new Uint8Array(await (await fetch(`${base}/model/model.safetensors`)).arrayBuffer()), new Uint8Array(readFileSync(join(ckpt, 'model.safetensors'))), 'the base model, not a merged one');
    // the adapter's config names its base by this machine's path: visitors see only its last part
    const config = (await (await fetch(`${base}/model/adapter/${ADAPTER_CONFIG}`)).json()) as { base_model_name_or_path: string; r: number };
    assert.is(JSON.parse(readFileSync(join(adapter, ADAPTER_CONFIG), 'utf8')).base_model_name_or_path, ckpt);
    assert.is(config.base_model_name_or_path, 'tiny');
    assert.is(config.r, LORA.r, 'the rest as it is');
    const p = await browser.newPage({ viewport: WIDE });
    const plog = pageLog(p);
    await p.goto(`${base}/?${new URLSearchParams({ engine: 'browser', ...GREEDY })}`);
    await waitForState(p, 'ready');
    assert.match((await p.textContent('#model-name'))!, /\+ LoRA adapter \(r 4\)/);
    const [reply, expected] = await Promise.all([ask(p, PROMPT), cli]);
    assert.is(reply, expected, `the page with the adapter vs chat.js --adapter\npage log:\n${plog.slice(-20).join('\n')}`);
    assert.is.not(expected, untrained, 'the adapter did not change the greedy reply');
    adapted = expected;
    await p.close();
  } finally {
    proc.child.kill('SIGTERM');
    await proc.done.catch(() => undefined);
  }
});

t('serve.js on a model trained with other speaker tags: the page prompts it with them, as chat.js does; the Fine-tune tab trains on them, and its download carries them to chat.js', async () => {
  assert.ok(untrained, 'needs the first test'); // else the reply is checked against '' below
  const tagged = join(dir, 'tagged');
  mkdirSync(tagged);
  for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(ckpt, f), join(tagged, f));
  // what train.js --human User --bot Assistant records
  writeFileSync(join(tagged, 'train_state.json'), JSON.stringify({ step: 1, options: { human: 'User', bot: 'Assistant' } }));
  const proc = start('serve', ['--init', tagged, '--port', '0'], { timeoutMs: 300_000 });
  try {
    const cli = chatJs(tagged, PROMPT);
    await waitForStdout(proc, /https?:\/\/\S+/);
    assert.match(proc.stdout(), /; prompts as User:\/Assistant:;/);
    const base = new URL(/https?:\/\/\S+/.exec(proc.stdout())![0]).origin;
    const p = await browser.newPage({ viewport: WIDE });
    const plog = pageLog(p);
    // a setting the page cannot use (top_p 7; greedy does not read it): its warning stays up, under the notices below
    await p.goto(`${base}/?${new URLSearchParams({ engine: 'browser', ...GREEDY, top_p: '7' })}`);
    await waitForState(p, 'ready');
    const addressWarning = /^Some settings in the address were not understood\.\?top_p=7/;
    assert.match((await p.textContent('#notice'))!, addressWarning);
    const [reply, expected] = await Promise.all([ask(p, PROMPT), cli]);
    assert.is(reply, expected, `the page vs chat.js on the tagged model\npage log:\n${plog.slice(-20).join('\n')}`);
    assert.is.not(expected, untrained, 'the tags did not change the greedy reply: the test cannot tell them apart');
    // the Fine-tune tab speaks the model's tags: the example trains (in Human:/Bot: it was refused), and the
    // download (no train_state.json: its config.json records the tags), loaded with the command the page gives, answers as the page does
    await p.click('.side-tabs button[data-view="train"]');
    assert.match((await p.getAttribute('#train-text', 'placeholder'))!, /^User: Hi, I'm Sam\.\nAssistant: Hello Sam!.*User:\/Assistant: lines/s);
    await p.click('#train-example');
    assert.match(await p.inputValue('#train-text'), /^User: Hello, who are you\?\nAssistant: Ahoy!/);
    await p.fill('#train-steps', '2');
    await p.fill('#train-lr', '0.001');
    await p.click('#train-start');
    await waitForState(p, 'ready', `document.getElementById('loss-chart').dataset.step === '2'`);
    assert.match((await p.textContent('#train-status'))!, /^Done: 2 steps on 6 conversations/);
    assert.match((await p.textContent('#loss-chart'))!, /loss on the Assistant’s replies/);
    const out = join(dir, 'tagged-download');
    mkdirSync(out);
    for (const [id, name] of [['#download-model', 'model.safetensors'], ['#download-config', 'config.json']]) {
      const [download] = await Promise.all([p.waitForEvent('download'), p.click(id)]);
      await download.saveAs(join(out, name));
    }
    assert.is(await p.textContent('#download-command'), 'node dist/chat.js --init FOLDER');
    assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).chat_speakers, { human: 'User', bot: 'Assistant' });
    await p.click('#reset');
    const [tuned, cliTuned] = await Promise.all([ask(p, PROMPT), chatJs(out, PROMPT)]);
    assert.is(tuned, cliTuned, `the page fine-tuned on the tagged model vs chat.js on its download\npage log:\n${plog.slice(-20).join('\n')}`);
    // the fine-tuned weights are this browser's: the header says so, and choosing the server says it chats with its own model
    assert.match((await p.textContent('#model-name'))!, / · fine-tuned here$/);
    await p.click('#engine-server');
    await waitForState(p, 'ready', `document.body.dataset.engine === 'server'`);
    assert.ok(await p.isVisible('#notice'), 'a notice on the server engine after fine-tuning');
    assert.match((await p.textContent('#notice'))!, /^The server engine chats with the server’s own model\.The weights fine-tuned on this page are in this browser’s engine/);
    assert.not.match((await p.textContent('#model-name'))!, /fine-tuned/);
    await p.click('#engine-browser');
    await waitForState(p, 'ready', `document.body.dataset.engine === 'browser'`);
    assert.ok(await p.isVisible('#notice'), 'the warning it covered is back');
    assert.match((await p.textContent('#notice'))!, addressWarning, 'the server engine\'s notice goes, and the warning it covered comes back');
    // the query's tags win over the header's, as chat.js's --human/--bot over train_state.json
    await p.goto(`${base}/?${new URLSearchParams({ engine: 'browser', ...GREEDY, human: 'Human', bot: 'Bot' })}`);
    await waitForState(p, 'ready');
    assert.is(await ask(p, PROMPT), untrained, `?human=Human&bot=Bot on the tagged model vs chat.js on Human/Bot\npage log:\n${plog.slice(-20).join('\n')}`);
    await p.close();
  } finally {
    proc.child.kill('SIGTERM');
    await proc.done.catch(() => undefined);
  }
});

t('serve.js with a model made of two adapters: no files to download, so the page turns to the server engine and says why', async () => {
  const second = join(dir, 'adapter-on-adapter');
  const arrays = initLoraArrays(checkLora(CONFIG, LORA), LORA.r, 14);
  const rng = new Rng(15);
  for (const [name, v] of arrays) if (name.endsWith('lora_B.weight')) for (let i = 0; i < v.length; i++) v[i] = rng.normal() * 0.3;
  saveAdapter(second, LORA, checkLora(CONFIG, LORA), adapter, arrays);
  const proc = start('serve', ['--init', second, '--port', '0'], { timeoutMs: 300_000 });
  try {
    const cli = chatJs(second, PROMPT);
    await waitForStdout(proc, /https?:\/\/\S+/);
    assert.match(proc.stdout(), /the chat page at \S+ can use the server only \(a model made of two adapters has no files to download/);
    const base = new URL(/https?:\/\/\S+/.exec(proc.stdout())![0]).origin;
    const p = await browser.newPage({ viewport: WIDE });
    await p.goto(`${base}/?${new URLSearchParams(GREEDY)}`);
    await waitForState(p, 'ready');
    assert.is(await p.getAttribute('body', 'data-engine'), 'server');
    assert.match((await p.textContent('#notice'))!, /There is no model here to run in the browser\. Using the server engine instead\./);
    await p.screenshot({ path: join(SHOTS, 'no-model-here-wide.png') });
    assert.is(await ask(p, PROMPT), await cli, 'the server engine vs chat.js on the two adapters');
    await p.close();
  } finally {
    proc.child.kill('SIGTERM');
    await proc.done.catch(() => undefined);
  }
});

t('?adapter=URL/ takes the adapter from elsewhere, cached as the model is; a missing one is an error, not the base model, and its banner goes once the server engine works', async () => {
  assert.ok(adapted, 'needs the test above');
  await page.goto(url({ engine: 'browser', ...GREEDY, adapter: 'lora' }));
  await waitForState(page, 'ready');
  assert.match((await page.textContent('#model-name'))!, /\+ LoRA adapter \(r 4\)/);
  assert.is(await ask(page, PROMPT), adapted, `the page with ?adapter= vs chat.js --adapter${why()}`);
  const gets = () => server.requests.filter((r) => r.startsWith(`GET /lora/${ADAPTER_WEIGHTS}`)).length;
  assert.is(gets(), 1);
  await page.reload();
  await waitForState(page, 'ready');
  assert.is(gets(), 1, `the reload downloaded ${ADAPTER_WEIGHTS} again: ${server.requests.join(', ')}`);

  // a server answers /v1/models here (a stand-in for serve.js's API): the error offers it, its "Use the server" works,
  // and then the banner is gone: it said the engine was not available
  await page.route('**/v1/models', (r) => void r.fulfill(STAND_IN_MODELS));
  try {
    await page.goto(url({ engine: 'browser', ...GREEDY, adapter: 'nowhere/' }));
    await waitForState(page, 'error');
    assert.match((await page.textContent('#notice'))!, /nowhere\/adapter_config\.json: not found on the server/);
    // said as what it is, with what to do (it was "Something went wrong.")
    assert.match((await page.textContent('#notice b'))!, /^There is no LoRA adapter at http:\/\/127\.0\.0\.1:\d+\/nowhere\/\.$/);
    assert.match((await page.textContent('#notice'))!, /adapter_model\.safetensors .*leave \?adapter= out/);
    await page.click('#notice button:has-text("Use the server")');
    await waitForState(page, 'ready');
    assert.ok(await hidden('#notice'), `a stale banner: ${await page.textContent('#notice')}`);
  } finally {
    await page.unroute('**/v1/models');
  }
});

t('a browser-side error is said at once, not after the server\'s answer to /v1/models (up to 10 s); "Use the server" joins that notice when the server answers', async () => {
  let answer = () => {};
  const answered = new Promise<void>((resolve) => (answer = resolve));
  await page.route('**/v1/models', (r) => void answered.then(() => r.fulfill(STAND_IN_MODELS)));
  try {
    await page.goto(url({ engine: 'browser', ...GREEDY, adapter: 'nowhere/' }));
    await waitForState(page, 'error');
    // the server has not answered yet: the error is there, with what can be done without a server
    assert.match((await page.textContent('#notice'))!, /nowhere\/adapter_config\.json: not found on the server/);
    assert.equal(await page.locator('#notice button').allTextContents(), ['Reload']);
    await page.evaluate(`document.querySelector('#notice b').dataset.shown = 'first'`);
    answer();
    await waitForState(page, 'error', `document.querySelectorAll('#notice button').length === 2`, 15_000);
    assert.equal(await page.locator('#notice button').allTextContents(), ['Use the server', 'Reload']);
    assert.is(await page.getAttribute('#notice b', 'data-shown'), 'first', 'the notice was shown again');
  } finally {
    answer();
    await page.unroute('**/v1/models');
  }
});

const TINY_CONFIG = readFileSync(join(ckpt, 'config.json'), 'utf8');
/**
 * models whose load fails in the browser: huge/ (refused before its download, as too big for any GPU's buffer
 * limit: its c_fc matrices are 69 GB each), nofile/ (its download fails: a 404) and bad/ (not a safetensors file)
 */
const FAILING_MODELS = {
  huge: { 'config.json': JSON.stringify({ ...JSON.parse(TINY_CONFIG), n_embd: 65536, n_head: 512 }) },
  nofile: { 'config.json': TINY_CONFIG },
  bad: { 'config.json': TINY_CONFIG, 'model.safetensors': 'not a safetensors file' },
};

/** a new folder as README says to deploy the page on a static host: dist/page/* and model/ (the tiny checkpoint); `more` folders of files beside them */
function staticSite(more: Record<string, Record<string, string | Uint8Array>> = {}): string {
  const site = mkdtempSync(join(dir, 'site-'));
  cpSync(join(ROOT, 'dist/page'), site, { recursive: true });
  const folders: Record<string, Record<string, string | Uint8Array>> = { model: { 'config.json': TINY_CONFIG, 'model.safetensors': readFileSync(join(ckpt, 'model.safetensors')) }, ...more };
  for (const [name, files] of Object.entries(folders)) {
    mkdirSync(join(site, name));
    for (const [f, body] of Object.entries(files)) writeFileSync(join(site, name, f), body);
  }
  return site;
}

t("a static host says no speaker tags: ?human=User&bot=Assistant or the model's config.json give them, and the page prompts as chat.js --human User --bot Assistant; a bad tag is said and not used", async () => {
  assert.ok(untrained, 'needs the first test');
  // recorded/: the tiny model, its config.json with the tags (as the Fine-tune tab's download or a merged adapter has them)
  const recorded = { 'config.json': JSON.stringify({ ...JSON.parse(TINY_CONFIG), chat_speakers: { human: 'User', bot: 'Assistant' } }), 'model.safetensors': readFileSync(join(ckpt, 'model.safetensors')) };
  const site = staticSite({ recorded });
  const cli = chatJs(ckpt, PROMPT, ['--human', 'User', '--bot', 'Assistant']);
  const host = await serveFolder(site);
  const at = (q: Record<string, string>) => `${host.url}?${new URLSearchParams(q)}`;
  try {
    await page.goto(at({ engine: 'browser', ...GREEDY, human: 'User', bot: 'Assistant' }));
    await waitForState(page, 'ready');
    const [reply, expected] = await Promise.all([ask(page, PROMPT), cli]);
    assert.is(reply, expected, `?human=User&bot=Assistant vs chat.js --human User --bot Assistant${why()}`);
    assert.is.not(expected, untrained, 'the tags did not change the greedy reply: the test cannot tell them apart');

    await page.goto(at({ engine: 'browser', ...GREEDY, model: 'recorded/' }));
    await waitForState(page, 'ready');
    assert.is(await ask(page, PROMPT), expected, `config.json's chat_speakers vs chat.js --human User --bot Assistant${why()}`);

    await page.goto(at({ engine: 'browser', ...GREEDY, human: 'Us:er', temprature: '0.5' }));
    await waitForState(page, 'ready');
    assert.match((await page.textContent('#notice'))!, /not understood.*\?human=Us:er: must be a non-empty name without ':' or newlines/);
    // a parameter the page does not know (a typo) is said too, with the ones it knows
    assert.match((await page.textContent('#notice'))!, /\?temprature=0\.5: not a setting of this page \(it takes engine, temperature, .*, human, bot\)/);
    assert.is(await ask(page, PROMPT), untrained, `a bad ?human= was used${why()}`);
  } finally {
    await host.close();
  }
});

t('a plain static host, as README says to deploy: dist/page/* and model/; also one that answers missing files with its page; a wrong ?model=, a model too big for the GPU and the Server choice say what is wrong', async () => {
  assert.ok(untrained, 'needs the first test');
  // huge/: said from its config.json, before its download
  const site = staticSite({ huge: FAILING_MODELS.huge });
  for (const missing of ['404', 'page'] as const) {
    const host = await serveFolder(site, { missing });
    const at = (q: Record<string, string>) => `${host.url}?${new URLSearchParams(q)}`;
    const notice = async () => ((await hidden('#notice')) ? '(no notice)' : (await page.textContent('#notice'))!);
    try {
      // no adapter beside the model: the probe's miss (a 404, or the page itself) is no adapter, not a failure
      await page.goto(at({ engine: 'browser', ...GREEDY }));
      await waitForState(page, 'ready');
      assert.is(await ask(page, PROMPT), untrained, `missing files as ${missing}: the page vs chat.js${why()}`);
      assert.ok(host.requests.includes('GET /model/adapter/adapter_config.json'), host.requests.join(', '));

      await page.goto(at({ engine: 'browser', model: 'nope/' }));
      await waitForState(page, 'error');
      assert.match(await notice(), /There is no model at \?model=nope\/\..*nope\/config\.json: not found on the server.*must hold the checkpoint.s config\.json and model\.safetensors/);
      // no server answers /v1/models here: no "Use the server", which would only say so; one named with ?server= is offered
      assert.equal(await page.locator('#notice button').allTextContents(), ['Reload']);
      await page.goto(at({ engine: 'browser', model: 'nope/', server: 'http://127.0.0.1:9/' }));
      await waitForState(page, 'error');
      assert.equal(await page.locator('#notice button').allTextContents(), ['Use the server', 'Reload']);

      await page.goto(at({ engine: 'server' }));
      await waitForState(page, 'error');
      assert.match(await notice(), /The server engine is not available\..*\/v1\/models: .*name one with \?server=URL/);
      if (missing === 'page') assert.match(await notice(), /no OpenAI-compatible server is there/);

      // a browser problem, as no WebGPU is: the page turns to the server engine, which is not here either
      await page.goto(at({ engine: 'browser', model: 'huge/' }));
      await waitForState(page, 'error');
      assert.match(await notice(), /too big for this browser.s GPU\. The server engine is not available either\..*h\.0\.mlp\.c_fc\.weight \[65536, 262144\].*over the .* a buffer may hold.*nothing was downloaded/);
      assert.is(await page.getAttribute('body', 'data-engine'), 'server');
      assert.not.ok(host.requests.some((r) => r.includes('/huge/model.safetensors')), host.requests.join(', '));
    } finally {
      await host.close();
    }
  }
  // a model on another origin that does not allow this page: the browser says only 'Failed to fetch'; the page names CORS
  const other = await serveFolder(site);
  try {
    await page.goto(url({ engine: 'browser', model: other.url.replace('127.0.0.1', 'localhost') + 'model/' }));
    await waitForState(page, 'error');
    assert.match((await page.textContent('#notice'))!, /There is no model at .*Access-Control-Allow-Origin/);
  } finally {
    await other.close();
  }
});

/** the tiny checkpoint re-saved as save_pretrained saves past max_shard_size: model.safetensors.index.json and 3 shards */
const shardedDir = shardedCopy(ckpt, join(dir, 'sharded'), 3);
/** the sharded save's files, by name, for a static site's folder */
const shardedFiles = (): Record<string, string | Uint8Array> => Object.fromEntries(['config.json', 'model.safetensors.index.json', shardName(1, 3), shardName(2, 3), shardName(3, 3)].map((f) => [f, readFileSync(join(shardedDir, f))]));
const shardBytes = [1, 2, 3].reduce((a, i) => a + statSync(join(shardedDir, shardName(i, 3))).size, 0);

/** what #progress-size and #progress-text said during the load, in order */
async function watchProgress(p: Page): Promise<() => Promise<{ size: string[]; text: string[] }>> {
  await p.addInitScript(`
    globalThis.seen = { size: [], text: [] };
    document.addEventListener('DOMContentLoaded', () => {
      for (const [id, into] of [['progress-size', seen.size], ['progress-text', seen.text]]) {
        const el = document.getElementById(id);
        new MutationObserver(() => into.push(el.textContent)).observe(el, { childList: true, characterData: true, subtree: true });
      }
    });`);
  return () => p.evaluate(() => (globalThis as unknown as { seen: { size: string[]; text: string[] } }).seen);
}

t('a sharded save (model.safetensors.index.json + 3 shards) runs in the browser, from serve.js and from a static host: each shard downloaded under one progress bar and cached, joined as the Node side joins them, the same greedy reply as the single file', async () => {
  const single = untrained || (await chatJs(ckpt, PROMPT));
  const proc = start('serve', ['--init', shardedDir, '--port', '0'], { timeoutMs: 300_000 });
  const p = await browser.newPage({ viewport: WIDE });
  const plog = pageLog(p);
  const asked: string[] = [];
  p.on('request', (r) => void asked.push(`${r.method()} ${new URL(r.url()).pathname}`));
  const progress = await watchProgress(p);
  const pwhy = () => `\npage log:\n${plog.slice(-20).join('\n')}`;
  try {
    await waitForStdout(proc, /https?:\/\/\S+/);
    assert.not.match(proc.stdout(), /server only/);
    const base = new URL(/https?:\/\/\S+/.exec(proc.stdout())![0]).origin;
    await p.goto(`${base}/?${new URLSearchParams({ engine: 'browser', ...GREEDY })}`);
    await waitForState(p, 'ready');
    assert.is(await ask(p, PROMPT), single, `the page on serve.js's shards vs chat.js on the single file${pwhy()}`);
    // serve.js said the weights are the index's shards: no probe for model.safetensors (a 404 in the console)
    const shards = [1, 2, 3].map((i) => `GET /model/${shardName(i, 3)}`);
    assert.equal(asked.filter((r) => r.startsWith('GET /model/model')), ['GET /model/model.safetensors.index.json', ...shards]);
    // one bar over the three shards' bytes: each shard named as it comes, the total the sum of the files
    const seen = await progress();
    for (const i of [1, 2, 3]) assert.ok(seen.text.some((x) => x.startsWith(`Downloading ${shardName(i, 3)} (shard ${i} of 3)`)), `shard ${i} in the progress text: ${seen.text.join(' | ')}`);
    assert.is(seen.size.at(-1), `${megabytes(shardBytes)} of ${megabytes(shardBytes)}`);
    assert.ok(seen.size.every((x) => x.endsWith(` of ${megabytes(shardBytes)}`)), seen.size.join(' | '));
    // a reload checks each shard's ETag and downloads none again
    asked.length = 0;
    await p.reload();
    await waitForState(p, 'ready');
    assert.equal(asked.filter((r) => /^GET \/model\/model-/.test(r)), [], `the reload downloaded shards again: ${asked.join(', ')}`);
    for (const i of [1, 2, 3]) assert.ok(asked.includes(`HEAD /model/${shardName(i, 3)}`), `shard ${i}'s cached copy was not checked: ${asked.join(', ')}`);
    assert.is(await ask(p, PROMPT), single, `the page on the cached shards${pwhy()}`);

    // a static host says nothing: model.safetensors first (as transformers chooses), then the index and its shards
    for (const missing of ['404', 'page'] as const) {
      const host = await serveFolder(staticSite({ sharded: shardedFiles() }), { missing });
      try {
        await p.goto(`${host.url}?${new URLSearchParams({ engine: 'browser', ...GREEDY, model: 'sharded/' })}`);
        await waitForState(p, 'ready');
        assert.is(await ask(p, PROMPT), single, `missing files as ${missing}: the page on a static host's shards vs chat.js on the single file${pwhy()}`);
        assert.equal(host.requests.filter((r) => r.startsWith('GET /sharded/model')), ['GET /sharded/model.safetensors', 'GET /sharded/model.safetensors.index.json', ...shards.map((r) => r.replace('/model/', '/sharded/'))]);
      } finally {
        await host.close();
      }
    }
  } finally {
    await p.close();
    proc.child.kill('SIGTERM');
    await proc.done.catch(() => undefined);
  }
});

t('a damaged sharded save on a static host is one notice naming what is wrong: a missing shard, a tensor in two shards, an index that is not JSON', async () => {
  const twice = shardedCopy(ckpt, join(dir, 'sharded-twice'), 2, [[], [{ name: 'wte.weight', shape: [1], data: new Float32Array(1) }]]);
  const files = (d: string, n: number) => Object.fromEntries(['config.json', 'model.safetensors.index.json', ...Array.from({ length: n }, (_, i) => shardName(i + 1, n))].map((f) => [f, readFileSync(join(d, f))]));
  const { [shardName(2, 3)]: _, ...gone } = shardedFiles();
  const site = staticSite({ gone, twice: files(twice, 2), notjson: { ...shardedFiles(), 'model.safetensors.index.json': '{"weight_map": {' } });
  const host = await serveFolder(site);
  const p = await browser.newPage({ viewport: WIDE });
  try {
    for (const [model, said] of [
      ['gone/', /gone\/model-00002-of-00003\.safetensors: not found on the server, but \S+gone\/model\.safetensors\.index\.json names it as a shard of the model/],
      ['twice/', /twice\/model\.safetensors\.index\.json: tensor 'wte\.weight' is in two shards, model-00001-of-00002\.safetensors and model-00002-of-00002\.safetensors/],
      ['notjson/', /notjson\/model\.safetensors\.index\.json: bad JSON/],
    ] as const) {
      await p.goto(`${host.url}?${new URLSearchParams({ engine: 'browser', model })}`);
      await waitForState(p, 'error');
      const notice = (await p.textContent('#notice'))!;
      assert.match(notice, said, model);
      assert.match(notice, /^That did not work\./, `${model}: said as a user's mistake, not 'Something went wrong'`);
    }
  } finally {
    await p.close();
    await host.close();
  }
});

t('a static host whose model was re-saved as shards since the last visit: the page runs the shards, not its cached model.safetensors (a 404 now), and drops that copy; shards named with # or %41 are asked for by those names', async () => {
  const other = join(dir, 'other');
  saveGPT2Weights(other, CONFIG, tinyArrays(CONFIG, 21));
  const [before, after] = await Promise.all([chatJs(ckpt, PROMPT), chatJs(other, PROMPT)]);
  assert.is.not(after, before, 'the two models give the same greedy reply: the test cannot tell them apart');
  const site = staticSite({ resaved: { 'config.json': TINY_CONFIG, 'model.safetensors': readFileSync(join(ckpt, 'model.safetensors')) } });
  const host = await serveFolder(site);
  const p = await browser.newPage({ viewport: WIDE });
  const plog = pageLog(p);
  const pwhy = () => `\npage log:\n${plog.slice(-20).join('\n')}`;
  /** the paths the page's model cache (src/browser/download.ts) holds */
  const cachedUrls = (): Promise<string[]> => p.evaluate(`caches.open('gpt2-webgpu-models').then((c) => c.keys()).then((ks) => ks.map((r) => new URL(r.url).pathname))`);
  try {
    await p.goto(`${host.url}?${new URLSearchParams({ engine: 'browser', ...GREEDY, model: 'resaved/' })}`);
    await waitForState(p, 'ready');
    assert.is(await ask(p, PROMPT), before, `the single file${pwhy()}`);
    assert.ok((await cachedUrls()).includes('/resaved/model.safetensors'), 'model.safetensors was not cached: the test checks nothing');
    // the deployer re-saves the model as shards, two of them under names that read otherwise as URLs
    const resaved = join(site, 'resaved');
    rmSync(join(resaved, 'model.safetensors'));
    shardedCopy(other, resaved, 3);
    let index = readFileSync(join(resaved, 'model.safetensors.index.json'), 'utf8');
    for (const [from, to] of [[shardName(1, 3), 'part#1.safetensors'], [shardName(2, 3), 'part%41.safetensors']]) {
      renameSync(join(resaved, from), join(resaved, to));
      index = index.replaceAll(from, to);
    }
    writeFileSync(join(resaved, 'model.safetensors.index.json'), index);
    await p.reload();
    await waitForState(p, 'ready');
    assert.is(await ask(p, PROMPT), after, `the shards saved since, not the cached model.safetensors${pwhy()}`);
    assert.not.ok((await cachedUrls()).some((u) => u.startsWith('/resaved/model.safetensors')), `the old file is still cached: ${await cachedUrls()}`);
  } finally {
    await p.close();
    await host.close();
  }
});

/** a static host (no server) with model/ and FAILING_MODELS */
const failingModelsHost = () => serveFolder(staticSite(FAILING_MODELS));

/** click `selector` on `p` and wait for the error notice it brings (a new one: the one shown is marked first) */
async function clickForError(p: Page, selector: string): Promise<void> {
  await p.evaluate(`document.querySelector('#notice b').dataset.seen = 'yes'`);
  await p.click(selector);
  await waitForState(p, 'error', `document.querySelector('#notice b')?.dataset.seen !== 'yes'`);
}

t('a load refused or failed in the browser (too big, a failed download, a bad file) gives its GPU device back, and so does each retry', async () => {
  const host = await failingModelsHost();
  const at = (q: Record<string, string>) => `${host.url}?${new URLSearchParams(q)}`;
  const p = await browser.newPage({ viewport: WIDE });
  const plog = pageLog(p);
  // the GPU devices the page opened, and those of them it has not destroyed
  await p.addInitScript(() => {
    const g = globalThis as unknown as { GPUAdapter?: { prototype: { requestDevice(...a: unknown[]): Promise<object> } }; GPUDevice?: { prototype: { destroy(): void } }; devices: { opened: number; live: Set<object> } };
    const devices = (g.devices = { opened: 0, live: new Set<object>() });
    if (!g.GPUAdapter || !g.GPUDevice) return;
    const requestDevice = g.GPUAdapter.prototype.requestDevice, destroy = g.GPUDevice.prototype.destroy;
    g.GPUAdapter.prototype.requestDevice = async function (...a: unknown[]) {
      const d = await requestDevice.apply(this, a);
      devices.opened++;
      devices.live.add(d);
      return d;
    };
    g.GPUDevice.prototype.destroy = function (this: object) {
      devices.live.delete(this);
      return destroy.call(this);
    };
  });
  const devices = () => p.evaluate(() => {
    const { opened, live } = (globalThis as unknown as { devices: { opened: number; live: Set<object> } }).devices;
    return { opened, live: live.size };
  });
  try {
    // a load that works keeps its device (the count sees it)
    await p.goto(at({ engine: 'browser', ...GREEDY }));
    await waitForState(p, 'ready');
    assert.equal(await devices(), { opened: 1, live: 1 });

    for (const [model, said] of [['huge/', /too big for this browser.s GPU/], ['nofile/', /nofile\/model\.safetensors/], ['bad/', /bad\/model\.safetensors/]] as const) {
      await p.goto(at({ engine: 'browser', model }));
      await waitForState(p, 'error');
      assert.match((await p.textContent('#notice'))!, said);
      assert.equal(await devices(), { opened: 1, live: 0 }, `${model}: the failed load's device is still open\npage log:\n${plog.slice(-20).join('\n')}`);
      // choosing This browser again tries again, with a device of its own that it gives back too
      await clickForError(p, '#engine-browser');
      assert.match((await p.textContent('#notice'))!, said);
      assert.equal(await devices(), { opened: 2, live: 0 }, `${model}: the retry's device is still open`);
    }
  } finally {
    await p.close();
    await host.close();
  }
});

t('a model too big for this browser\'s GPU: the page turns to the server engine and says why, and never offers this browser for it again', async () => {
  const host = await failingModelsHost();
  const at = (q: Record<string, string>) => `${host.url}?${new URLSearchParams(q)}`;
  const p = await browser.newPage({ viewport: WIDE });
  const notice = async () => (await p.textContent('#notice'))!;
  const buttons = () => p.locator('#notice button').allTextContents();
  try {
    // a server there (a stand-in): the page uses it, and says why
    await p.route('**/v1/models', (r) => void r.fulfill(STAND_IN_MODELS));
    await p.goto(at({ engine: 'browser', model: 'huge/' }));
    await waitForState(p, 'ready');
    assert.is(await p.getAttribute('body', 'data-engine'), 'server');
    assert.match(await notice(), /^This model is too big for this browser.s GPU\. Using the server engine instead\..*nothing was downloaded/);
    await p.unroute('**/v1/models');

    // the server named is down: the notice offers neither engine, only Reload
    await p.goto(at({ engine: 'browser', model: 'huge/', server: 'http://127.0.0.1:9/' }));
    await waitForState(p, 'error');
    assert.is(await p.getAttribute('body', 'data-engine'), 'server');
    assert.match(await notice(), /^This model is too big for this browser.s GPU\. The server engine is not available either\./);
    assert.equal(await buttons(), ['Reload']);
    // This browser chosen by hand refuses it again; that notice offers the server, whose failure does not offer this browser
    await clickForError(p, '#engine-browser');
    assert.match(await notice(), /^This model is too big for this browser.s GPU\./);
    assert.equal(await buttons(), ['Use the server', 'Reload']);
    await clickForError(p, '#notice button:has-text("Use the server")');
    assert.match(await notice(), /The server engine is not available either/);
    assert.equal(await buttons(), ['Reload'], 'this browser is offered, which can only refuse the model again');
  } finally {
    await p.close();
    await host.close();
  }
});

t.run();
