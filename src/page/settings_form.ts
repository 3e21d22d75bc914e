// The Settings tab's form: a field per sampling setting (settings.ts), each value taken if both
// engines would take it, else marked with why not; and the persona.
import type { ChatOptions } from '../chat/session.ts';
import { $ } from './dom.ts';
import { applyField, getSetting, SAMPLING_FIELDS, type SamplingField } from './settings.ts';
import { engines } from './state.ts';

/** take the field's value if both engines would (the API's limits, max_tokens within the engine's model's context), else mark it */
function checkField(opts: ChatOptions, f: SamplingField, input: HTMLInputElement): void {
  const why = applyField(opts, f, input.value, engines.chosen?.contextLength ?? Infinity);
  input.classList.toggle('invalid', !!why);
  input.title = why ?? '';
}
/** again once an engine is ready: a max_tokens typed while loading, or for the other engine, may not fit this one's model */
export function checkFields(opts: ChatOptions): void {
  for (const f of SAMPLING_FIELDS) checkField(opts, f, $<HTMLInputElement>(`set-${f.name}`));
}

/** the form, filled from `opts` (chat.js's defaults and the query's settings), which it changes as the fields do */
export function buildSettings(opts: ChatOptions): void {
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
    input.addEventListener('input', () => checkField(opts, f, input));
    grid.append(label);
  }
  $<HTMLTextAreaElement>('persona').value = opts.persona;
}
