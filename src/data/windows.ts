// Token windows for training, host-neutral: chat text (pasted in a page or read from a file by
// src/node/dataset.ts) parsed and packed into fixed windows with a loss mask, the train/val split, and batches.
import { UserError } from '../util/errors.ts';
import { count } from '../util/words.ts';
import { Rng } from '../util/rng.ts';
import { readChat, type ParseOptions, type ParsedChat } from './conversations.ts';
import { concatEncoded, encodeConversation, encodeExchanges, EVAL_MARK, type Conversation, type Encoded, type Speakers } from './format.ts';
import { EOT } from './tokenizer.ts';

export interface TokenDataset {
  tokens: Uint32Array;
  /** per token: 1 if the loss covers predicting it */
  mask: Uint8Array;
  blockSize: number;
  stats: DatasetStats;
}
export interface DatasetStats {
  conversations: number;
  /** tokens in the packed stream (windows * blockSize + 1), padding included */
  tokens: number;
  /** share of tokens the loss covers */
  maskedShare: number;
  windows: number;
  /** turns longer than a window, cut to fit */
  truncated: number;
  /** EOT pad tokens (mask 0) that fill the ends of windows */
  padding: number;
}
export interface PackOptions { blockSize: number; speakers: Speakers; mask: 'bot' | 'none' }
export interface ChatData { train: TokenDataset; val: TokenDataset; stats: DatasetStats; notes: string[] }

/** Chat text to conversations and notes (readChat); errors start with `where` (a path, "the pasted text"). */
export function parseChatText(text: string, sp: Speakers, where: string, opts: ParseOptions = {}): ParsedChat {
  if (text.trim() === '') throw new UserError(`${where} is empty (only whitespace)`);
  let parsed: ParsedChat;
  try {
    parsed = readChat(text, sp, opts);
  } catch (e) {
    throw new UserError(`${where}: ${(e as Error).message}`);
  }
  // a held-out file for eval.js (data/eval.txt) given as training or validation data: its marks would be learned or scored as reply text
  const marked = parsed.conversations.reduce((n, c) => n + c.turns.filter((t) => t.speaker === 'bot' && EVAL_MARK.test(t.text)).length, 0);
  if (marked) {
    parsed.notes.push(`${count(marked, `${sp.bot} turn`)} ${marked === 1 ? 'ends' : 'end'} with an eval.js mark ([recall: ...] or [unknown]), read as part of the reply: a marked file is eval.js's held-out set (data/eval.txt), not training or validation data`);
  }
  return parsed;
}

/** Train and validation sets from chat text: parsed (parseChatText), then split and packed (conversationData); `notes` are the parser's (readChat). */
export async function chatData(text: string, opts: PackOptions & ParseOptions & { valFraction?: number }, where: string, onProgress?: (done: number, of: number) => void): Promise<ChatData> {
  const parsed = parseChatText(text, opts.speakers, where, opts);
  return { ...(await conversationData(parsed.conversations, opts, onProgress)), notes: parsed.notes };
}

/**
 * Train and validation sets from conversations: hold out every k-th (splitConversations,
 * valFraction 0.1 by default) and pack each part. `stats` covers both parts.
 */
export async function conversationData(convs: Conversation[], opts: PackOptions & { valFraction?: number }, onProgress?: (done: number, of: number) => void): Promise<Omit<ChatData, 'notes'>> {
  const parts = splitConversations(convs, opts.valFraction ?? 0.1);
  const of = parts.train.length + parts.val.length;
  const train = await packConversationsAsync(parts.train, opts.speakers, opts.blockSize, opts.mask, (n) => onProgress?.(n, of));
  const val = await packConversationsAsync(parts.val, opts.speakers, opts.blockSize, opts.mask, (n) => onProgress?.(parts.train.length + n, of));
  return { train, val, stats: combineStats(train.stats, val.stats) };
}

/** the stats of two datasets taken together */
export function combineStats(a: DatasetStats, b: DatasetStats): DatasetStats {
  const tokens = a.tokens + b.tokens;
  return {
    conversations: a.conversations + b.conversations, tokens,
    maskedShare: tokens ? (a.maskedShare * a.tokens + b.maskedShare * b.tokens) / tokens : 0,
    windows: a.windows + b.windows, truncated: a.truncated + b.truncated, padding: a.padding + b.padding,
  };
}

/**
 * pack whole conversations greedily into windows of exactly blockSize tokens, as nanoGPT's
 * token stream: window i is tokens [i*T, i*T+T) and its targets are shifted by one, so the
 * last target of a window is the first token of the next (a `Human` tag: mask 0), and one
 * EOT (mask 0) after the last window gives it its shifted target; a conversation that does not fit
 * in the current window starts the next one (pad the rest with EOT, mask 0); a conversation
 * longer than a window is split at exchange boundaries (a human turn with its answer), an
 * exchange longer than a window is cut or split as splitUnits says, and every cut turn is
 * counted in stats.truncated. The result is the concatenation of the windows.
 */
export function packConversations(convs: Conversation[], sp: Speakers, blockSize: number, maskMode: 'bot' | 'none'): TokenDataset {
  const p = new Packer(sp, blockSize, maskMode);
  for (const c of convs) p.add(c);
  return p.finish();
}

/**
 * packConversations, yielding to the event loop every ~50 ms (a signal or a page stays
 * responsive while a large file is tokenized) and telling `onProgress` how far it got.
 */
export async function packConversationsAsync(convs: Conversation[], sp: Speakers, blockSize: number, maskMode: 'bot' | 'none', onProgress?: (done: number) => void): Promise<TokenDataset> {
  const p = new Packer(sp, blockSize, maskMode);
  let last = performance.now();
  for (let i = 0; i < convs.length; i++) {
    p.add(convs[i]);
    if (performance.now() - last > 50) {
      onProgress?.(i + 1);
      await new Promise((r) => setTimeout(r, 0));
      last = performance.now();
    }
  }
  return p.finish();
}

/** The token stream packConversations builds, in typed arrays that grow (a plain array stops at ~134M elements). */
class Packer {
  private tokens = new Uint32Array(1 << 16);
  private mask = new Uint8Array(1 << 16);
  private n = 0;
  private fill = 0;
  private truncated = 0;
  private padding = 0;
  private conversations = 0;
  constructor(private sp: Speakers, private W: number, private maskMode: 'bot' | 'none') {
    if (!(Number.isInteger(W) && W >= 1)) throw new Error(`blockSize must be a positive integer, got ${W}`);
  }

  private push(token: number, m: number): void {
    if (this.n === this.tokens.length) {
      const tokens = new Uint32Array(2 * this.n), mask = new Uint8Array(2 * this.n);
      tokens.set(this.tokens);
      mask.set(this.mask);
      [this.tokens, this.mask] = [tokens, mask];
    }
    this.tokens[this.n] = token;
    this.mask[this.n++] = m;
  }

  private append(e: Encoded): void {
    for (let i = 0; i < e.tokens.length; i++) this.push(e.tokens[i], e.mask[i]);
    this.fill = (this.fill + e.tokens.length) % this.W;
  }

  private closeWindow(): void {
    if (this.fill === 0) return;
    for (; this.fill < this.W; this.fill++, this.padding++) this.push(EOT, 0);
    this.fill = 0;
  }

  add(c: Conversation): void {
    if (c.turns.length === 0) return;
    this.conversations++;
    const W = this.W, enc = encodeConversation(c, this.sp, this.maskMode);
    if (enc.tokens.length > W - this.fill) this.closeWindow();
    if (enc.tokens.length <= W) return this.append(enc);
    for (const unit of splitUnits(encodeExchanges(c, this.sp, this.maskMode), W, c.turns[0].speaker === 'bot', () => this.truncated++)) {
      if (unit.tokens.length > W - this.fill) this.closeWindow();
      this.append(unit);
    }
  }

  finish(): TokenDataset {
    this.closeWindow();
    this.push(EOT, 0);
    return makeDataset(this.tokens.slice(0, this.n), this.mask.slice(0, this.n), this.W, this.conversations, this.truncated, this.padding);
  }
}

/**
 * Exchanges that fit a window whole; else, where the answers fit with at least a quarter
 * window of question, the exchange with its human turn cut from the start (as chat.js cuts a
 * long message: the `Bot:` cue and the end of the question stay in front of the answer);
 * else its turns one by one, a turn longer than the window cut to W tokens (a human turn
 * keeps its last ones, a bot turn its first). `leadingBot`: the first exchange is a bot turn alone.
 */
function splitUnits(exchanges: Encoded[][], W: number, leadingBot: boolean, onCut: () => void): Encoded[] {
  const units: Encoded[] = [];
  const join = (ts: Encoded[]) => ts.reduce((a, t) => concatEncoded(a, t), { tokens: [], mask: [] } as Encoded);
  const last = (t: Encoded, n: number): Encoded => ({ tokens: t.tokens.slice(-n), mask: t.mask.slice(-n) });
  exchanges.forEach((turns, g) => {
    const whole = join(turns);
    if (whole.tokens.length <= W) return void units.push(whole);
    const human = !(g === 0 && leadingBot);
    const room = W - (whole.tokens.length - turns[0].tokens.length); // for the human turn beside its answers
    if (human && room >= W / 4) {
      onCut();
      return void units.push(join([last(turns[0], room), ...turns.slice(1)]));
    }
    turns.forEach((t, i) => {
      if (t.tokens.length <= W) return void units.push(t);
      onCut();
      units.push(human && i === 0 ? last(t, W) : { tokens: t.tokens.slice(0, W), mask: t.mask.slice(0, W) });
    });
  });
  return units;
}

/** a dataset over `tokens` with its stats (windows of blockSize, the share the loss covers) */
export function makeDataset(tokens: Uint32Array, mask: Uint8Array, blockSize: number, conversations: number, truncated: number, padding: number): TokenDataset {
  let covered = 0;
  for (let i = 0; i < mask.length; i++) covered += mask[i];
  const stats: DatasetStats = {
    conversations, tokens: tokens.length, maskedShare: tokens.length ? covered / tokens.length : 0,
    windows: tokens.length > blockSize ? Math.floor((tokens.length - 1) / blockSize) : 0, truncated, padding,
  };
  return { tokens, mask, blockSize, stats };
}

/**
 * hold out conversations for validation: every k-th conversation (deterministic), at least
 * 1 when there are >= 2. Generalised to any fraction: conversation i is held out when
 * floor((i+1)*f) > floor(i*f), i.e. every 10th (i = 9, 19, ...) for f = 0.1. f = 0 holds out none.
 */
export function splitConversations(convs: Conversation[], valFraction: number): { train: Conversation[]; val: Conversation[] } {
  if (!(valFraction >= 0 && valFraction < 1)) throw new Error(`valFraction must be in [0, 1), got ${valFraction}`);
  const train: Conversation[] = [], val: Conversation[] = [];
  convs.forEach((c, i) => (Math.floor((i + 1) * valFraction) > Math.floor(i * valFraction) ? val : train).push(c));
  if (valFraction > 0 && val.length === 0 && convs.length >= 2) val.push(train.pop()!);
  return { train, val };
}

/**
 * Batches: window i covers tokens [i*T, i*T+T) of the packed stream (inputs x), and the
 * targets y are tokens [i*T+1, i*T+T+1), where a target whose mask is 0 becomes -1 (ignored
 * by the loss). order 'sequential': step s, row b uses window (s*B + b) mod the number of windows.
 * order 'random': a seeded permutation per epoch (seed + epoch), row b of step s takes
 * element (s*B+b) of the epoch order sequence (element e: epoch floor(e/n), position e mod n).
 */
export function getBatch(ds: TokenDataset, step: number, B: number, order: 'sequential' | 'random', seed: number): { x: Uint32Array; y: Int32Array } {
  return getRows(ds, step * B, B, order, seed);
}

/** getBatch's B rows from element `first` of the order on (a run whose batch shape changed on --resume goes on where it was) */
export function getRows(ds: TokenDataset, first: number, B: number, order: 'sequential' | 'random', seed: number): { x: Uint32Array; y: Int32Array } {
  const T = ds.blockSize;
  const n = ds.stats.windows;
  if (n === 0) throw new Error('getBatch: the dataset has no windows');
  const x = new Uint32Array(B * T), y = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const e = first + b;
    const w = order === 'sequential' ? e % n : permutation(n, seed + Math.floor(e / n))[e % n];
    const base = w * T;
    for (let t = 0; t < T; t++) {
      x[b * T + t] = ds.tokens[base + t];
      y[b * T + t] = ds.mask[base + t + 1] ? ds.tokens[base + t + 1] : -1;
    }
  }
  return { x, y };
}

// the last two permutations (a batch may straddle an epoch boundary)
const perms: { key: string; perm: Uint32Array }[] = [];

/** Fisher-Yates shuffle of 0..n-1 driven by Rng(seed). */
export function permutation(n: number, seed: number): Uint32Array {
  const key = `${n}:${seed}`;
  const hit = perms.find((p) => p.key === key);
  if (hit) return hit.perm;
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const rng = new Rng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  perms.push({ key, perm });
  if (perms.length > 2) perms.shift();
  return perm;
}

export function formatStats(s: DatasetStats): string {
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  const src = s.conversations ? `${count(s.conversations, 'conversation')} -> ` : '';
  const pad = s.tokens ? `, padding ${pct(s.padding / s.tokens)}` : '';
  const cut = s.truncated ? `, ${count(s.truncated, 'over-long turn')} cut` : '';
  return `${src}${s.tokens} tokens in ${count(s.windows, 'window')}, loss on ${pct(s.maskedShare)}${pad}${cut}`;
}
