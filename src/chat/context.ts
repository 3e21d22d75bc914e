// The prompt the model sees: persona, history, new human turn, encoded exactly as training
// formats conversations (src/data/format.ts), cut to the context budget; plus a mirror of
// the generator's KV cache so a new prompt only prefills what differs from the cached one.
import { encodeExchanges, encodeHumanTurn, encodePersona, type Speakers, type Turn } from '../data/format.ts';
import type { Generator } from '../model/generator.ts';

export interface Prompt {
  tokens: number[];
  /** whole exchanges (a human turn and its bot reply) left out, oldest first */
  dropped: number;
  /** persona tokens cut from its front because persona + new message did not fit */
  personaCut: number;
  /** tokens cut from the front of the new message because it alone did not fit */
  messageCut: number;
}

/** history as exchanges in token form (a human turn with the bot reply after it), as training packs them */
function exchanges(history: Turn[], sp: Speakers): number[][] {
  return encodeExchanges({ turns: history }, sp, 'bot').map((group) => group.flatMap((e) => e.tokens));
}

/** how many turns the first `k` exchanges of `history` hold */
export function turnsInExchanges(history: Turn[], k: number): number {
  let seen = 0;
  for (let i = 0; i < history.length; i++) {
    if (history[i].speaker === 'human' || i === 0) seen++;
    if (seen > k) return i;
  }
  return history.length;
}

/**
 * persona + history + `message` (ending in `{bot}:`), at most `budget` tokens
 * (= contextLength - maxNewTokens). Over budget, the oldest whole exchanges go first; then
 * the persona is cut from its front; last the message itself is cut from its front.
 */
/** tokens a prompt may use in a context of `ctx`: the rest is room for the reply, at most half the context (so a short context still holds a conversation) */
export const promptBudget = (ctx: number, maxNewTokens: number) => Math.max(1, ctx - Math.min(maxNewTokens, Math.floor(ctx / 2)));

export function buildPrompt(persona: string, history: Turn[], message: string, sp: Speakers, budget: number): Prompt {
  budget = Math.max(1, Math.floor(budget));
  let personaTokens = persona.trim() ? encodePersona(persona).tokens : [];
  let messageTokens = encodeHumanTurn(message, sp).tokens;
  const ex = exchanges(history, sp);
  let total = personaTokens.length + messageTokens.length;
  for (const e of ex) total += e.length;
  let dropped = 0;
  while (total > budget && dropped < ex.length) total -= ex[dropped++].length;
  let personaCut = 0, messageCut = 0;
  if (total > budget) {
    personaCut = Math.min(personaTokens.length, total - budget);
    personaTokens = personaTokens.slice(personaCut);
    total -= personaCut;
  }
  if (total > budget) {
    messageCut = total - budget;
    messageTokens = messageTokens.slice(messageCut);
  }
  const tokens = [...personaTokens];
  for (let i = dropped; i < ex.length; i++) for (const t of ex[i]) tokens.push(t);
  for (const t of messageTokens) tokens.push(t);
  return { tokens, dropped, personaCut, messageCut };
}

export function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** The tokens in the generator's KV cache, in order. */
export class KvMirror {
  tokens: number[] = [];

  /**
   * Cut the generator's cache back to the longest common prefix with `prompt`, keeping at
   * least one prompt token to append (its logits are needed); returns the tokens to append.
   */
  sync(gen: Generator, prompt: readonly number[]): number[] {
    if (gen.cached !== this.tokens.length) this.reset(gen); // someone else used the cache
    const keep = Math.min(commonPrefix(this.tokens, prompt), prompt.length - 1);
    if (keep <= 0) {
      if (gen.cached > 0) this.reset(gen);
    } else if (keep < this.tokens.length) {
      gen.truncate(keep);
      this.tokens.length = keep;
    }
    return prompt.slice(this.tokens.length);
  }

  push(tokens: readonly number[]): void {
    for (const t of tokens) this.tokens.push(t);
  }

  reset(gen: Generator): void {
    gen.reset();
    this.tokens = [];
  }
}
