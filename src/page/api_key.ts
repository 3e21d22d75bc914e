// A server started with --api-key: the key as entered in this tab (kept per server for the tab,
// in sessionStorage), and the notice that asks for it.
import { isSendableKey } from '../browser/openai.ts';
import { $ } from './dom.ts';
import { showNotice } from './notices.ts';
import { setState } from './state.ts';

/** The API key of a server started with --api-key, as entered in this tab, kept per server ('' = none); `serverBase` as ?server= gives it ('' = this page's). */
const apiKeyItem = (serverBase: string) => `gpt2-webgpu api key for ${new URL(serverBase || location.origin, location.href).origin}`;
export const apiKey = (serverBase: string) => sessionStorage.getItem(apiKeyItem(serverBase)) ?? '';

/**
 * A server started with --api-key refused the key (or its absence): ask for it in a password
 * field (prompt() would show it to anyone looking at the screen), keep it for this tab, and
 * `connect` again.
 */
export function askForApiKey(serverBase: string, connect: () => void, note = ''): void {
  showNotice({ title: 'This server needs an API key.', text: `It was started with --api-key${apiKey(serverBase) ? ', and the key given was not it' : ''}.${note}` }, 'error');
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
    if (!isSendableKey(key)) return askForApiKey(serverBase, connect, ' That one cannot be: a key is printable ASCII without spaces.');
    sessionStorage.setItem(apiKeyItem(serverBase), key);
    connect();
  };
  $('notice').append(form);
  input.focus();
  setState('error');
}
