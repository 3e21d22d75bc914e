// The chat page: the engine on this browser's GPU or on the server, a streamed chat, the
// sampling settings, and fine-tuning with a live loss curve and a download of the result.
// Hooks that automated checks rely on (keep them): document.body.dataset.state is loading,
// ready, generating, training or error; the message box is textarea#message and Enter sends;
// each reply is a `.msg.bot` element inside #log whose text is the reply only; the query
// string presets ?engine=browser|server and any sampling setting by its API name; ?model=URL/ and
// ?adapter=URL/ say where the in-browser engine's model and LoRA adapter are (settings.ts).
import type { Turn } from '../data/format.ts';
import { GpuValidationError } from '../gpu/index.ts';
import { encodeGPT2 } from '../model/weights.ts';
import { UserError } from '../util/errors.ts';
import { lossCurveSvg } from '../util/plot.ts';
import { count, megabytes } from '../util/words.ts';
import { DivergedError } from '../train/loop.ts';
import { NoWebGpu } from '../browser/gpu.ts';
import { DownloadError, type Progress } from '../browser/download.ts';
import { BrowserEngine, modelConfigUrl, ServerEngine, TooBigForGpu, type Engine, type ReplyResult } from './engines.ts';
import { ApiError, isSendableKey, listModels } from '../browser/openai.ts';
import { contextFacts } from '../server/api.ts';
import { defaultsFor, finetune, FinetuneFailed } from './finetune.ts';
import { applyField, getSetting, SAMPLING_FIELDS, settingsFromQuery, type EngineKind, type SamplingField } from './settings.ts';
import { EXAMPLE_CONVERSATIONS } from './example.ts';

type State = 'loading' | 'ready' | 'generating' | 'training' | 'error';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const log = $('log'), message = $<HTMLTextAreaElement>('message'), persona = $<HTMLTextAreaElement>('persona');
const chart = $('loss-chart'), trainStatus = $('train-status');

const page = settingsFromQuery(location.search);
const opts = page.chat;
/** the conversation shown, as both engines take it */
let turns: Turn[] = [];
let engine: Engine | null = null;
let browser: BrowserEngine | null = null;
/** the in-browser engine's load in flight or done: choosing this browser again while it loads waits for it (a second load would open a second GPU device) */
let browserLoad: Promise<BrowserEngine> | null = null;
let server: ServerEngine | null = null;
let reply: AbortController | null = null;
let stopTraining = false;
/** each engine choice gets a number; a load that finishes after a newer choice is ignored */
let choice = 0;
/** why this browser cannot run the model itself (no WebGPU, no adapter, no model here, a model too big for its GPU), once known: the page offers it no more */
let browserProblem: Words | null = null;

const state = () => document.body.dataset.state as State;
function setState(s: State): void {
  document.body.dataset.state = s;
  const busy = s === 'generating' || s === 'training';
  $<HTMLButtonElement>('send').disabled = s !== 'ready';
  $('send').hidden = s === 'generating';
  $('stop').hidden = s !== 'generating';
  $<HTMLButtonElement>('reset').disabled = busy;
  for (const b of document.querySelectorAll<HTMLButtonElement>('.engine button')) b.disabled = busy;
  const canTrain = engine?.kind === 'browser';
  $('train-panel').classList.toggle('unavailable', !canTrain);
  $('train-where').hidden = !!canTrain;
  $<HTMLButtonElement>('train-start').disabled = s !== 'ready' || !canTrain;
  $('train-start').hidden = s === 'training';
  $('train-stop').hidden = s !== 'training';
  for (const b of document.querySelectorAll<HTMLButtonElement>('.suggestion')) b.disabled = s !== 'ready';
  const words: Record<State, string> = {
    loading: engine ? 'Loading…' : document.body.dataset.engine === 'server' ? 'Connecting to the server…' : 'Loading the model…',
    ready: `Ready · ${engine?.where ?? ''}`, generating: `Writing · ${engine?.where ?? ''}`, training: 'Training on this device\'s GPU…', error: 'Not available',
  };
  $('status-text').textContent = words[s];
  $('status').title = words[s];
  $('model-name').textContent = engine?.describe ?? '';
}

// ---- messages and notices ----
/** a problem in words: what happened, and what to try */
interface Words { title: string; text: string; tip?: string }

/** a button of a notice; with `when`, it joins the notice (in its place) once that says yes: a server's answer takes up to seconds, the notice should not wait for it */
interface Action { label: string; run: () => void; when?: Promise<boolean> }

function showNotice(w: Words, kind: 'warn' | 'error', actions: Action[] = []): void {
  const n = $('notice');
  n.className = `notice${kind === 'error' ? ' error' : ''}`;
  n.replaceChildren();
  const add = (tag: string, text: string, cls = '') => {
    const el = document.createElement(tag);
    el.textContent = text;
    if (cls) el.className = cls;
    n.append(el);
  };
  add('b', w.title);
  add('p', w.text);
  if (w.tip) add('p', w.tip, 'tip');
  if (actions.length) {
    const row = document.createElement('div');
    row.className = 'notice-actions';
    const buttons = actions.map((a) => {
      const btn = document.createElement('button');
      btn.type = 'button';
      btn.className = 'ghost';
      btn.textContent = a.label;
      btn.onclick = a.run;
      return btn;
    });
    buttons.forEach((btn, i) => {
      const when = actions[i].when;
      if (!when) return row.append(btn);
      void when.then((yes) => {
        // in its place, before the next button there (a notice shown since has a row of its own: this one went with its notice)
        if (yes) row.insertBefore(btn, buttons.slice(i + 1).find((b) => b.parentNode === row) ?? null);
      });
    });
    n.append(row);
  }
  n.hidden = false;
}
const hideNotice = () => ($('notice').hidden = true);

const WEBGPU_BROWSERS =
  'To run it on your GPU: WebGPU is in Chrome and Edge 113+ on Windows, macOS and ChromeOS, Chrome 121+ on Android, Safari 26+, ' +
  'and Firefox 141+ on Windows; on Linux, start Chrome with --enable-unsafe-webgpu --enable-features=Vulkan (or turn on chrome://flags/#enable-unsafe-webgpu).';

/** The API key of a server started with --api-key, as entered in this tab, kept per server ('' = none). */
const apiKeyItem = () => `gpt2-webgpu api key for ${new URL(page.serverBase || location.origin, location.href).origin}`;
const apiKey = () => sessionStorage.getItem(apiKeyItem()) ?? '';

/** no model/ beside the page on its own host (a static host without the folder, or serve.js with a model made of two adapters) */
const noModelHere = (e: unknown) =>
  e instanceof DownloadError && e.status === 404 && page.modelBase === 'model/' && e.url === modelConfigUrl(page.modelBase);

/** An error in words, with what to try. */
function explain(e: unknown): Words {
  const msg = e instanceof Error ? e.message : String(e);
  if (e instanceof NoWebGpu) return { title: 'This browser cannot run the model itself.', text: msg, tip: WEBGPU_BROWSERS };
  if (noModelHere(e)) {
    return {
      title: 'There is no model here to run in the browser.', text: msg,
      tip: 'A static host needs a model/ folder beside the page (config.json + model.safetensors); serve.js offers its model there ' +
        'unless it is made of two LoRA adapters (merge one into its base with train.js --merge-adapter).',
    };
  }
  if (e instanceof DownloadError && e.url === modelConfigUrl(page.modelBase)) {
    // the browser says only 'Failed to fetch', also when another origin's host does not allow this page
    const elsewhere = e.status === 0 && new URL(e.url).origin !== location.origin;
    return {
      title: `There is no model at ?model=${page.modelBase}.`, text: msg,
      tip: elsewhere
        ? `A model on another host needs that host to allow pages from ${location.origin} (CORS: the Access-Control-Allow-Origin header on its files), or copy its folder beside the page as model/.`
        : 'That folder must hold the checkpoint\u2019s config.json and model.safetensors: check the address (the folder\u2019s URL, ending in /), or leave ?model= out to use model/ beside the page.',
    };
  }
  if (e instanceof TooBigForGpu) {
    return {
      title: 'This model is too big for this browser\u2019s GPU.', text: `${msg}; nothing was downloaded.`,
      tip: 'Use a smaller model (?model=URL/), the server engine, or a browser and GPU with larger WebGPU limits.',
    };
  }
  if (/out of memory|outofmemory|allocation failed|array buffer allocation/i.test(msg)) {
    return {
      title: 'Out of memory.',
      text: `The model does not fit in this device's memory (${msg.split('\n')[0]}).`,
      tip: 'Close other tabs and programs that use the GPU and reload the page, try a smaller model, or use the server engine.',
    };
  }
  if (/device lost|device was lost/i.test(msg)) return deviceLostWords(msg);
  if (e instanceof ApiError && e.code === 'context_length_exceeded') {
    return {
      // the server's facts (the context, what the prompt needs); what to do in the page's words, not the API's as well:
      // param max_tokens where the message fits but not beside that long a reply, else the persona and the message
      // alone fill the context (serve.js has dropped the old exchanges already: a new chat would not help)
      title: 'The server refused the message: it does not fit the model\u2019s context.', text: contextFacts(e.said),
      tip: `${e.param === 'max_tokens' ? 'Lower Max tokens in Settings, or shorten the message or the persona' : 'Shorten the message or the persona'}; the This browser engine cuts a long message from its start instead.`,
    };
  }
  if (e instanceof UserError || e instanceof GpuValidationError) return { title: 'That did not work.', text: msg };
  return { title: 'Something went wrong.', text: msg };
}
const deviceLostWords = (why: string): Words => ({
  title: 'The GPU stopped working for this page (device lost).',
  text: `${why ? `${why}. ` : ''}This happens when the graphics driver restarts, or when the page asks for more GPU memory than the browser allows.`,
  tip: 'Reload the page to start again; if it happens again, use the server engine or a smaller model.',
});
const oneLine = (w: Words) => [w.title, w.text, w.tip].filter(Boolean).join(' ');

// ---- engines ----
async function choose(kind: EngineKind, { fallback }: { fallback: boolean }): Promise<void> {
  const my = ++choice;
  document.body.dataset.engine = kind;
  for (const b of document.querySelectorAll<HTMLButtonElement>('.engine button')) markChosen(b, 'aria-checked', b.dataset.engine === kind);
  engine = null;
  setState('loading');
  try {
    const e = kind === 'browser' ? (browser = await (browserLoad ??= loadBrowser())) : (server ??= await ServerEngine.connect(page.serverBase, opts, apiKey()));
    if (my !== choice) return;
    engine = e;
    // an error is over once an engine works (a failed one's banner offered to use this one); warnings stay
    if ($('notice').classList.contains('error')) hideNotice();
    checkFields();
    setState('ready');
  } catch (e) {
    if (my !== choice) return;
    $('progress').hidden = true;
    const why = explain(e);
    // the server engine may still work; this browser would only say the same again
    const browserOnly = e instanceof NoWebGpu || noModelHere(e) || e instanceof TooBigForGpu;
    if (browserOnly) browserProblem = why;
    if (kind === 'browser' && fallback && browserOnly) {
      showNotice({ ...why, title: `${why.title} Using the server engine instead.` }, 'warn');
      return choose('server', { fallback: false });
    }
    if (kind === 'server' && e instanceof ApiError && e.status === 401) {
      askForApiKey();
      return;
    }
    const other: EngineKind = kind === 'browser' ? 'server' : 'browser';
    const words: Words = kind === 'server'
      ? {
        title: browserProblem ? `${browserProblem.title} The server engine is not available either.` : 'The server engine is not available.',
        text: `${browserProblem ? `${browserProblem.text} ` : ''}Asking the server for its model: ${(e as Error).message}.`,
        tip: `${browserProblem?.tip ? `${browserProblem.tip} ` : ''}To chat through a server, open this page from \`node dist/serve.js\`, or name one with ?server=URL.`,
      }
      : why;
    showNotice(words, 'error', [
      { label: `Use ${other === 'server' ? 'the server' : 'this browser'}`, run: () => void choose(other, { fallback: false }), when: other === 'server' ? serverThere() : Promise.resolve(!browserProblem) },
      { label: 'Reload', run: () => location.reload() },
    ]);
    setState('error');
  }
}

/** whether a server answered /v1/models (asked once, when first needed) */
let serverAnswered: Promise<boolean> | null = null;
/**
 * Is there a server engine to offer when this browser's has failed? One named with ?server= (if it is
 * down, choosing it says so), or one that answers /v1/models here; a static host has none, and a
 * "Use the server" there only said that. Asked only then: on a static host the request is a 404 in the console.
 */
function serverThere(): Promise<boolean> {
  if (page.serverBase || server) return Promise.resolve(true);
  // a 401 is a server started with --api-key: choosing it asks for the key
  return (serverAnswered ??= listModels('', { signal: AbortSignal.timeout(10_000), apiKey: apiKey() })
    .then((models) => models.length > 0, (e) => e instanceof ApiError && e.status === 401));
}

/**
 * A server started with --api-key refused the key (or its absence): ask for it in a password
 * field (prompt() would show it to anyone looking at the screen), keep it for this tab, connect again.
 */
function askForApiKey(note = ''): void {
  server = null;
  showNotice({ title: 'This server needs an API key.', text: `It was started with --api-key${apiKey() ? ', and the key given was not it' : ''}.${note}` }, 'error');
  const form = document.createElement('form');
  form.className = 'notice-actions';
  const input = document.createElement('input');
  Object.assign(input, { type: 'password', autocomplete: 'off', spellcheck: false, placeholder: 'serve.js --api-key' });
  input.setAttribute('aria-label', 'API key of this server');
  const use = document.createElement('button');
  use.type = 'submit';
  use.className = 'ghost';
  use.textContent = 'Use this key';
  form.append(input, use);
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    if (!key) return input.focus();
    if (!isSendableKey(key)) return askForApiKey(' That one cannot be: a key is printable ASCII without spaces.');
    sessionStorage.setItem(apiKeyItem(), key);
    void choose('server', { fallback: false });
  };
  $('notice').append(form);
  input.focus();
  setState('error');
}

async function loadBrowser(): Promise<BrowserEngine> {
  let e: BrowserEngine;
  try {
    e = await BrowserEngine.load(page.modelBase, page.adapter, page.speakers, opts, showProgress);
  } catch (err) {
    browserLoad = null; // the next choice tries again
    throw err;
  }
  $('progress').hidden = true;
  e.gpu.device.lost.then(async (info) => {
    if (info.reason === 'destroyed') return;
    browser = null;
    browserLoad = null;
    if (engine === e) {
      engine = null;
      reply?.abort();
      stopTraining = true;
      setState('error');
    }
    showNotice(deviceLostWords(info.message), 'error', [
      { label: 'Reload', run: () => location.reload() },
      { label: 'Use the server', run: () => void choose('server', { fallback: false }), when: serverThere() },
    ]);
  });
  fillTrainingDefaults(e);
  return e;
}

function showProgress(file: string, p: Progress): void {
  $('progress').hidden = false;
  const frac = p.total ? p.loaded / p.total : 0;
  $('progress-bar').style.width = `${(100 * (p.cached ? 1 : frac)).toFixed(1)}%`;
  $('progress-text').textContent = p.cached ? `${file}: from this browser's cache` : `Downloading ${file}${p.total ? ` · ${(100 * frac).toFixed(0)}%` : ''}`;
  $('progress-size').textContent = p.total ? `${megabytes(p.loaded)} of ${megabytes(p.total)}` : megabytes(p.loaded);
  if (p.cached || (p.total && p.loaded === p.total)) $('progress-text').textContent += ' · preparing the GPU…';
}

// ---- chat ----
function addTurn(who: 'user' | 'bot', text: string): { turn: HTMLElement; msg: HTMLElement; meta: HTMLElement } {
  $('empty')?.remove();
  const turn = document.createElement('div');
  turn.className = `turn ${who}`;
  const msg = document.createElement('div');
  msg.className = `msg ${who}`;
  msg.textContent = text;
  const meta = document.createElement('div');
  meta.className = 'meta';
  turn.append(msg, meta);
  log.append(turn);
  log.scrollTop = log.scrollHeight;
  return { turn, msg, meta };
}

const REASONS: Record<string, string> = { eot: '', stop: '', length: ' · max tokens reached', context: ' · the context window is full', abort: ' · stopped' };

async function send(text: string): Promise<void> {
  text = text.trim();
  if (!text || state() !== 'ready' || !engine) return;
  message.value = '';
  autosize();
  const e = engine;
  addTurn('user', text);
  const { turn, msg, meta } = addTurn('bot', '');
  turn.classList.add('streaming');
  reply = new AbortController();
  setState('generating');
  let streamed = '';
  try {
    const r: ReplyResult = await e.reply(turns, persona.value, text, (piece) => {
      streamed += piece;
      msg.textContent = streamed.trimStart();
      log.scrollTop = log.scrollHeight;
    }, reply.signal);
    msg.textContent = r.text;
    turns.push({ speaker: 'human', text }, { speaker: 'bot', text: r.text });
    const why = REASONS[r.reason] ?? '';
    // an empty reply says so (the bubble's text stays the reply's: none)
    if (!r.text) msg.dataset.empty = r.reason === 'abort' ? 'stopped before any text' : 'empty reply';
    meta.textContent = `${r.detail}${!r.text && !why ? ' · the model ended it before any text' : why}`;
  } catch (err) {
    msg.textContent = streamed.trim();
    meta.textContent = oneLine(explain(err));
    meta.classList.add('error');
    if (!streamed.trim() && !message.value) message.value = text; // to send again, or shorten
    if (err instanceof ApiError && err.status === 401) askForApiKey(); // the server restarted with another key
  } finally {
    turn.classList.remove('streaming');
    reply = null;
    if (state() === 'generating') setState('ready');
    log.scrollTop = log.scrollHeight;
  }
}

function resetChat(): void {
  turns = [];
  browser?.session.reset();
  log.replaceChildren(emptyState);
}
const emptyState = $('empty');

function autosize(): void {
  message.style.height = 'auto';
  message.style.height = `${Math.min(message.scrollHeight + 2, 180)}px`;
}

// ---- settings ----
/** take the field's value if both engines would (the API's limits, max_tokens within the engine's model's context), else mark it */
function checkField(f: SamplingField, input: HTMLInputElement): void {
  const why = applyField(opts, f, input.value, engine?.contextLength ?? Infinity);
  input.classList.toggle('invalid', !!why);
  input.title = why ?? '';
}
/** again once an engine is ready: a max_tokens typed while loading, or for the other engine, may not fit this one's model */
function checkFields(): void {
  for (const f of SAMPLING_FIELDS) checkField(f, $<HTMLInputElement>(`set-${f.name}`));
}

function buildSettings(): void {
  const grid = $('sampling');
  for (const f of SAMPLING_FIELDS) {
    const label = document.createElement('label');
    label.className = 'field';
    label.innerHTML = `<span></span><input type="number" inputmode="decimal"><small></small>`;
    label.querySelector('span')!.textContent = f.label;
    label.querySelector('small')!.textContent = f.hint;
    const input = label.querySelector('input')!;
    input.id = `set-${f.name}`;
    input.name = f.name;
    input.step = f.step;
    input.value = String(getSetting(opts, f.name));
    input.addEventListener('input', () => checkField(f, input));
    grid.append(label);
  }
  persona.value = opts.persona;
}

// ---- fine-tuning ----
const trainInputs = { steps: $<HTMLInputElement>('train-steps'), lr: $<HTMLInputElement>('train-lr'), batch: $<HTMLInputElement>('train-batch'), block: $<HTMLInputElement>('train-block') };

function fillTrainingDefaults(e: BrowserEngine): void {
  const d = defaultsFor(e);
  const fill = (input: HTMLInputElement, v: number | undefined) => {
    if (!input.value && v !== undefined) input.value = String(v);
  };
  fill(trainInputs.steps, d.steps);
  fill(trainInputs.lr, d.lr);
  fill(trainInputs.batch, d.batchSize);
  fill(trainInputs.block, d.blockSize);
  trainInputs.block.max = String(e.config.n_positions);
}

/** the CLI's flag names in run.ts's messages, as this form labels them */
const FIELD_NAMES: Record<string, string> = { '--steps': 'Steps', '--lr': 'Learning rate', '--batch-size': 'Batch size', '--block-size': 'Block size', '--data the training text': 'The training text', '--grad-accum': 'gradient accumulation' };
const inWords = (msg: string) => msg.replace(/--data the training text|--[a-z-]+/g, (f) => FIELD_NAMES[f] ?? f);

function trainStatusText(text: string, error = false): void {
  trainStatus.textContent = text;
  trainStatus.classList.toggle('error', error);
}

async function train(): Promise<void> {
  const e = browser;
  if (!e || engine !== e || state() !== 'ready') return;
  const num = (input: HTMLInputElement) => (input.value.trim() === '' ? undefined : Number(input.value));
  const req = { text: $<HTMLTextAreaElement>('train-text').value, steps: num(trainInputs.steps), lr: num(trainInputs.lr), batchSize: num(trainInputs.batch), blockSize: num(trainInputs.block) };
  if (!req.text.trim()) return trainStatusText('Paste some conversations first (Human:/Bot: lines), or use the example.', true);
  stopTraining = false;
  $<HTMLButtonElement>('train-stop').disabled = false;
  $('train-stop').textContent = 'Stop';
  const points: [number, number][] = [], vals: [number, number][] = [];
  // the hooks say this run's progress; the last run's curve stays drawn until this one steps
  chart.dataset.step = '0';
  chart.dataset.losses = '[]';
  setState('training');
  let intro = '';
  try {
    const { result, params } = await finetune(e, req, {
      onStart: (_, note) => {
        intro = note;
        trainStatusText(`Training on ${note}…`);
      },
      onStep: (r) => {
        // the last run's chart and downloads stay until this run has changed the weights
        if (!points.length && !vals.length) $('downloads').hidden = true;
        if (r.learned && Number.isFinite(r.loss)) points.push([r.step, r.loss]);
        if (r.val !== undefined && Number.isFinite(r.val)) vals.push([r.step, r.val]);
        chart.innerHTML = lossCurveSvg(points, vals, 'loss on the Bot\u2019s replies', { width: 400, height: 260 });
        chart.dataset.losses = JSON.stringify(points);
        chart.dataset.step = String(r.step);
        const loss = r.learned ? `loss ${r.loss.toFixed(4)}` : 'skipped (no Bot reply in this batch)';
        trainStatusText(`Step ${r.step} of ${r.total} · ${loss}${r.val !== undefined ? ` · held-out ${r.val.toFixed(4)}` : ''} · ${(r.ms / 1000).toFixed(2)} s/step · ${Math.round(r.tokensPerSec)} tok/s`);
      },
      stopRequested: () => stopTraining,
    });
    const first = result.losses[0], last = result.losses[result.losses.length - 1];
    trainStatusText(`${result.interrupted ? `Stopped after step ${result.step}` : `Done: ${count(result.step, 'step')}`} on ${intro}; loss ${first?.toFixed(3)} → ${last?.toFixed(3)}. Chat with it now, or download it.`);
    offerDownload(e, params);
  } catch (err) {
    const failed = err instanceof FinetuneFailed ? err : null;
    const e0 = failed ? failed.error : err;
    const model = !failed ? '' : failed.restored ? 'The model is as it was before this run.' : 'The model may be damaged: reload the page to start again.';
    // train.js's advice names its flags (--warmup has no field here): the page says it with its own
    trainStatusText(e0 instanceof DivergedError
      ? `Step ${e0.step}: ${e0.what}; training stopped. ${model} Try a lower Learning rate (now ${e0.lr}), or check the conversations.`
      : `${e0 instanceof UserError ? inWords(e0.message) : oneLine(explain(e0))}${model ? ` ${model}` : ''}`, true);
    // the weights are the last good run's again: so are its downloads
    if (failed?.restored && downloadUrls.length) $('downloads').hidden = false;
  } finally {
    if (state() === 'training') setState(engine ? 'ready' : 'error');
  }
}

let downloadUrls: string[] = [];
/** weights fine-tuned here and not downloaded yet: leaving the page loses them */
let notDownloaded = false;
function offerDownload(e: BrowserEngine, params: Map<string, Float32Array>): void {
  notDownloaded = true;
  for (const u of downloadUrls) URL.revokeObjectURL(u);
  const files = encodeGPT2(e.config, params);
  const model = URL.createObjectURL(new Blob(files.safetensors as BlobPart[], { type: 'application/octet-stream' }));
  const config = URL.createObjectURL(new Blob([files.config], { type: 'application/json' }));
  downloadUrls = [model, config];
  $<HTMLAnchorElement>('download-model').href = model;
  $<HTMLAnchorElement>('download-config').href = config;
  $('downloads').hidden = false;
}

// ---- wiring ----
function setView(v: string): void {
  document.body.dataset.view = v;
  for (const b of document.querySelectorAll<HTMLButtonElement>('.tabs button')) {
    b.classList.toggle('active', b.dataset.view === v);
    b.setAttribute('aria-current', String(b.dataset.view === v));
  }
  for (const b of document.querySelectorAll<HTMLButtonElement>('.side-tabs button')) {
    const on = b.dataset.view === (v === 'train' ? 'train' : 'settings');
    b.classList.toggle('active', on);
    markChosen(b, 'aria-selected', on);
  }
}

/** one of a radio group or tab list: marked chosen for assistive technology, and the one Tab stops at (arrow keys move within the group) */
function markChosen(b: HTMLButtonElement, attr: 'aria-checked' | 'aria-selected', on: boolean): void {
  b.setAttribute(attr, String(on));
  b.tabIndex = on ? 0 : -1;
}

/** arrow keys (and Home, End) move to the next button of the group and choose it, as in a radio group or tab list */
function arrowKeys(group: HTMLElement): void {
  group.addEventListener('keydown', (ev) => {
    const buttons = [...group.querySelectorAll<HTMLButtonElement>('button:not(:disabled)')];
    const i = buttons.indexOf(document.activeElement as HTMLButtonElement);
    const step: Record<string, number> = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
    const to = ev.key === 'Home' ? 0 : ev.key === 'End' ? buttons.length - 1 : ev.key in step && i >= 0 ? (i + step[ev.key] + buttons.length) % buttons.length : -1;
    if (to < 0 || !buttons.length) return;
    ev.preventDefault();
    buttons[to].focus();
    buttons[to].click();
  });
}

function wire(): void {
  $('composer').addEventListener('submit', (ev) => {
    ev.preventDefault();
    void send(message.value);
  });
  message.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      void send(message.value);
    }
  });
  message.addEventListener('input', autosize);
  $('stop').addEventListener('click', () => reply?.abort());
  // Escape stops a reply from anywhere on the page, as Stop does
  document.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Escape' || !reply || ev.isComposing) return; // an input method's Escape cancels its composition
    ev.preventDefault();
    reply.abort();
  });
  arrowKeys(document.querySelector<HTMLElement>('.engine')!);
  arrowKeys(document.querySelector<HTMLElement>('.side-tabs')!);
  $('reset').addEventListener('click', resetChat);
  for (const b of document.querySelectorAll<HTMLButtonElement>('.suggestion')) b.addEventListener('click', () => void send(b.textContent ?? ''));
  for (const b of document.querySelectorAll<HTMLButtonElement>('.engine button')) {
    b.addEventListener('click', () => {
      const kind = b.dataset.engine as EngineKind;
      if (kind !== document.body.dataset.engine || state() === 'error') void choose(kind, { fallback: false });
    });
  }
  for (const b of document.querySelectorAll<HTMLButtonElement>('[data-view]')) b.addEventListener('click', () => setView(b.dataset.view!));
  $('train-start').addEventListener('click', () => void train());
  $('train-stop').addEventListener('click', () => {
    stopTraining = true;
    $<HTMLButtonElement>('train-stop').disabled = true;
    $('train-stop').textContent = 'Stopping after this step…';
  });
  $('download-model').addEventListener('click', () => (notDownloaded = false));
  window.addEventListener('beforeunload', (ev) => {
    if (notDownloaded) ev.preventDefault(); // the browser asks whether to leave
  });
  $('train-example').addEventListener('click', () => ($<HTMLTextAreaElement>('train-text').value = EXAMPLE_CONVERSATIONS));
  const drop = $('drop');
  drop.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    const file = ev.dataTransfer?.files[0];
    if (file) void file.text().then((t) => ($<HTMLTextAreaElement>('train-text').value = t));
  });
}

buildSettings();
wire();
setView('chat');
if (page.problems.length) showNotice({ title: 'Some settings in the address were not understood.', text: `${page.problems.join('; ')}.` }, 'warn');
void choose(page.engine ?? 'browser', { fallback: true });
