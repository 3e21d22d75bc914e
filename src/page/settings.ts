// The page's chat settings: chat.js's options (src/chat/session.ts) under their OpenAI API
// names, preset from the query string (?engine=browser&temperature=0&max_tokens=64 ...; max_tokens
// also as chat.js's ?max_new_tokens=), and where the in-browser engine's model (?model=) and LoRA
// adapter (?adapter=) are, and the tags it was trained with (?human=, ?bot=).
import { DEFAULT_SPEAKERS, speakerProblem, speakersProblem, type Speakers } from '../data/format.ts';
import { UserError } from '../util/errors.ts';
import { applySetting, defaultChatOptions, type ChatOptions } from '../chat/session.ts';
import type { CompletionParams } from '../browser/openai.ts';
import { apiValueProblem } from '../chat/api_limits.ts';
import { parseSpeakersHeader } from '../server/page_headers.ts';
import { parseConfigSpeakers } from '../model/config_speakers.ts';

export type EngineKind = 'browser' | 'server';

/** The settings the page shows, by API name, in order; `setting` is the session's name where it differs. */
export interface SamplingField { name: keyof CompletionParams; label: string; setting: string; step: string; hint: string }
export const SAMPLING_FIELDS: SamplingField[] = [
  { name: 'temperature', label: 'Temperature', setting: 'temperature', step: '0.05', hint: '0 = always the most likely token' },
  { name: 'top_k', label: 'Top-k', setting: 'top_k', step: '1', hint: 'sample among the k best; 0 = off' },
  { name: 'top_p', label: 'Top-p', setting: 'top_p', step: '0.01', hint: 'smallest set with this much probability; 1 = off' },
  { name: 'repetition_penalty', label: 'Repetition penalty', setting: 'repetition_penalty', step: '0.01', hint: 'on tokens it said lately; 1 = off' },
  { name: 'frequency_penalty', label: 'Frequency penalty', setting: 'frequency_penalty', step: '0.05', hint: 'per repeat of a token; 0 = off' },
  { name: 'max_tokens', label: 'Max tokens', setting: 'max_new_tokens', step: '1', hint: 'longest reply' },
  { name: 'seed', label: 'Seed', setting: 'seed', step: '1', hint: 'same seed, same replies' },
];

export interface PageSettings {
  engine: EngineKind | null;
  chat: ChatOptions;
  /** where config.json and model.safetensors are (a URL prefix ending in /) */
  modelBase: string;
  /**
   * where adapter_config.json and adapter_model.safetensors are (a URL prefix ending in /): ?adapter=,
   * else MODEL/adapter/, which serve.js --adapter serves; `required` false: that default, used only if it is there
   */
  adapter: { base: string; required: boolean };
  /** the server engine's base URL ('' = this page's server) */
  serverBase: string;
  /** ?human=, ?bot=: the speaker tags of a model trained with others (train.js --human/--bot), each as given or absent */
  speakers: Partial<Speakers>;
  /** ?max_tokens= was given (and taken): else the default is fitted to each engine's model, as chat.js fits it */
  maxTokensGiven: boolean;
  /** query values that were not understood, said in words */
  problems: string[];
}

/** every query parameter the page reads (settingsFromQuery): another one is said, not passed over (a typo would change nothing without a word) */
export const QUERY_PARAMS = ['engine', ...SAMPLING_FIELDS.map((f) => f.name), 'max_new_tokens', 'persona', 'model', 'adapter', 'server', 'human', 'bot'];

/** what a link picks up when shared (utm_source, fbclid, gclid, Microsoft's msclkid, ...): not the visitor's typo, so not said */
const isTrackingParam = (name: string) => /^utm_|clk?id$/i.test(name);

const known = (name: string) => {
  if (!QUERY_PARAMS.includes(name)) throw new Error(`settingsFromQuery reads ?${name}=, which QUERY_PARAMS does not list`);
  return name;
};

/** chat.js's defaults, changed by the query string's engine, persona, model, adapter, server and sampling settings. */
export function settingsFromQuery(search: string): PageSettings {
  const query = new URLSearchParams(search);
  // every read goes through QUERY_PARAMS, so a parameter read here but left off the list (said as a typo) fails every call, not one visitor
  const q = {
    get: (name: string) => query.get(known(name)),
    has: (name: string) => query.has(known(name)),
  };
  const chat = defaultChatOptions();
  const problems: string[] = [];
  for (const [name, v] of query) {
    if (!QUERY_PARAMS.includes(name) && !isTrackingParam(name)) problems.push(`?${name}=${v}: not a setting of this page (it takes ${QUERY_PARAMS.join(', ')})`);
  }
  let maxTokensGiven = false;
  const engine = q.get('engine');
  if (engine !== null && engine !== 'browser' && engine !== 'server') problems.push(`?engine=${engine}: use browser or server`);
  for (const f of SAMPLING_FIELDS) {
    // max_tokens also under chat.js's name for it; a notice names the parameter as the query gave it
    const given = f.name === 'max_tokens' && !q.has(f.name) ? 'max_new_tokens' : f.name;
    const v = q.get(given);
    if (v === null) continue;
    const why = applyField(chat, f, v);
    if (why) problems.push(`?${given}=${v}: ${why}`);
    else if (f.name === 'max_tokens') maxTokensGiven = true;
  }
  chat.persona = q.get('persona') ?? '';
  let modelBase = q.get('model') ?? 'model/';
  if (!modelBase.endsWith('/')) modelBase += '/';
  const adapter = q.get('adapter');
  const speakers: Partial<Speakers> = {};
  // each tag by itself, not by speakersProblem's `who`: one may come alone, and two bad ones are two messages (the pair check names its first)
  for (const who of ['human', 'bot'] as const) {
    const v = q.get(who);
    if (v === null) continue;
    const why = speakerProblem(v);
    if (why) problems.push(`?${who}=${v}: ${why}`);
    else speakers[who] = v.trim();
  }
  const same = speakers.human !== undefined && speakers.bot !== undefined && speakersProblem(speakers as Speakers)?.why;
  if (same) {
    problems.push(`?human=${speakers.human}&bot=${speakers.bot}: ${same}`);
    delete speakers.human;
    delete speakers.bot;
  }
  return {
    engine: engine === 'browser' || engine === 'server' ? engine : null, chat, modelBase,
    adapter: adapter ? { base: adapter.endsWith('/') ? adapter : `${adapter}/`, required: true } : { base: `${modelBase}adapter/`, required: false },
    serverBase: (q.get('server') ?? '').replace(/\/+$/, ''), speakers, problems, maxTokensGiven,
  };
}

/**
 * The tags the model at `configUrl` was trained with, as its host says them: serve.js's
 * X-Model-Speakers (`header`: its --human/--bot, else what the model records, as chat.js would
 * prompt it), else the chat_speakers of the config.json (a static host); null when neither says.
 */
export const modelSpeakers = (header: string | null, configText: string, configUrl: string): Speakers | null =>
  parseSpeakersHeader(header) ?? parseConfigSpeakers(configText, configUrl);

/**
 * The tags the in-browser engine prompts with: each of ?human=/?bot= (`asked`) where given, else
 * the model's (`said`: modelSpeakers), else Human/Bot. The query wins as chat.js's --human/--bot win over
 * what the model records: the user said so explicitly. One tag given that the other already has is refused, as chat.js refuses it.
 */
export function speakersFromQueryOrHost(said: Speakers | null, asked: Partial<Speakers>): Speakers {
  const sp = { human: asked.human ?? said?.human ?? DEFAULT_SPEAKERS.human, bot: asked.bot ?? said?.bot ?? DEFAULT_SPEAKERS.bot };
  const same = speakersProblem(sp)?.why;
  if (same) throw new UserError(`${asked.human !== undefined ? `?human=${asked.human}` : `?bot=${asked.bot}`}: ${same}`);
  return sp;
}

/**
 * Set field `f` from text, or say why not (by its API name): chat.js's rules and the API's limits
 * both, so that a value either engine takes the other takes too; `contextLength` bounds max_tokens.
 */
export function applyField(o: ChatOptions, f: SamplingField, value: string, contextLength = Infinity): string | null {
  const v = Number(value);
  const api = value.trim() !== '' && Number.isFinite(v) ? apiValueProblem(f.name, v) : null;
  if (api) return `${f.name} ${api}, got ${value}`;
  return applySetting(o, f.setting, value, contextLength)?.replace(f.setting, f.name) ?? null;
}

/** the session's value of a field */
export function getSetting(o: ChatOptions, name: keyof CompletionParams): number {
  const s = o.sampling;
  return { temperature: s.temperature, top_k: s.topK, top_p: s.topP, repetition_penalty: s.repetitionPenalty, frequency_penalty: s.frequencyPenalty, max_tokens: o.maxNewTokens, seed: o.seed }[name];
}

/** The settings as an API request's sampling parameters. */
export function completionParams(o: ChatOptions): CompletionParams {
  const out: CompletionParams = {};
  for (const f of SAMPLING_FIELDS) out[f.name] = getSetting(o, f.name);
  return out;
}
