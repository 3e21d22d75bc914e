// The speaker tags a model was trained with, as its config.json records them:
// `"chat_speakers": {"human": "User", "bot": "Assistant"}`, absent for Human/Bot. A model that
// left its run (a merged adapter, the page's download, a copy without train_state.json, the
// hub) is then still prompted as it learned. Hugging Face's GPT2Config keeps keys it does not
// know, so from_pretrained loads the file as before. Host-neutral.
import { isDefaultSpeakers, speakersProblem, type Speakers } from '../data/format.ts';
import { UserError } from '../util/errors.ts';
import { parseJsonObject } from '../util/json.ts';

export const SPEAKERS_KEY = 'chat_speakers';

/** config.json's entry for `sp`: nothing for Human/Bot (or none known) */
export const speakersEntry = (sp: Speakers | undefined): Record<string, Speakers> =>
  sp && !isDefaultSpeakers(sp) ? { [SPEAKERS_KEY]: { human: sp.human, bot: sp.bot } } : {};

/** the tags config.json's object `j` records (trimmed, as train_state.json's are read), or null; a UserError starting with `source` when they cannot tag two speakers */
export function configSpeakers(j: Record<string, unknown>, source: string): Speakers | null {
  const v = j[SPEAKERS_KEY];
  if (v === undefined || v === null) return null;
  const fail = (what: string): never => {
    throw new UserError(`${source}: ${SPEAKERS_KEY}${what}`);
  };
  const o = v as Record<string, unknown>;
  if (typeof v !== 'object' || Array.isArray(v) || typeof o.human !== 'string' || typeof o.bot !== 'string') {
    fail(` must be {"human": "TAG", "bot": "TAG"}, the speaker tags the model was trained with; got ${JSON.stringify(v)}`);
  }
  const sp = { human: (o.human as string).trim(), bot: (o.bot as string).trim() };
  const p = speakersProblem(sp);
  // JSON.stringify: a newline in a tag is said as \n, on the error's one line
  if (p) fail(p.who ? `.${p.who} ${p.why}, got ${JSON.stringify(o[p.who])}` : `: ${p.why}`);
  return sp;
}

/** the tags config.json's text records, or null (configSpeakers) */
export const parseConfigSpeakers = (text: string, source: string): Speakers | null => configSpeakers(parseJsonObject(text, source), source);
