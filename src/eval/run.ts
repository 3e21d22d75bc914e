// Replays held-out conversations through a ChatSession, as chat.js would prompt the model:
// for every Bot turn that answers a Human turn, the prompt is the persona, the conversation's
// gold history up to that Human turn, and the Human turn; the model's reply stands in for the
// Bot turn. The gold history (not the model's earlier replies) comes next, so each reply is
// scored on the conversation as written.
import type { Generator } from '../model/generator.ts';
import { ChatSession, type ChatOptions } from '../chat/session.ts';
import type { MarkedConversation } from './heldout.ts';
import type { ScoredReply } from './score.ts';

/** Bot turns that answer a Human turn: the ones the eval generates */
export function scoredTurns(c: MarkedConversation): number[] {
  return c.turns.flatMap((t, i) => (t.speaker === 'bot' && c.turns[i - 1]?.speaker === 'human' ? [i] : []));
}

/**
 * Generate a reply for each scored turn. Conversation k samples with seed opts.seed + k, so
 * its replies do not depend on which conversations ran before it. `stopped` (checked between
 * tokens) ends the run early: the conversation under way is dropped, so what comes back is the
 * replies of the first conversations, as a shorter list of them would give.
 */
export async function generateReplies(
  gen: Generator, convs: MarkedConversation[], opts: ChatOptions,
  onConversation?: (done: number, replies: number) => void,
  stopped?: () => boolean,
): Promise<ScoredReply[]> {
  const out: ScoredReply[] = [];
  for (let k = 0; k < convs.length && !stopped?.(); k++) {
    const c = convs[k];
    const session = new ChatSession(gen, { ...opts, seed: opts.seed + k });
    session.reset();
    const replies: ScoredReply[] = [];
    for (const i of scoredTurns(c)) {
      session.setHistory(c.turns.slice(0, i - 1));
      const message = c.turns[i - 1].text;
      const { reply, prompt } = await session.say(message, undefined, stopped);
      if (reply.reason === 'abort') return out;
      replies.push({
        conversation: k, turn: i, message, reference: c.turns[i].text, mark: c.marks[i],
        reply: reply.text.trim(), reason: reply.reason, droppedExchanges: prompt.dropped,
        personaCut: prompt.personaCut, messageCut: prompt.messageCut,
      });
    }
    out.push(...replies);
    onConversation?.(k + 1, out.length);
  }
  return out;
}
