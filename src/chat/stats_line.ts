// The statistics line after a reply (prefill and decode speed, what did not fit, why it stopped),
// host-neutral: chat.js's terminal front end (src/node/repl.ts) prints it; the page's reply line shares its rate.
import type { Reply } from './reply.ts';
import { fitNotes, type Answer } from './session.ts';

/** 'N tok/s' for n tokens in ms milliseconds ('- tok/s' for none); the page's reply line says it too */
export function rate(n: number, ms: number): string {
  return ms > 0 ? `${(n / (ms / 1000)).toFixed(1)} tok/s` : '- tok/s';
}

/**
 * ' (empty reply: ...)' for a reply the model ended before any text ('' otherwise): a blank
 * `Bot:` line would read as a fault of chat.js. Said with --quiet too; the empty turn is left
 * out of the conversation (isEmptyBotTurn).
 */
export function emptyNote(r: Reply): string {
  return !r.text.trim() && (r.reason === 'eot' || r.reason === 'stop') ? ' (empty reply: the model ended it at once)' : '';
}

/** the statistics line printed after a reply (`maxNewTokens`: the limit it ran under) */
export function statsLine({ reply: r, prompt: p }: Answer, maxNewTokens: number): string {
  let s = `prefill ${r.prefillTokens} tok in ${r.prefillMs.toFixed(0)} ms (${rate(r.prefillTokens, r.prefillMs)})`;
  if (r.reusedTokens) s += ` + ${r.reusedTokens} reused from the cache`;
  s += `, decode ${r.decodeTokens} tok in ${r.decodeMs.toFixed(0)} ms (${rate(r.decodeTokens, r.decodeMs)})`;
  s += fitNotes(p);
  s += emptyNote(r);
  // a reply cut mid-sentence would read as the model's own ending
  if (r.reason === 'length') s += ` (stopped: max_new_tokens ${maxNewTokens} reached)`;
  if (r.reason === 'context') s += ' (stopped: context window full)';
  if (r.reason === 'abort') s += ' (interrupted)';
  return s;
}
