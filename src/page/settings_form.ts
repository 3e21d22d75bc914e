// The Settings tab's form: a field per sampling setting (settings.ts), each value taken if both
// engines would take it, else marked with why not; and the persona.
import { defaultChatOptions, fitMaxNewTokens, type ChatOptions } from '../chat/session.ts';
import { $ } from './dom.ts';
import { applyField, getSetting, SAMPLING_FIELDS, type SamplingField } from './settings.ts';
import { engines } from './state.ts';

/** take the field's value if both engines would (the API's limits, max_tokens within the engine's model's context), else mark it */
function checkField(opts: ChatOptions, f: SamplingField, input: HTMLInputElement): void {
  const why = applyField(opts, f, input.value, engines.chosen?.contextLength ?? Infinity);
  input.classList.toggle('invalid', !!why);
  input.title = why ?? '';
}
/** Max tokens came from the query or the field: else it is chat.js's default, fitted to the chosen engine's model */
let maxTokensGiven = false;

/**
 * Again once an engine is ready: a max_tokens typed while loading, or for the other engine, may not fit this one's model.
 * The default (made for GPT-2's 1024 tokens) becomes half a smaller context, as chat.js makes it, not a field marked wrong that nobody typed.
 */
export function checkFields(opts: ChatOptions): void {
  if (!maxTokensGiven) {
    opts.maxNewTokens = defaultChatOptions().maxNewTokens;
    fitMaxNewTokens(opts, engines.chosen?.contextLength ?? Infinity, false);
    $<HTMLInputElement>('set-max_tokens').value = String(opts.maxNewTokens);
  }
  for (const f of SAMPLING_FIELDS) checkField(opts, f, $<HTMLInputElement>(`set-${f.name}`));
}

/** the form, filled from `opts` (chat.js's defaults and the query's settings), which it changes as the fields do; `givenMaxTokens`: the query set max_tokens */
export function buildSettings(opts: ChatOptions, givenMaxTokens: boolean): void {
  maxTokensGiven = givenMaxTokens;
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
    input.addEventListener('input', () => {
      if (f.name === 'max_tokens') maxTokensGiven = true;
      checkField(opts, f, input);
    });
    grid.append(label);
  }
  $<HTMLTextAreaElement>('persona').value = opts.persona;
}
