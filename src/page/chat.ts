// The chat: a message to the chosen engine, its reply streamed into the log with a line under it
// (its length and speed, why it ended, or an error in words), Stop (or Escape), New chat.
import type { Turn } from '../data/format.ts';
import { ApiError } from '../browser/openai.ts';
import type { ReplyResult } from './engines.ts';
import { exchangeTurns } from '../chat/session.ts';
import { $ } from './dom.ts';
import { explain, oneLine } from './notices.ts';
import { engines, setState, state } from './state.ts';

const log = $('log'), message = $<HTMLTextAreaElement>('message'), persona = $<HTMLTextAreaElement>('persona');
const emptyState = $('empty');
/** the conversation shown, as both engines take it */
let turns: Turn[] = [];
let reply: AbortController | null = null;

/** stop the reply being written, if one is */
export const stopReply = () => reply?.abort();

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

/** what send() needs of the page: where the model is (for words about errors), and what to do when the server wants an API key */
interface ChatHost { modelBase: string; needKey: () => void }

async function send(text: string, host: ChatHost): Promise<void> {
  text = text.trim();
  if (!text || state() !== 'ready' || !engines.chosen) return;
  message.value = '';
  autosize();
  const e = engines.chosen;
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
    turns.push(...exchangeTurns(text, r.text));
    const why = REASONS[r.reason] ?? '';
    // an empty reply says so (the bubble's text stays the reply's: none)
    if (!r.text) msg.dataset.empty = r.reason === 'abort' ? 'stopped before any text' : 'empty reply';
    meta.textContent = `${r.detail}${!r.text && !why ? ' · the model ended it before any text' : why}`;
  } catch (err) {
    msg.textContent = streamed.trim();
    meta.textContent = oneLine(explain(err, host.modelBase));
    meta.classList.add('error');
    if (!streamed.trim() && !message.value) message.value = text; // to send again, or shorten
    if (err instanceof ApiError && err.status === 401) host.needKey(); // the server restarted with another key
  } finally {
    turn.classList.remove('streaming');
    reply = null;
    if (state() === 'generating') setState('ready');
    log.scrollTop = log.scrollHeight;
  }
}

function resetChat(): void {
  turns = [];
  engines.browser?.session.reset();
  log.replaceChildren(emptyState);
}

function autosize(): void {
  message.style.height = 'auto';
  message.style.height = `${Math.min(message.scrollHeight + 2, 180)}px`;
}

export function wireChat(host: ChatHost): void {
  $('composer').addEventListener('submit', (ev) => {
    ev.preventDefault();
    void send(message.value, host);
  });
  message.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      void send(message.value, host);
    }
  });
  message.addEventListener('input', autosize);
  $('stop').addEventListener('click', stopReply);
  // Escape stops a reply from anywhere on the page, as Stop does
  document.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Escape' || !reply || ev.isComposing) return; // an input method's Escape cancels its composition
    ev.preventDefault();
    stopReply();
  });
  $('reset').addEventListener('click', resetChat);
  for (const b of document.querySelectorAll<HTMLButtonElement>('.suggestion')) b.addEventListener('click', () => void send(b.textContent ?? '', host));
}
