// The recall loss: the mean loss on the tokens of the recalled values themselves ("Zurich" in
// "You're from Zurich. [recall: Zurich]"), given the gold conversation before them. Recall
// itself is all or nothing per reply; this number falls as the values grow likelier, before
// replies hold them whole (ln 50257 = 10.8 is a uniform guess over the vocabulary), so it
// shows whether a recipe is on its way to copying.
import { encodeExchanges, type Encoded, type Speakers } from '../data/format.ts';
import { encode, EOT, tokenBytes } from '../data/tokenizer.ts';
import { makeDataset, type TokenDataset } from '../data/windows.ts';
import type { MarkedConversation } from './heldout.ts';
import { valueSpan } from './match.ts';

/**
 * The conversations that ask for a recall, one per window of T tokens (oldest exchanges
 * dropped until it fits, as a chat prompt drops them), with a loss mask over the tokens of
 * the recalled values in the reference replies only. (scripts/generate-chat-data.mjs repeats
 * this mask's rule to choose data/eval-copy.txt's values; eval.test holds the two together.)
 */
export function recallValueDataset(convs: MarkedConversation[], sp: Speakers, T: number): TokenDataset {
  const tokens: number[] = [], mask: number[] = [];
  let conversations = 0, padding = 0;
  for (const c of convs) {
    // one piece per turn: a marked turn always answers a Human turn, so it has no cue of its own
    const exchanges = encodeExchanges(c, sp, 'bot');
    const pieces: Encoded[] = exchanges.flat().map((e) => ({ tokens: e.tokens, mask: e.tokens.map(() => 0) }));
    c.turns.forEach((t, i) => {
      const m = c.marks[i];
      if (m?.kind !== 'recall') return;
      const span = valueSpan(` ${t.text.trim()}`, m.values); // the piece starts with encode(` ${text}`)
      if (!span) return;
      let at = 0;
      for (let k = 0; k < pieces[i].tokens.length && at < span[1]; k++) {
        const next = at + tokenBytes(pieces[i].tokens[k]).length;
        if (next > span[0]) pieces[i].mask[k] = 1;
        at = next;
      }
    });
    // drop the oldest exchanges while the rest is longer than a window (never the last one)
    let total = pieces.reduce((n, p) => n + p.tokens.length, 0), turn0 = 0;
    for (let e = 0; total > T && e < exchanges.length - 1; e++) {
      for (const piece of exchanges[e]) total -= piece.tokens.length;
      turn0 += exchanges[e].length;
    }
    const kept = pieces.slice(turn0);
    if (!kept.some((p) => p.mask.includes(1))) continue; // no recalled value (left)
    conversations++;
    let n = 0;
    for (const p of kept) {
      for (let k = 0; k < p.tokens.length && n < T; k++, n++) tokens.push(p.tokens[k]), mask.push(p.mask[k]);
    }
    for (; n < T; n++, padding++) tokens.push(EOT), mask.push(0);
  }
  tokens.push(EOT);
  mask.push(0);
  return makeDataset(Uint32Array.from(tokens), Uint8Array.from(mask), T, conversations, 0, padding);
}

/**
 * The tokens a training text holds: a model trained from scratch on it cannot output the others,
 * copying or not (eval.js's seen-tokens row; data/eval-copy.txt's values use only these). Encoded
 * per distinct line (3x faster than whole, measured): a value never holds a newline, and GPT-2's
 * pre-tokenizer joins nothing across one but whitespace.
 */
export function trainingTokens(text: string): Set<number> {
  const seen = new Set<number>();
  for (const line of new Set(text.split('\n'))) for (const t of encode(line)) seen.add(t);
  return seen;
}

/** `values` with its mask left on only the tokens in `seen` */
export function onlySeen(values: TokenDataset, seen: Set<number>): TokenDataset {
  return { ...values, mask: values.mask.map((m, i) => (m && seen.has(values.tokens[i]) ? 1 : 0)) };
}
