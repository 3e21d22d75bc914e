// Training data from files: chat text (packed into token windows, src/data/windows.ts) and
// nanoGPT/llm.c .bin token files, split into train and validation sets (or validation from a file of its own).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { UserError } from '../util/errors.ts';
import { fsReason } from './fs-errors.ts';
import type { ParseOptions } from '../data/conversations.ts';
import { chatData, combineStats, makeDataset, packConversationsAsync, parseChatText, type ChatData, type PackOptions, type TokenDataset } from '../data/windows.ts';

export type LoadOptions = PackOptions & ParseOptions;

const LLMC_MAGIC = 20240520; // llm.c token files: 256 int32 header (magic, version, count), then uint16

/**
 * nanoGPT-style .bin of uint16 token ids (llm.c's 1024-byte header is recognised and
 * skipped; an odd byte count or fewer tokens than the header says are refused): mask all 1, no packing; window i is tokens [i*T, i*T+T) with targets shifted by
 * one, and the tokens after the last whole window (and its one target) are dropped.
 */
export function loadTokenBin(path: string, blockSize: number, where = path): TokenDataset {
  const buf = readFileSync(path);
  const start = buf.length >= 1024 && buf.readInt32LE(0) === LLMC_MAGIC ? 1024 : 0;
  // a half token at the end means a cut-off copy or not a token file at all
  if ((buf.length - start) % 2) {
    throw new UserError(`${where}: ${buf.length - start} bytes of token data, an odd number: a .bin holds uint16 token ids (2 bytes each); the file is truncated or not a token file`);
  }
  let count = (buf.length - start) / 2;
  if (start) {
    const header = buf.readInt32LE(8);
    if (header > count) throw new UserError(`${where}: the llm.c header says ${header} tokens but the file holds ${count} (truncated?)`);
    count = header;
  }
  const windows = Math.floor((count - 1) / blockSize);
  if (!(windows > 0)) throw new UserError(`${where}: ${count} tokens, fewer than one window of --block-size + 1 = ${blockSize + 1}: pass a longer file or a smaller --block-size`);
  const tokens = new Uint32Array(windows * blockSize + 1);
  for (let i = 0; i < tokens.length; i++) tokens[i] = buf.readUInt16LE(start + 2 * i);
  return makeDataset(tokens, new Uint8Array(tokens.length).fill(1), blockSize, 0, 0, 0);
}

/**
 * Train and validation sets. With `valData` (--val-data): all of `path` trains and the
 * validation set is that file, read as `path` is (loadValData). Else from one file: chat
 * text is parsed, every k-th conversation held out (splitConversations) and each part
 * packed; a .bin gives the last valFraction of its windows (at least one when there are two
 * or more). `stats` covers both parts.
 */
export async function loadChatData(path: string, opts: LoadOptions & { valFraction?: number; valData?: string }, onProgress?: (done: number, of: number) => void): Promise<ChatData> {
  if (opts.valData !== undefined) {
    const { train, notes } = await loadChatData(path, { ...opts, valData: undefined, valFraction: 0 }, onProgress);
    const val = await loadValData(opts.valData, opts);
    return { train, val: val.data, stats: combineStats(train.stats, val.data.stats), notes: [...notes, ...val.notes.map((n) => `--val-data ${opts.valData}: ${n}`)] };
  }
  if (!path.endsWith('.bin')) return chatData(readChatText(path), opts, path, onProgress);
  checkDataFile(path);
  const all = loadTokenBin(path, opts.blockSize);
  const n = all.stats.windows, T = opts.blockSize, f = opts.valFraction ?? 0.1;
  const nVal = n >= 2 && f > 0 ? Math.max(1, Math.floor(n * f)) : 0;
  const cut = (n - nVal) * T;
  // train keeps one token past its last window: that window's last target. Views, not copies
  // (nothing writes to a dataset): with --val-data, train is the whole file
  const train = makeDataset(all.tokens.subarray(0, cut + 1), all.mask.subarray(0, cut + 1), opts.blockSize, 0, 0, 0);
  const val = makeDataset(all.tokens.subarray(cut), all.mask.subarray(cut), opts.blockSize, 0, 0, 0);
  return { train, val, stats: combineStats(train.stats, val.stats), notes: [] };
}

/** a validation file (--val-data), whole: chat text packed as training data is, or a .bin; its errors name the flag */
export async function loadValData(path: string, opts: LoadOptions): Promise<{ data: TokenDataset; notes: string[] }> {
  const where = `--val-data ${path}`;
  if (path.endsWith('.bin')) {
    checkDataFile(path, VAL_FILE);
    return { data: loadTokenBin(path, opts.blockSize, where), notes: [] };
  }
  const parsed = parseChatText(readChatText(path, VAL_FILE), opts.speakers, where, opts);
  return { data: await packConversationsAsync(parsed.conversations, opts.speakers, opts.blockSize, opts.mask), notes: parsed.notes };
}

/** what checkDataFile and readChatText call a --val-data file (a --data file is the 'dataset file') */
export const VAL_FILE = '--val-data file';

/** a dataset path that exists, is a file and is not empty (else a UserError, starting with `what`, saying what to pass) */
export function checkDataFile(path: string, what = 'dataset file'): void {
  if (!existsSync(path)) {
    throw new UserError(
      `${what} not found: ${path} (pass a chat text file with lines starting "Human:"/"Bot:", ` +
        `e.g. data/chat.txt, or a .bin file of uint16 GPT-2 token ids)`,
    );
  }
  const st = statSync(path);
  if (!st.isFile()) throw new UserError(`${what} is not a file: ${path}`);
  if (st.size === 0) throw new UserError(`${what} is empty: ${path}`);
}

/** text files are read whole into one string, which V8 caps at 2^29 - 24 characters */
const MAX_TEXT_BYTES = 512 * 1024 * 1024 - 64;

/**
 * A chat text file, read whole: it must exist and not be empty (checkDataFile), be at most
 * 512 MiB and hold more than whitespace. Errors name it `what` ('dataset file', VAL_FILE,
 * '--data file'); `advice` replaces the missing-file error and what to do with a file too big,
 * where the caller is not train.js (eval.js).
 */
export function readChatText(path: string, what = 'dataset file', advice: { missing?: string; tooBig?: string } = {}): string {
  if (advice.missing !== undefined && !existsSync(path)) throw new UserError(advice.missing);
  checkDataFile(path, what);
  const size = statSync(path).size;
  if (size > MAX_TEXT_BYTES) {
    const tooBig = advice.tooBig ?? 'split it and train on one part, then --resume --data on the next';
    throw new UserError(`${what} ${path} is ${(size / 2 ** 20).toFixed(0)} MiB: a chat text file can be at most 512 MiB (it is read whole); ${tooBig}`);
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UserError(`cannot read the ${what} ${path}: ${fsReason(e)}`);
  }
  if (text.trim() === '') throw new UserError(`${what} is empty (only whitespace): ${path}`);
  return text;
}
