// Held-out conversations with marked answers (data/eval.txt, or a user's own file): plain
// `Human:`/`Bot:` text where a Bot line may end in a mark that says what its reply is scored on:
//
//   Bot: Your name is Zorbat. [recall: Zorbat]      the reply must contain Zorbat (alternatives: [recall: 7 | seven])
//   Bot: You haven't told me your age. [unknown]     the fact was never given: the reply must admit it
//
// The marks are taken off before anything else sees the text, so the gold history and the
// reference replies read as ordinary conversation.
import { parseChat } from '../data/conversations.ts';
import type { Conversation, Speakers } from '../data/format.ts';
import { UserError } from '../util/errors.ts';

export type Mark = { kind: 'recall'; values: string[] } | { kind: 'unknown' };

export interface MarkedConversation extends Conversation {
  /** per turn: its mark, or null */
  marks: (Mark | null)[];
}

const MARK = /\s*\[\s*(?:recall\s*:([^\]]*)|(unknown))\s*\]\s*$/i;

/** parseChat, then the marks taken off the end of Bot turns; a mark anywhere else is a UserError */
export function parseMarkedChat(text: string, sp: Speakers): MarkedConversation[] {
  return parseChat(text, sp).map((c, ci) => {
    const marks: (Mark | null)[] = [];
    const turns = c.turns.map((t, i) => {
      const m = MARK.exec(t.text);
      if (!m) {
        marks.push(null);
        return t;
      }
      const where = `conversation ${ci + 1}, turn ${i + 1} ("${t.text.slice(0, 60)}")`;
      if (t.speaker !== 'bot' || c.turns[i - 1]?.speaker !== 'human') {
        throw new UserError(`${where}: a [recall: ...] or [unknown] mark belongs at the end of a ${sp.bot} line that answers a ${sp.human} line`);
      }
      if (m[2]) marks.push({ kind: 'unknown' });
      else {
        const values = m[1].split('|').map((v) => v.trim()).filter((v) => v !== '');
        if (!values.length) throw new UserError(`${where}: [recall: ...] needs the value the reply must contain, e.g. [recall: Zorbat]`);
        marks.push({ kind: 'recall', values });
      }
      return { speaker: t.speaker, text: t.text.slice(0, m.index).trim() };
    });
    return { turns, marks };
  });
}
