// The headers serve.js adds for the chat page, beyond OpenAI's API: one definition for the
// server's side (src/server/static.ts, src/server/http.ts) and the page's (src/page/engines.ts).
// Host-neutral: no node:* imports.
import { speakerTags, type Speakers } from '../data/format.ts';

/**
 * Sent with /model/config.json: 'adapter/' when a LoRA adapter is served beside the model, 'none'
 * when not; the page then looks for one only when there is one (a 404 for adapter_config.json is
 * an error in every browser's console). A static host says nothing: the page looks.
 */
export const ADAPTER_HEADER = 'X-Model-Adapter';

/**
 * Sent with /model/config.json: the file the model's weights are read from, model.safetensors or
 * a sharded save's model.safetensors.index.json (then the shards it names are served beside it);
 * the page asks for that one. A static host does not say: the page asks for model.safetensors,
 * and on a 404 for the index (model.safetensors wins when both are there, as in transformers).
 */
export const WEIGHTS_HEADER = 'X-Model-Weights';

/**
 * Sent with /model/config.json: the tags serve.js prompts the model with (its --human/--bot, else
 * the ones the model records), so that the page prompts it as chat.js does: the tags as
 * URI-encoded JSON. Human/Bot too: the flags or train_state.json win over config.json's
 * chat_speakers, which a static host's page reads instead.
 */
export const SPEAKERS_HEADER = 'X-Model-Speakers';
export const speakersHeaderValue = (sp: Speakers): string => encodeURIComponent(JSON.stringify(sp));
/** the tags in a SPEAKERS_HEADER value, or null (absent or not two valid tags) */
export function parseSpeakersHeader(v: string | null): Speakers | null {
  if (!v) return null;
  try {
    const j = JSON.parse(decodeURIComponent(v)) as Partial<Speakers> | null;
    return speakerTags(j?.human, j?.bot);
  } catch {
    return null;
  }
}

/**
 * Sent with a chat completion (not with an error answered instead of one; a stream's goes out with its 200, before it
 * is known how the stream ends): how many old exchanges were left out to fit the context (absent when none), so that
 * the page says so under the reply as it does for its own engine.
 */
export const DROPPED_HEADER = 'X-Dropped-Exchanges';
