// What the page runs on and what it is doing: the engine chosen (main.ts chooses it; the chat, the
// Fine-tune tab and the settings form (its context length) use it) and document.body.dataset.state (a hook automated checks rely on),
// which the controls and the status line follow.
import type { BrowserEngine, Engine } from './engines.ts';
import { $ } from './dom.ts';

export type State = 'loading' | 'ready' | 'generating' | 'training' | 'error';

/** `chosen`: the engine in use, once ready (null while one loads, or after it failed); `browser`: this browser's, once loaded */
export const engines: { chosen: Engine | null; browser: BrowserEngine | null } = { chosen: null, browser: null };

export const state = () => document.body.dataset.state as State;
export function setState(s: State): void {
  const engine = engines.chosen;
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
