// Parses `Human: ... / Bot: ...` chat text into conversations.
import { UserError } from '../util/errors.ts';
import { count, shellWord } from '../util/words.ts';
import { DEFAULT_SPEAKERS, tagPair, type Conversation, type Speakers, type Turn } from './format.ts';

/** Exchanges per conversation when a file has no separators at all (see parseChat). */
export const CHUNK_EXCHANGES = 4;
const GREETING = /^(hi|hello|hey|heya|hiya|howdy|greetings|yo|good (morning|afternoon|evening))\b/i;
const SEPARATOR = /^(-{3,}|<\|endoftext\|>)$/;
/** `Word:` at the start of a line, for naming the tags a file uses when it has none of ours (not a URL's `https://`) */
const WORD_TAG = /^(\p{L}[\p{L}\p{N}_.'-]{0,30})[ \t\u3000]*[:：](?!\/\/)/u;
/**
 * a line as the parser reads it: spaces, the byte order mark (\s holds it) and the invisible format
 * characters a copy from a web page or chat app brings (zero-width, direction marks: \p{Cf}) do not hide a tag
 */
const bareLine = (line: string) => line.trimEnd().replace(/^[\s\p{Cf}]+/u, '');

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export interface ParseOptions {
  /** cut a text without separators into conversations (see parseChat); false keeps it one conversation */
  chunk?: boolean;
  /** the caller takes --human/--bot, so notes and errors may suggest them */
  speakerFlags?: boolean;
}

/** conversations, and one line per kind of thing in the text that was read in a way its writer may not expect */
export interface ParsedChat {
  conversations: Conversation[];
  notes: string[];
  /** per conversation, per turn: the line of the text its last line is (1-based), for messages */
  turnLines: number[][];
}

/**
 * Lines `Human: text` / `Bot: text` (speaker names from `sp`, case-sensitive, optional space
 * after the colon) start a turn; CRLF, CR-only line ends and trailing spaces are fine; a line
 * without a tag continues the previous turn (joined with `\n`, its indentation kept); other
 * untagged lines (a header before the first turn, lines after a blank line) are ignored, and
 * so are turns left empty. A turn whose text starts on the line after its tag keeps its
 * lines' indentation relative to each other (turnText).
 *
 * Conversations are separated by blank lines or separator lines (`---`, `<|endoftext|>`).
 * A file with no separator at all (e.g. the nanoChatGPT dump: one long run of turns) cannot
 * say where a conversation ends, so it is chunked (unless opts.chunk is false): a new
 * conversation starts at a human turn that follows a bot turn when the current one already
 * has CHUNK_EXCHANGES exchanges or when that human turn opens with a greeting ("hi",
 * "hello", ...), which in such dumps usually marks a new dialogue.
 *
 * Throws (UserError) when there is no tagged line at all, naming the tags and the first line,
 * and for UTF-16 (or other text with NUL characters).
 */
export function parseChat(text: string, sp: Speakers = DEFAULT_SPEAKERS, opts: ParseOptions = {}): Conversation[] {
  return readChat(text, sp, opts).conversations;
}

/** parseChat, with notes on what a writer may not expect: lines ignored or merged, empty turns, chunking, bad bytes */
export function readChat(text: string, sp: Speakers = DEFAULT_SPEAKERS, opts: ParseOptions = {}): ParsedChat {
  checkEncoding(text);
  // 's': the text may hold U+2028/U+2029 (a line separator inside a message), which '.' alone does not match
  const tag = new RegExp(`^(${escapeRe(sp.human)}|${escapeRe(sp.bot)}):[ \\t]?(.*)$`, 's');
  // our tags in another case, with a space before the colon or a full-width colon (or space: typed with a Chinese or Japanese input method): text to this parser, a tag to the writer
  const nearTag = new RegExp(`^(${escapeRe(sp.human)}|${escapeRe(sp.bot)})[ \\t\\u3000]*[:：]`, 'i');
  const tags = tagPair(sp);
  const flagHint = opts.speakerFlags ? ' (or set the tags with --human/--bot)' : '';
  const notes = new Notes();
  type At = Turn & { line: number; end: number };
  const blocks: At[][] = [[]];
  // CRLF, CR (old Mac), and CRs doubled before a LF by a second CRLF conversion
  const lines = text.split(/\r*\n|\r/);
  let started = false, spaced = false;
  // other `Word:` labels at the start of lines (text here): the other speaker's tag, where one of ours is missing
  // (`ignored`: those with no turn before them in their conversation, which no turn's text takes in)
  const labels = new Map<string, { n: number; ignored: number; first: number; word: string }>();
  lines.forEach((raw, i) => {
    const line = raw.trimEnd(), bare = bareLine(line);
    const cur = blocks[blocks.length - 1];
    if (bare === '' || SEPARATOR.test(bare)) {
      if (cur.length) blocks.push([]);
      return;
    }
    const m = tag.exec(bare);
    if (m) {
      cur.push({ speaker: m[1] === sp.human ? 'human' : 'bot', text: m[2], line: i + 1, end: i + 1 });
      started = true;
      return;
    }
    const near = nearTag.exec(bare);
    if (near) {
      notes.add('near', i + 1);
      spaced ||= !near[0].endsWith(`${near[1]}:`); // no flag value holds a space before the colon, or makes it full-width
    } else {
      if (!cur.length && started) notes.add('ignored', i + 1);
      const w = WORD_TAG.exec(bare);
      if (w) {
        let l = labels.get(w[0]);
        if (!l) labels.set(w[0], (l = { n: 0, ignored: 0, first: i + 1, word: w[1] }));
        l.n++;
        if (!cur.length) l.ignored++;
      }
    }
    if (cur.length) {
      cur[cur.length - 1].text += '\n' + line;
      cur[cur.length - 1].end = i + 1;
    }
  });
  // each block with a turn that has text is a conversation; empty turns are left out
  let conversations: Conversation[] = [];
  let turnLines: number[][] = [];
  for (const b of blocks) {
    const turns: Turn[] = [], ends: number[] = [];
    for (const t of b) {
      const text = turnText(t.text);
      if (text === '') {
        notes.add('empty', t.line);
        continue;
      }
      // a block that opens with the answer to the last one's question: a blank line cut them apart
      if (!turns.length && t.speaker === 'bot' && conversations.at(-1)?.turns.at(-1)!.speaker === 'human') notes.add('split', t.line);
      turns.push({ speaker: t.speaker, text });
      ends.push(t.end);
    }
    if (turns.length) conversations.push({ turns }), turnLines.push(ends);
  }
  if (conversations.length === 0) throw new UserError(noTagsMessage(text, lines, sp, opts));
  // turns of one speaker only, and another label on many lines: most likely the other speaker's tag ("User:" beside "Bot:")
  const missing = (['human', 'bot'] as const).find((who) => !conversations.some((c) => c.turns.some((t) => t.speaker === who)));
  const label = [...labels].filter(([, l]) => l.n >= 2).sort((a, b) => b[1].n - a[1].n)[0];
  if (missing && label) {
    const [written, l] = label, ours = `"${sp[missing]}:"`;
    const flag = opts.speakerFlags && written === `${l.word}:` ? ` (or pass --${missing} ${shellWord(l.word)})` : '';
    const read = l.n - l.ignored, ignored = `ignored (with no turn before ${l.ignored === 1 ? 'it' : 'them'} in ${l.ignored === 1 ? 'its' : 'their'} conversation)`;
    const what = !l.ignored ? 'read as text' : !read ? ignored : `${read} read as text and ${l.ignored} ${ignored}`;
    notes.list.push(`${count(l.n, 'line')} ${l.n === 1 ? 'starts' : 'start'} with "${written}", ${what}, and no turn is tagged ${ours}: if "${written}" tags that speaker, write it as ${ours}${flag} (first: line ${l.first})`);
  }
  const bad = text.split('\uFFFD').length - 1;
  if (bad) notes.add('bytes', lines.findIndex((l) => l.includes('\uFFFD')) + 1, bad);
  // one block (a trailing separator does not count) means the file has no separators
  if (conversations.length === 1 && opts.chunk !== false) {
    conversations = chunk(conversations[0].turns);
    let at = 0;
    turnLines = conversations.map((c) => turnLines[0].slice(at, (at += c.turns.length)));
    if (conversations.length > 1) {
      notes.list.push(`no blank lines between conversations: cut into ${count(conversations.length, 'conversation')} of at most ${CHUNK_EXCHANGES} exchanges, or before a greeting ("Hi", "Hello", ...); put a blank line between conversations to choose`);
    }
  }
  const say = notes.say.bind(notes);
  return {
    conversations,
    turnLines,
    notes: [
      say('ignored', (n) => `${count(n, 'untagged line')} after a blank line ignored: a blank line ends the conversation, even inside a turn`),
      say('near', (n) => `${count(n, 'line')} ${n === 1 ? 'starts' : 'start'} with a tag that is not exactly ${tags} (another case, a space before the colon, or a full-width "："), not read as ${n === 1 ? 'a turn' : 'turns'}: write the tags as ${tags}${spaced ? '' : flagHint}`),
      say('split', (n) => `${count(n, 'conversation')} ${n === 1 ? 'starts' : 'start'} with a turn tagged "${sp.bot}:" after one that ended with a turn tagged "${sp.human}:": the blank line between them cut the answer from its question`),
      say('empty', (n) => `${count(n, 'empty turn')} (a tag with no text) left out`),
      say('bytes', (n) => `${count(n, 'character')} could not be read as UTF-8 and became "\uFFFD": save the file as UTF-8`),
      ...notes.list,
    ].filter((s) => s !== ''),
  };
}

/**
 * A turn's text, trimmed. One that starts on the line after its tag (`Bot:` and then indented
 * code) loses the indentation its lines share, not only its first line's: relative
 * indentation stays as written.
 */
function turnText(text: string): string {
  const nl = text.indexOf('\n');
  if (nl < 0 || text.slice(0, nl).trim() !== '') return text.trim();
  const lines = text.slice(nl + 1).split('\n');
  const indents = lines.filter((l) => l.trim() !== '').map((l) => /^[ \t]*/.exec(l)![0].length);
  const shared = indents.length ? Math.min(...indents) : 0;
  return lines.map((l) => l.slice(Math.min(shared, l.length))).join('\n').trim();
}

/** a count and the first line number per kind */
class Notes {
  private seen = new Map<string, { n: number; first: number }>();
  list: string[] = [];
  add(kind: string, line: number, n = 1): void {
    const s = this.seen.get(kind);
    if (s) s.n += n;
    else this.seen.set(kind, { n, first: line });
  }
  say(kind: string, text: (n: number) => string): string {
    const s = this.seen.get(kind);
    return s ? `${text(s.n)} (first: line ${s.first})` : '';
  }
}

/** UTF-16 read as UTF-8 keeps its NUL bytes: refuse it rather than find no tags in it */
function checkEncoding(text: string): void {
  const nul = text.split('\0').length - 1;
  if (!nul) return;
  // a UTF-16 byte order mark read as UTF-8 is two replacement characters; ASCII in UTF-16 is half NULs
  if (text.startsWith('\uFFFD\uFFFD') || nul * 3 >= text.length) throw new UserError('the file is UTF-16, not UTF-8: save it as UTF-8');
  throw new UserError(`the text holds ${count(nul, 'NUL character')}: it is not a text file`);
}

function noTagsMessage(text: string, lines: string[], sp: Speakers, opts: ParseOptions): string {
  // lines as readChat reads them: a byte order mark or a zero-width character before a tag (or JSON) skipped
  const firstLine = lines.find((l) => bareLine(l) !== ''), first = firstLine && bareLine(firstLine);
  const msg = `no "${sp.human}:" or "${sp.bot}:" lines found; each turn must be a line starting with "${sp.human}:" or "${sp.bot}:" ` +
    (first === undefined ? '(the text is empty)' : `(first line: ${JSON.stringify(first.slice(0, 80))})`);
  // a chat export (OpenAI's {"messages": [...]} JSONL, ShareGPT's JSON) is not read: say how to convert it
  if (first !== undefined && (isJson(first) || isJson(text))) {
    return `${msg}; the text is JSON: write its messages as ${tagPair(sp)} lines, a blank line between conversations (data/README.md has a jq command for OpenAI's {"messages": [...]} JSONL)`;
  }
  // the tags the lines do use (as written, with any space before the colon), in the order they first appear
  const seen: RegExpExecArray[] = [];
  for (const l of lines) {
    const m = WORD_TAG.exec(bareLine(l));
    if (m && !seen.some((s) => s[0] === m[0])) seen.push(m);
    if (seen.length === 2) break;
  }
  if (seen.length < 2) return msg;
  const [h, b] = seen;
  // flags help only with other names: a tag with a space before its colon is never one
  const flagsFit = opts.speakerFlags && h[0] === `${h[1]}:` && b[0] === `${b[1]}:` && !(h[1] === sp.human && b[1] === sp.bot);
  return `${msg}; the lines start with "${h[0]}" and "${b[0]}": ` +
    (flagsFit ? `pass --human ${shellWord(h[1])} --bot ${shellWord(b[1])}` : `write them as "${sp.human}:" and "${sp.bot}:"`);
}

/** a JSON object or array (after a byte order mark, which JSON.parse refuses: Windows tools write one) */
function isJson(text: string): boolean {
  try {
    const v: unknown = JSON.parse(text.replace(/^\uFEFF/, ''));
    return typeof v === 'object' && v !== null;
  } catch {
    return false;
  }
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
