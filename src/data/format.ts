// The one definition of how a conversation becomes tokens; training and the chat REPL both
// build their token streams from these pieces, so the model sees in chat exactly what it
// was trained on:
//
//   Human: {text}\nBot:       mask 0   (the prompt; encodeHumanTurn)
//    {text}<|endoftext|>      mask 1   (the answer and the decision to stop; encodeBotTurn)
//   \n                        mask 0   (the newline before the next `Human:`)
//
// A mask of 1 on token i means the loss covers predicting token i from tokens < i. Each
// piece is tokenized on its own; at these boundaries (`Bot:`|` text`, EOT|`\n`|`Human`) the
// BPE split is the same as tokenizing the joined text.
import { encode, EOT } from './tokenizer.ts';

export interface Speakers { human: string; bot: string }
export const DEFAULT_SPEAKERS: Speakers = { human: 'Human', bot: 'Bot' };
/** the tags as a writer types them, for messages: `"Human:"/"Bot:"` */
export const tagPair = (sp: Speakers) => `"${sp.human}:"/"${sp.bot}:"`;
/** whether `sp` are Human/Bot (a model trained with other tags is prompted, served and said differently) */
export const isDefaultSpeakers = (sp: Speakers) => sp.human === DEFAULT_SPEAKERS.human && sp.bot === DEFAULT_SPEAKERS.bot;

/** why `name` cannot be a speaker tag (it starts a `name:` line), or null */
export function speakerProblem(name: string): string | null {
  return !name.trim() || /[\r\n:]/.test(name) ? "must be a non-empty name without ':' or newlines" : null;
}

/**
 * why `sp` cannot tag the two speakers, or null: the one check of a pair of tags, wherever they
 * come from. `who` names a tag that cannot be one; null, the same tag for both (every turn
 * would be the human's).
 */
export function speakersProblem(sp: Speakers): { who: 'human' | 'bot' | null; why: string } | null {
  for (const who of ['human', 'bot'] as const) {
    const why = speakerProblem(sp[who]);
    if (why) return { who, why };
  }
  const h = sp.human.trim();
  return h === sp.bot.trim() ? { who: null, why: `the human and bot tags are both '${h}': give the speakers different tags` } : null;
}

/** what is wrong with --human/--bot, said as train.js, chat.js, eval.js and serve.js say it, or null */
export function speakerFlagsProblem(sp: Speakers): string | null {
  const p = speakersProblem(sp);
  return !p ? null : p.who ? badSpeakerFlag(p.who, p.why, sp[p.who]) : `--human/--bot: ${p.why}`;
}

/** what is wrong with --human or --bot alone (the other tag not known yet: train.js --resume), or null */
export function speakerFlagProblem(who: 'human' | 'bot', tag: string): string | null {
  const why = speakerProblem(tag);
  return why && badSpeakerFlag(who, why, tag);
}

// the tag as given, on one line (a newline in it would break the error's line)
const badSpeakerFlag = (who: 'human' | 'bot', why: string, tag: string) => `--${who} ${why}, got '${tag.replace(/\r/g, '\\r').replace(/\n/g, '\\n')}'`;

/** tags read back (train_state.json, serve.js's header): both, trimmed, when they can tag the two speakers, else null */
export function speakerTags(human: unknown, bot: unknown): Speakers | null {
  if (typeof human !== 'string' || typeof bot !== 'string') return null;
  const sp = { human: human.trim(), bot: bot.trim() };
  return speakersProblem(sp) ? null : sp;
}
export interface Turn { speaker: 'human' | 'bot'; text: string }

/** eval.js's mark ending a Bot turn of a held-out file: `[recall: VALUE]` (group 1) or `[unknown]` (group 2); data/README.md */
export const EVAL_MARK = /\s*\[\s*(?:recall\s*:([^\]]*)|(unknown))\s*\]\s*$/i;
export interface Conversation { turns: Turn[] }
/** tokens and per-token loss mask (1 = the loss covers predicting this token) */
export interface Encoded { tokens: number[]; mask: number[] }

const piece = (tokens: number[], m: 0 | 1): Encoded => ({ tokens, mask: tokens.map(() => m) });

/** Append `b` onto `a` (in place) and return `a`. */
export function concatEncoded(a: Encoded, b: Encoded): Encoded {
  for (let i = 0; i < b.tokens.length; i++) {
    a.tokens.push(b.tokens[i]);
    a.mask.push(b.mask[i]);
  }
  return a;
}

/** `Human: {text}\nBot:` — mask 0 for all of it */
export function encodeHumanTurn(text: string, sp: Speakers): Encoded {
  return piece(encode(`${sp.human}: ${text.trim()}\n${sp.bot}:`), 0);
}

/** ` {text}` + EOT — mask 1 (the model learns the answer and to stop), then `\n` with mask 0 */
export function encodeBotTurn(text: string, sp: Speakers): Encoded {
  void sp; // the speaker tag belongs to the preceding human piece
  const t = text.trim();
  const out = piece(t ? [...encode(` ${t}`), EOT] : [EOT], 1);
  return concatEncoded(out, piece(encode('\n'), 0));
}

/** a persona/context line placed before a conversation (mask 0), e.g. `{persona}\n` */
export function encodePersona(text: string): Encoded {
  return piece(encode(`${text.trim()}\n`), 0);
}

/**
 * The token-level concatenation of the turn pieces. Irregular shapes stay readable text:
 * a human turn followed by another human turn (or ending the conversation) is
 * `Human: {text}\n` without the `Bot:` cue; a bot turn with no human turn right before it
 * (a conversation opening with the bot, or two bot turns in a row) gets its own `Bot:` cue
 * (mask 0). maskMode 'none' sets mask 1 everywhere (plain language modelling).
 */
export function encodeConversation(c: Conversation, sp: Speakers, maskMode: 'bot' | 'none'): Encoded {
  const out: Encoded = { tokens: [], mask: [] };
  c.turns.forEach((_, i) => concatEncoded(out, encodeTurnAt(c.turns, i, sp, maskMode)));
  return out;
}

/**
 * The same pieces grouped per exchange (a human turn with the bot turns answering it; a
 * leading bot turn is a group of its own). Concatenated in order they equal
 * encodeConversation; packing splits long conversations at these boundaries.
 */
export function encodeExchanges(c: Conversation, sp: Speakers, maskMode: 'bot' | 'none'): Encoded[][] {
  const groups: Encoded[][] = [];
  c.turns.forEach((turn, i) => {
    const enc = encodeTurnAt(c.turns, i, sp, maskMode);
    if (turn.speaker === 'human' || groups.length === 0) groups.push([enc]);
    else groups[groups.length - 1].push(enc);
  });
  return groups;
}

/** Turn i as it appears in its conversation (the cue it carries depends on its neighbours). */
function encodeTurnAt(turns: Turn[], i: number, sp: Speakers, maskMode: 'bot' | 'none'): Encoded {
  const turn = turns[i];
  let enc: Encoded;
  if (turn.speaker === 'human') {
    enc = turns[i + 1]?.speaker === 'bot'
      ? encodeHumanTurn(turn.text, sp)
      : piece(encode(`${sp.human}: ${turn.text.trim()}\n`), 0);
  } else {
    enc = encodeBotTurn(turn.text, sp);
    if (turns[i - 1]?.speaker !== 'human') enc = concatEncoded(piece(encode(`${sp.bot}:`), 0), enc);
  }
  if (maskMode === 'none') enc.mask.fill(1);
  return enc;
}
