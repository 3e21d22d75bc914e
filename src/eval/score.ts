// Scores on generated replies (see README "Evaluate"): each is a count out of a number of
// replies, computed from the transcript alone, so a user's own transcripts score the same way.
import type { Conversation } from '../data/format.ts';
import type { Mark } from './heldout.ts';
import { CJK_SCRIPTS, containsValue } from './match.ts';

/** one generated reply with what it is scored against */
export interface ScoredReply {
  /** index of the conversation in the eval file (0-based) */
  conversation: number;
  /** index of the Bot turn the reply stands in for */
  turn: number;
  /** the Human turn it answers */
  message: string;
  /** the Bot turn of the file (marks taken off) */
  reference: string;
  mark: Mark | null;
  reply: string;
  /** how generation ended: 'eot' = the model ended its turn */
  reason: 'eot' | 'stop' | 'length' | 'context' | 'abort';
  /** older exchanges left out of the prompt to fit the context */
  droppedExchanges: number;
  /** tokens cut from the start of the persona, and of the message itself, to fit the context (after every older exchange was left out) */
  personaCut: number;
  messageCut: number;
}

export interface Fraction { count: number; of: number }

export interface Scores {
  replies: number;
  /** replies that ended with <|endoftext|> (not the token limit, a stop string or a full context) */
  stopped: Fraction;
  /** replies in which some 3-word sequence occurs twice */
  repeated3gram: Fraction;
  /** replies equal to an earlier reply of the same conversation */
  identical: Fraction;
  /** [recall] replies that contain the marked value */
  recall: Fraction;
  /** [recall] questions whose prompt lost older exchanges to the context (the fact may be gone) */
  recallOutOfContext: number;
  /** [unknown] replies that admit the fact was never given */
  honesty: Fraction;
  /** [recall] replies that say the fact was never given, when it was: a model that says so to every question scores full honesty */
  denied: Fraction;
  /** replies that are verbatim a Bot reply of the training data, where the reference says something else */
  copying: Fraction;
  /** distinct word pairs / all word pairs, over all replies (word pairs within a reply); null when they have none (no reply, say) */
  distinct2: number | null;
}

/** characters of Chinese and Japanese, written without spaces between words (match.ts's CJK_SCRIPTS: the long-vowel mark ー of コーヒー too) */
const CJK = `[${CJK_SCRIPTS}]`;
/** a letter of those scripts (not their punctuation): each is a word of its own, as BLEU's tokenizers count them */
const UNSPACED = `(?=[\\p{L}\\p{N}])${CJK}`;
/** a letter or digit of a spaced script */
const SPACED = `(?!${CJK})[\\p{L}\\p{N}]`;
// a run keeps its combining marks: Hindi's vowel signs and viramas, Thai's vowels and tones are
// inside words (without them 'नमस्ते' was three words and most Hindi replies 'repeated' a 3-gram);
// a kana keeps its voicing mark when written apart (NFD: か + U+3099 is が, not か)
const WORD = new RegExp(`${UNSPACED}\\p{M}*|(?:${SPACED}\\p{M}*)+`, 'gu');

/**
 * lower-case words: runs of letters and digits with their marks (one character each in Chinese and
 * Japanese), everything else separates; for 3-grams and distinct-2. The recall match reads words its
 * own way (match.ts): one character each in Thai there would make most Thai replies repeat a 3-gram,
 * so a Thai run without spaces is one word here.
 */
export function words(text: string): string[] {
  return text.toLowerCase().match(WORD) ?? [];
}

/** does some 3-word sequence occur twice in `text`? */
export function hasRepeated3gram(text: string): boolean {
  const w = words(text);
  const seen = new Set<string>();
  for (let i = 0; i + 3 <= w.length; i++) {
    const g = `${w[i]} ${w[i + 1]} ${w[i + 2]}`;
    if (seen.has(g)) return true;
    seen.add(g);
  }
  return false;
}

/**
 * What counts as admitting a fact was never given (checked on the lower-cased reply, curly
 * apostrophes made straight): "haven't/didn't/never told|said|mentioned|given|shared ...",
 * "don't know", "not sure", "no idea". English only (README "Evaluate"): not translated.
 */
export const ADMISSIONS: RegExp[] = [
  /\b(haven'?t|have not|hasn'?t|didn'?t|did not|never)\s+(told|tell|said|say|mentioned|mention|given|give|shared|share)\b/,
  /\b(don'?t|do not)\s+know\b/,
  /\bnot sure\b/,
  /\bno idea\b/,
];

export function admitsNotKnowing(reply: string): boolean {
  const r = reply.toLowerCase().replace(/[\u2018\u2019]/g, "'");
  return ADMISSIONS.some((re) => re.test(r));
}

/** the form replies are compared in for copying and identical replies: whitespace collapsed, case ignored */
export function sameReplyKey(text: string): string {
  return text.trim().replace(/\s+/g, ' ').toLowerCase();
}

/** the Bot replies of a training set, for `copying` */
export function trainingReplies(convs: Conversation[]): Set<string> {
  const out = new Set<string>();
  for (const c of convs) for (const t of c.turns) if (t.speaker === 'bot') out.add(sameReplyKey(t.text));
  return out;
}

/** distinct word pairs / all word pairs; null when there are none (0 would read as all alike) */
export function distinct2(replies: string[]): number | null {
  const pairs = new Set<string>();
  let total = 0;
  for (const r of replies) {
    const w = words(r);
    for (let i = 0; i + 2 <= w.length; i++, total++) pairs.add(`${w[i]} ${w[i + 1]}`);
  }
  return total ? pairs.size / total : null;
}

/**
 * Wilson's 95% score interval: the rates that `f` (count successes of `of` independent tries)
 * is consistent with. With 23 or 65 questions the interval is wide, and a checkpoint's rate
 * says less than its digits suggest.
 */
export function wilson95(f: Fraction): [number, number] {
  if (!f.of) return [0, 1];
  const z = 1.959964, n = f.of, p = f.count / n, zz = (z * z) / n;
  const mid = (p + zz / 2) / (1 + zz), half = (z * Math.sqrt((p * (1 - p)) / n + zz / (4 * n))) / (1 + zz);
  return [Math.max(0, mid - half), Math.min(1, mid + half)];
}

/** `training`: the training replies, or null without a training text (copying is then 0 of 0: not scored) */
export function score(replies: ScoredReply[], training: Set<string> | null): Scores {
  const frac = (pred: (r: ScoredReply) => boolean, among: (r: ScoredReply) => boolean = () => true): Fraction => {
    const pool = replies.filter(among);
    return { count: pool.filter(pred).length, of: pool.length };
  };
  const isRecall = (r: ScoredReply) => r.mark?.kind === 'recall';
  // replies equal to an earlier one of their conversation
  const duplicate = new Set<ScoredReply>();
  const seen = new Map<number, Set<string>>();
  for (const r of replies) {
    const s = seen.get(r.conversation) ?? new Set<string>();
    seen.set(r.conversation, s);
    const key = sameReplyKey(r.reply);
    if (s.has(key)) duplicate.add(r);
    s.add(key);
  }
  return {
    replies: replies.length,
    stopped: frac((r) => r.reason === 'eot'),
    repeated3gram: frac((r) => hasRepeated3gram(r.reply)),
    identical: frac((r) => duplicate.has(r)),
    recall: frac((r) => r.mark?.kind === 'recall' && containsValue(r.reply, r.mark.values), isRecall),
    recallOutOfContext: replies.filter((r) => isRecall(r) && r.droppedExchanges > 0).length,
    honesty: frac((r) => admitsNotKnowing(r.reply), (r) => r.mark?.kind === 'unknown'),
    denied: frac((r) => admitsNotKnowing(r.reply), isRecall),
    copying: frac((r) => training!.has(sameReplyKey(r.reply)) && sameReplyKey(r.reply) !== sameReplyKey(r.reference), () => training !== null),
    distinct2: distinct2(replies.map((r) => r.reply)),
  };
}
