// Held-out conversations with marked answers (data/eval.txt, or a user's own file): plain
// `Human:`/`Bot:` text where a Bot line may end in a mark that says what its reply is scored on:
//
//   Bot: Your name is Zorbat. [recall: Zorbat]      the reply must contain Zorbat (alternatives: [recall: 7 | seven])
//   Bot: You haven't told me your age. [unknown]     the fact was never given: the reply must admit it
//
// The marks are taken off before anything else sees the text, so the gold history and the
// reference replies read as ordinary conversation.
import { readChat } from '../data/conversations.ts';
import { EVAL_MARK, type Conversation, type Speakers } from '../data/format.ts';
import { UserError } from '../util/errors.ts';
import { count } from '../util/words.ts';
import { containsValue, matchesNothing, valueSpan } from './match.ts';

export type Mark = { kind: 'recall'; values: string[] } | { kind: 'unknown' };

export interface MarkedConversation extends Conversation {
  /** per turn: its mark, or null */
  marks: (Mark | null)[];
}

/**
 * what is left of something meant as a mark: a recall mark with its colon anywhere (mid-line,
 * unclosed, a second one) or without it at the end; any [word: ...] ending a turn (a misspelt
 * recall); [unknown] or a typo of it, closed or at the end; either in parentheses; either in
 * full-width brackets (［ ］, 【 】, （ ）: a Chinese or Japanese input method's); a stray "["
 * at the end (what "[[recall: X]" leaves)
 */
const MARKISH = /\[\s*recall?\s*:|\[\s*recall?\b[^\]]*\]?\s*$|\[\s*[a-z]+\s*:[^\]]*\]?\s*$|\[\s*unk\w*\W*(?:\]|$)|\(\s*(?:recall\s*:|unknown\s*\))|[［【〔（]\s*(?:recall|unknown)|\[\s*$/i;
const markRule = (sp: Speakers) => `marks are [recall: VALUE] or [unknown], one at the end of a turn tagged "${sp.bot}:", after its last line (data/README.md)`;

/** `text` with each run of whitespace, newlines included, as one space: for a one-line message */
const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim();

/**
 * readChat without chunking (a file with no blank lines is one conversation: a recall question
 * is asked about a fact said earlier, and a cut would part them), then the marks taken off the
 * end of Bot turns; a mark anywhere else is a UserError
 */
export function readMarkedChat(text: string, sp: Speakers): { conversations: MarkedConversation[]; notes: string[] } {
  const parsed = readChat(text, sp, { chunk: false });
  let unsaid = 0, firstUnsaid = '';
  const conversations = parsed.conversations.map((c, ci) => {
    const marks: (Mark | null)[] = [];
    const turns = c.turns.map((t, i) => {
      // the turn, on one line (its text may span several), and the line of the file that character k of its text is on
      const at = (k: number) => {
        const line = parsed.turnLines[ci][i] - (t.text.slice(k).match(/\n/g)?.length ?? 0);
        return `conversation ${ci + 1}, turn ${i + 1} (line ${line}: "${oneLine(t.text.slice(0, 60))}")`;
      };
      const m = EVAL_MARK.exec(t.text);
      const rest = m ? t.text.slice(0, m.index) : t.text;
      const stray = MARKISH.exec(rest);
      if (stray) throw new UserError(`${at(stray.index)}: "${oneLine(rest.slice(stray.index, stray.index + 30))}" is not a mark that can be scored: ${markRule(sp)}`);
      if (!m) {
        marks.push(null);
        return t;
      }
      const where = at(m.index);
      if (t.speaker !== 'bot' || c.turns[i - 1]?.speaker !== 'human') {
        throw new UserError(`${where}: a [recall: ...] or [unknown] mark belongs at the end of a reply: the ${sp.bot} line that answers the ${sp.human} line before it`);
      }
      if (m[2]) marks.push({ kind: 'unknown' });
      else {
        const values = m[1].split('|').map((v) => v.trim()).filter((v) => v !== '');
        if (!values.length) throw new UserError(`${where}: [recall: ...] needs the value the reply must contain, e.g. [recall: Zorbat]`);
        // the match ignores punctuation: a value of it alone would be found in no reply, silently
        const blank = values.find(matchesNothing);
        if (blank !== undefined) throw new UserError(`${where}: the value "${blank}" is punctuation alone, which the recall match ignores, so no reply could contain it: write a value with a letter, digit, emoji or symbol, e.g. [recall: Zorbat]`);
        // the recall loss scores the value's tokens in the reference reply: it must say the value as written
        if (!valueSpan(rest, values)) throw new UserError(`${where}: the reply does not say ${values.join(' or ')} as written in the mark; write the answer with the value in it, e.g. "You're Zorbat. [recall: Zorbat]"`);
        marks.push({ kind: 'recall', values });
        // nothing to recall: most likely a blank line parted the fact from its question
        if (!containsValue(c.turns.slice(0, i).map((x) => x.text.replace(EVAL_MARK, '')).join('\n'), values)) {
          if (!unsaid++) firstUnsaid = `conversation ${ci + 1}, turn ${i + 1}`;
        }
      }
      return { speaker: t.speaker, text: rest.trim() };
    });
    return { turns, marks };
  });
  const notes = [...parsed.notes];
  if (unsaid) {
    notes.push(`${count(unsaid, '[recall: ...] question')} ${unsaid === 1 ? 'asks' : 'ask'} for a value said nowhere earlier in ${unsaid === 1 ? 'its' : 'their'} conversation (first: ${firstUnsaid}): ` +
      'a blank line ends a conversation, so one between a fact and its question parts them');
  }
  return { conversations, notes };
}
