// The page's notices and the words that explain errors: what happened, and what to try. The
// words are functions of the error (and of where the page looks for its model); the notice is
// the one banner above the chat.
import { GpuValidationError } from '../gpu/index.ts';
import { UserError } from '../util/errors.ts';
import { asSentence } from '../util/words.ts';
import { NoWebGpu } from '../browser/gpu.ts';
import { DownloadError } from '../browser/download.ts';
import { ApiError } from '../browser/openai.ts';
import { contextFacts } from '../server/api.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../model/peft.ts';
import { modelConfigUrl, TooBigForGpu } from './engines.ts';
import { $ } from './dom.ts';

/** a problem in words: what happened, and what to try */
export interface Words { title: string; text: string; tip?: string }

/** a button of a notice; with `when`, it joins the notice (in its place) once that says yes: a server's answer takes up to seconds, the notice should not wait for it */
export interface Action { label: string; run: () => void; when?: Promise<boolean> }

export function showNotice(w: Words, kind: 'warn' | 'error', actions: Action[] = []): void {
  const n = $('notice');
  n.className = `notice${kind === 'error' ? ' error' : ''}`;
  delete n.dataset.about;
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
export const hideNotice = () => ($('notice').hidden = true);

/** the notice that a passing one (`about`) covered: it comes back when that one goes */
let covered: { about: string; className: string; children: Node[] } | null = null;

/** a notice that holds while something lasts, named `about`; the one it covers (a warning: errors go first) comes back with uncoverNotice */
export function coverNotice(w: Words, kind: 'warn' | 'error', about: string): void {
  const n = $('notice');
  const under = n.hidden ? null : { about, className: n.className, children: [...n.childNodes] };
  showNotice(w, kind);
  covered = under;
  n.dataset.about = about;
}

/** the notice `about` goes (if it is the one shown), and the one it covered is shown again */
export function uncoverNotice(about: string): void {
  const n = $('notice');
  if (n.dataset.about !== about) return;
  delete n.dataset.about;
  if (covered?.about === about) {
    n.className = covered.className;
    n.replaceChildren(...covered.children);
  } else hideNotice();
  covered = null;
}

const WEBGPU_BROWSERS =
  'To run it on your GPU: WebGPU is in Chrome and Edge 113+ on Windows, macOS and ChromeOS, Chrome 121+ on Android, Safari 26+, ' +
  'and Firefox 141+ on Windows; on Linux, start Chrome with --enable-unsafe-webgpu --enable-features=Vulkan (or turn on chrome://flags/#enable-unsafe-webgpu).';

/** no model/ beside the page on its own host (a static host without the folder, or serve.js with a model made of two adapters) */
export const noModelHere = (e: unknown, modelBase: string) =>
  e instanceof DownloadError && e.status === 404 && modelBase === 'model/' && e.url === modelConfigUrl(modelBase);

/** An error in words, with what to try; `modelBase`: where the in-browser engine looks for its model (?model=) */
export function explain(e: unknown, modelBase: string): Words {
  const msg = e instanceof Error ? e.message : String(e);
  if (e instanceof NoWebGpu) return { title: 'This browser cannot run the model itself.', text: msg, tip: WEBGPU_BROWSERS };
  if (noModelHere(e, modelBase)) {
    return {
      title: 'There is no model here to run in the browser.', text: msg,
      tip: 'A static host needs a model/ folder beside the page (config.json + model.safetensors, or a sharded save\u2019s model.safetensors.index.json and its shards); serve.js offers its model there ' +
        'unless it is made of two LoRA adapters (merge one into its base with train.js --merge-adapter).',
    };
  }
  if (e instanceof DownloadError && e.url === modelConfigUrl(modelBase)) {
    // the browser says only 'Failed to fetch', also when another origin's host does not allow this page
    const elsewhere = e.status === 0 && new URL(e.url).origin !== location.origin;
    return {
      title: `There is no model at ?model=${modelBase}.`, text: msg,
      tip: elsewhere
        ? `A model on another host needs that host to allow pages from ${location.origin} (CORS: the Access-Control-Allow-Origin header on its files), or copy its folder beside the page as model/.`
        : 'That folder must hold the checkpoint\u2019s config.json and model.safetensors (or a sharded save\u2019s index and shards): check the address (the folder\u2019s URL, ending in /), or leave ?model= out to use model/ beside the page.',
    };
  }
  // a LoRA adapter that was asked for (?adapter=, or serve.js's adapter/) and is not there
  if (e instanceof DownloadError && e.status === 404 && e.url.endsWith(`/${ADAPTER_CONFIG}`)) {
    return {
      title: `There is no LoRA adapter at ${e.url.slice(0, -ADAPTER_CONFIG.length)}.`, text: msg,
      tip: `An adapter\u2019s folder holds ${ADAPTER_CONFIG} and ${ADAPTER_WEIGHTS} (as train.js --lora saves them): check the address (the folder\u2019s URL, ending in /), or leave ?adapter= out to chat with the model alone.`,
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
      tip: `${e.param === 'max_tokens' || e.param === 'max_completion_tokens' ? 'Lower Max tokens in Settings, or shorten the message or the persona' : 'Shorten the message or the persona'}; the This browser engine cuts a long message from its start instead.`,
    };
  }
  // serve.js stopped (Ctrl-C) or not started: say so, not 'Something went wrong'
  if (e instanceof ApiError && (e.status === 0 || e.code === 'server_shutting_down')) {
    return {
      title: e.status === 0 ? 'The server did not answer.' : 'The server stopped.', text: msg,
      tip: 'Start it again (node dist/serve.js) and send the message again, or choose This browser.',
    };
  }
  if (e instanceof UserError || e instanceof GpuValidationError) return { title: 'That did not work.', text: msg };
  return { title: 'Something went wrong.', text: msg };
}
export const deviceLostWords = (why: string): Words => ({
  title: 'The GPU stopped working for this page (device lost).',
  text: `${why ? `${why}. ` : ''}This happens when the graphics driver restarts, or when the page asks for more GPU memory than the browser allows.`,
  tip: 'Reload the page to start again; if it happens again, use the server engine or a smaller model.',
});
/** the notice as one line of sentences: an error's message ('could not reach URL (...)') gets its capital and full stop */
export const oneLine = (w: Words) => [w.title, w.text, w.tip].filter(Boolean).map(asSentence).join(' ');
