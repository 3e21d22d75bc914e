// The chat page: the engine on this browser's GPU or on the server, a streamed chat (chat.ts), the
// sampling settings (settings_form.ts), and fine-tuning with a live loss curve and a download of the
// result (finetune_tab.ts). This file chooses and loads the engine and wires the page together.
// Hooks that automated checks rely on (keep them): document.body.dataset.state is loading,
// ready, generating, training or error; the message box is textarea#message and Enter sends;
// each reply is a `.msg.bot` element inside #log whose text is the reply only; the query
// string presets ?engine=browser|server and any sampling setting by its API name; ?model=URL/ and
// ?adapter=URL/ say where the in-browser engine's model and LoRA adapter are (settings.ts).
import { NoWebGpu } from '../browser/gpu.ts';
import type { Progress } from '../browser/download.ts';
import { ApiError, listModels } from '../browser/openai.ts';
import { megabytes } from '../util/words.ts';
import { BrowserEngine, ServerEngine, TooBigForGpu } from './engines.ts';
import { settingsFromQuery, type EngineKind } from './settings.ts';
import { $, arrowKeys, markChosen } from './dom.ts';
import { coverNotice, deviceLostWords, explain, hideNotice, noModelHere, showNotice, uncoverNotice, type Words } from './notices.ts';
import { engines, setState, state } from './state.ts';
import { apiKey, askForApiKey } from './api_key.ts';
import { stopReply, wireChat } from './chat.ts';
import { buildSettings, checkFields } from './settings_form.ts';
import { fillTrainingDefaults, stopTrainingRun, wireFineTune } from './finetune_tab.ts';

const page = settingsFromQuery(location.search);
const opts = page.chat;
/** the in-browser engine's load in flight or done: choosing this browser again while it loads waits for it (a second load would open a second GPU device) */
let browserLoad: Promise<BrowserEngine> | null = null;
let server: ServerEngine | null = null;
/** each engine choice gets a number; a load that finishes after a newer choice is ignored */
let choice = 0;
/** why this browser cannot run the model itself (no WebGPU, no adapter, no model here, a model too big for its GPU), once known: the page offers it no more */
let browserProblem: Words | null = null;

/** the notice that the server engine is not the weights fine-tuned here (it goes when this browser is chosen again) */
const SERVER_MODEL = 'server-model';

// ---- engines ----
async function choose(kind: EngineKind, { fallback }: { fallback: boolean }): Promise<void> {
  const my = ++choice;
  document.body.dataset.engine = kind;
  for (const b of document.querySelectorAll<HTMLButtonElement>('.engine button')) markChosen(b, 'aria-checked', b.dataset.engine === kind);
  engines.chosen = null;
  setState('loading');
  try {
    const e = kind === 'browser' ? (engines.browser = await (browserLoad ??= loadBrowser())) : (server ??= await ServerEngine.connect(page.serverBase, opts, apiKey(page.serverBase)));
    if (my !== choice) return;
    engines.chosen = e;
    // an error is over once an engine works (a failed one's banner offered to use this one); warnings stay
    if ($('notice').classList.contains('error')) hideNotice();
    uncoverNotice(SERVER_MODEL);
    // the weights trained on this page stay with this browser's engine: say so, or the server's replies pass for theirs
    if (kind === 'server' && engines.browser?.fineTuned) {
      coverNotice({ title: 'The server engine chats with the server\u2019s own model.', text: 'The weights fine-tuned on this page are in this browser\u2019s engine: choose This browser to chat with them, or download them in the Fine-tune tab.' }, 'warn', SERVER_MODEL);
    }
    checkFields(opts);
    setState('ready');
  } catch (e) {
    if (my !== choice) return;
    $('progress').hidden = true;
    const why = explain(e, page.modelBase);
    // the server engine may still work; this browser would only say the same again
    const browserOnly = e instanceof NoWebGpu || noModelHere(e, page.modelBase) || e instanceof TooBigForGpu;
    if (browserOnly) browserProblem = why;
    if (kind === 'browser' && fallback && browserOnly) {
      showNotice({ ...why, title: `${why.title} Using the server engine instead.` }, 'warn');
      return choose('server', { fallback: false });
    }
    if (kind === 'server' && e instanceof ApiError && e.status === 401) {
      needKey();
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
  return (serverAnswered ??= listModels('', { signal: AbortSignal.timeout(10_000), apiKey: apiKey(page.serverBase) })
    .then((models) => models.length > 0, (e) => e instanceof ApiError && e.status === 401));
}

/** a server started with --api-key refused the key (or its absence): ask for it, and connect again with it */
function needKey(): void {
  server = null;
  askForApiKey(page.serverBase, () => void choose('server', { fallback: false }));
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
  e.gpu.onLost((message) => {
    engines.browser = null;
    browserLoad = null;
    if (engines.chosen === e) {
      engines.chosen = null;
      stopReply();
      stopTrainingRun();
      setState('error');
    }
    showNotice(deviceLostWords(message), 'error', [
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

function wire(): void {
  wireChat({ modelBase: page.modelBase, needKey });
  wireFineTune(page.modelBase);
  arrowKeys(document.querySelector<HTMLElement>('.engine')!);
  arrowKeys(document.querySelector<HTMLElement>('.side-tabs')!);
  for (const b of document.querySelectorAll<HTMLButtonElement>('.engine button')) {
    b.addEventListener('click', () => {
      const kind = b.dataset.engine as EngineKind;
      if (kind !== document.body.dataset.engine || state() === 'error') void choose(kind, { fallback: false });
    });
  }
  for (const b of document.querySelectorAll<HTMLButtonElement>('button[data-view]')) b.addEventListener('click', () => setView(b.dataset.view!));
}

buildSettings(opts, page.maxTokensGiven);
wire();
setView('chat');
if (page.problems.length) showNotice({ title: 'Some settings in the address were not understood.', text: `${page.problems.join('; ')}.` }, 'warn');
void choose(page.engine ?? 'browser', { fallback: true });
