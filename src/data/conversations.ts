// Parses `Human: ... / Bot: ...` chat text into conversations.
import { UserError } from '../util/errors.ts';
import { DEFAULT_SPEAKERS, type Conversation, type Speakers, type Turn } from './format.ts';

/** Exchanges per conversation when a file has no separators at all (see parseChat). */
export const CHUNK_EXCHANGES = 4;
const GREETING = /^(hi|hello|hey|heya|hiya|howdy|greetings|yo|good (morning|afternoon|evening))\b/i;
const SEPARATOR = /^(-{3,}|<\|endoftext\|>)$/;

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Lines `Human: text` / `Bot: text` (speaker names from `sp`, case-sensitive, optional space
 * after the colon) start a turn; CRLF and trailing spaces are fine; a line without a tag
 * continues the previous turn (joined with `\n`); untagged lines before a conversation's
 * first turn (headers) are ignored, and so are turns left empty.
 *
 * Conversations are separated by blank lines or separator lines (`---`, `<|endoftext|>`).
 * A file with no separator at all (e.g. the nanoChatGPT dump: one long run of turns) cannot
 * say where a conversation ends, so it is chunked: a new conversation starts at a human turn
 * that follows a bot turn when the current one already has CHUNK_EXCHANGES exchanges or
 * when that human turn opens with a greeting ("hi", "hello", ...), which in such dumps
 * usually marks a new dialogue.
 *
 * Throws (UserError) when there is no tagged line at all, naming the tags and the first line.
 */
export function parseChat(text: string, sp: Speakers = DEFAULT_SPEAKERS): Conversation[] {
  const tag = new RegExp(`^(${escapeRe(sp.human)}|${escapeRe(sp.bot)}):[ \\t]?(.*)$`);
  const blocks: Turn[][] = [[]];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const cur = blocks[blocks.length - 1];
    if (line === '' || SEPARATOR.test(line)) {
      if (cur.length) blocks.push([]);
      continue;
    }
    const m = tag.exec(line);
    if (m) cur.push({ speaker: m[1] === sp.human ? 'human' : 'bot', text: m[2] });
    else if (cur.length) cur[cur.length - 1].text += '\n' + line;
  }
  const cleaned = blocks
    .map((b) => b.map((t) => ({ speaker: t.speaker, text: t.text.trim() })).filter((t) => t.text !== ''))
    .filter((b) => b.length > 0);
  if (cleaned.length === 0) {
    const first = text.split(/\r?\n/).find((l) => l.trim() !== '');
    throw new UserError(
      `no "${sp.human}:" or "${sp.bot}:" lines found; each turn must be a line starting with "${sp.human}:" or "${sp.bot}:" ` +
        (first === undefined ? '(the text is empty)' : `(first line: ${JSON.stringify(first.trim().slice(0, 80))})`),
    );
  }
  // one block (a trailing separator does not count) means the file has no separators
  if (cleaned.length > 1) return cleaned.map((turns) => ({ turns }));
  return chunk(cleaned[0]);
}

function chunk(turns: Turn[]): Conversation[] {
  const out: Conversation[] = [];
  let cur: Turn[] = [];
  let exchanges = 0;
  turns.forEach((t, i) => {
    const newDialogue = t.speaker === 'human' && turns[i - 1]?.speaker === 'bot'
      && (exchanges >= CHUNK_EXCHANGES || GREETING.test(t.text));
    if (newDialogue) {
      out.push({ turns: cur });
      cur = [];
      exchanges = 0;
    }
    cur.push(t);
    if (t.speaker === 'human') exchanges++;
  });
  if (cur.length) out.push({ turns: cur });
  return out;
}
