// The Settings tab's form: a field per sampling setting (settings.ts), each value taken if both
// engines would take it, else marked with why not; and the persona.
import { defaultChatOptions, fitMaxNewTokens, type ChatOptions } from '../chat/session.ts';
import { $ } from './dom.ts';
import { coverNotice, uncoverNotice } from './notices.ts';
import { applyField, getSetting, SAMPLING_FIELDS, type SamplingField } from './settings.ts';
import { engines } from './state.ts';

/** the notice that Max tokens does not fit the chosen engine's model */
const MAX_TOKENS = 'max-tokens';

/** take the field's value if both engines would (the API's limits, max_tokens within the engine's model's context), else mark it */
function checkField(opts: ChatOptions, f: SamplingField, input: HTMLInputElement): void {
  const why = applyField(opts, f, input.value, engines.chosen?.contextLength ?? Infinity);
  input.classList.toggle('invalid', !!why);
  input.title = why ?? '';
  if (f.name === 'max_tokens' && !why) uncoverNotice(MAX_TOKENS);
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
  fitChosenContext(opts);
}

/**
 * A Max tokens taken before this engine's context was known (the query's, or one typed for the other
 * engine) that does not fit it left no room for the prompt: every reply came back empty. It is left
 * out, as a bad query value is: replies get half the context, as chat.js's default, and a notice says so.
 */
function fitChosenContext(opts: ChatOptions): void {
  const ctx = engines.chosen?.contextLength ?? Infinity, input = $<HTMLInputElement>('set-max_tokens');
  if (opts.maxNewTokens < ctx) return uncoverNotice(MAX_TOKENS);
  const asked = opts.maxNewTokens;
  fitMaxNewTokens(opts, ctx, false);
  input.title += `; replies get at most ${opts.maxNewTokens}`;
  coverNotice({ title: `Max tokens ${asked} does not fit this model\u2019s ${ctx}-token context.`, text: `Replies get at most ${opts.maxNewTokens} tokens, half the context; set a Max tokens below ${ctx} in Settings.` }, 'warn', MAX_TOKENS);
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
