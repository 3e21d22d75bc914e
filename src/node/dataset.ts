// Training data from files: chat text (packed into token windows, src/data/windows.ts) and
// nanoGPT/llm.c .bin token files (their bytes read by src/data/token_bin.ts), split into train
// and validation sets (or validation from a file of its own).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { fsReason } from './fs_errors.ts';
import { shellWord } from '../util/words.ts';
import type { ParseOptions } from '../data/conversations.ts';
import { DEFAULT_SPEAKERS, tagPair, type Speakers } from '../data/format.ts';
import { combineStats, conversationData, packConversationsAsync, parseChatText, type ChatData, type PackOptions, type TokenDataset } from '../data/windows.ts';
import { dataFiles } from '../train/run.ts';
import { isTokenFile, splitTokenWindows, tokenBinDataset } from '../data/token_bin.ts';

export type LoadOptions = PackOptions & ParseOptions;

/** a nanoGPT/llm.c .bin token file as training windows (tokenBinDataset, which reads its bytes); errors name it `where` */
export function loadTokenBin(path: string, blockSize: number, where = path): TokenDataset {
  return tokenBinDataset(readFileSync(path), blockSize, where);
}

/**
 * Train and validation sets from --data: one file, or several chat text files read as if
 * joined (each file's conversations, in order). With `valData` (--val-data): all of the data
 * trains and the validation set is that file, read as the data is (loadValData). Else chat
 * text is parsed, every k-th conversation held out (splitConversations) and each part
 * packed; a .bin gives the last valFraction of its windows (at least one when there are two
 * or more). `stats` covers both parts.
 */
export async function loadChatData(data: string | string[], opts: LoadOptions & { valFraction?: number; valData?: string }, onProgress?: (done: number, of: number) => void): Promise<ChatData> {
  const files = dataFiles(data);
  if (opts.valData !== undefined) {
    const { train, notes } = await loadChatData(files, { ...opts, valData: undefined, valFraction: 0 }, onProgress);
    const val = await loadValData(opts.valData, opts);
    return { train, val: val.data, stats: combineStats(train.stats, val.data.stats), notes: [...notes, ...val.notes.map((n) => `--val-data ${opts.valData}: ${n}`)] };
  }
  if (files.length === 1 && isTokenFile(files[0])) {
    checkDataFile(files[0], { speakers: opts.speakers });
    return splitTokenWindows(loadTokenBin(files[0], opts.blockSize), opts.blockSize, opts.valFraction);
  }
  // each file parsed on its own, so errors and notes name it (with its own line numbers)
  const parsed = files.map((f) => parseChatText(readChatText(f, { speakers: opts.speakers }), opts.speakers, f, opts));
  const notes = parsed.flatMap((p, i) => (files.length > 1 ? p.notes.map((n) => `${files[i]}: ${n}`) : p.notes));
  return { ...(await conversationData(parsed.flatMap((p) => p.conversations), opts, onProgress)), notes };
}

/** a validation file (--val-data), whole: chat text packed as training data is, or a .bin; its errors name the flag */
export async function loadValData(path: string, opts: LoadOptions): Promise<{ data: TokenDataset; notes: string[] }> {
  const where = `--val-data ${path}`;
  if (isTokenFile(path)) {
    checkDataFile(path, { what: VAL_FILE, speakers: opts.speakers });
    return { data: loadTokenBin(path, opts.blockSize, where), notes: [] };
  }
  // its tags must be --data's: --human/--bot would retag that too, so errors and notes say to rewrite the file
  const parsed = parseChatText(readChatText(path, { what: VAL_FILE, speakers: opts.speakers }), opts.speakers, where, { ...opts, speakerFlags: false });
  return { data: await packConversationsAsync(parsed.conversations, opts.speakers, opts.blockSize, opts.mask), notes: parsed.notes };
}

/** what checkDataFile and readChatText call a --val-data file (a --data file is the 'dataset file') */
export const VAL_FILE = '--val-data file';
const DATA_FILE = 'dataset file';

/** how checkDataFile and readChatText name a file in errors (`what`: 'dataset file' unless given) and the tags the advice in them shows (`speakers`: Human/Bot unless given) */
export interface DataFileOptions {
  what?: string;
  speakers?: Speakers;
}

/** a dataset path that exists, is a file and is not empty (else a UserError, starting with `what`, saying what to pass: text in the run's `speakers` tags) */
export function checkDataFile(path: string, { what = DATA_FILE, speakers = DEFAULT_SPEAKERS }: DataFileOptions = {}): void {
  if (!existsSync(path)) {
    throw new UserError(
      `${what} not found: ${path} (pass a chat text file with lines starting ${tagPair(speakers)}, ` +
        `e.g. data/chat.txt, or a .bin file of uint16 GPT-2 token ids)`,
    );
  }
  const st = statSync(path);
  if (st.isDirectory()) {
    // nanoGPT's data/NAME/ folder, where its prepare.py wrote train.bin and val.bin: name the files
    const bin = (f: string) => (existsSync(join(path, f)) ? shellWord(join(path, f)) : null);
    const [train, val] = [bin('train.bin'), bin('val.bin')];
    const how = train || val
      ? `pass one file (nanoGPT's layout: ${[train && `--data ${train}`, val && `--val-data ${val}`].filter(Boolean).join(' ')})`
      // train.js's --data takes several files; the others take one
      : what === DATA_FILE ? 'pass its chat files, each with its own --data (--data FILE1 --data FILE2)'
        : "pass one file (join the folder's chat files into one, a blank line between them)";
    throw new UserError(`${what} ${path} is a folder: ${how}`);
  }
  if (!st.isFile()) throw new UserError(`${what} is not a file: ${path}`);
  if (st.size === 0) throw new UserError(`${what} is empty: ${path}`);
}

/** text files are read whole into one string, which V8 caps at 2^29 - 24 characters */
const MAX_TEXT_BYTES = 512 * 1024 * 1024 - 64;

/**
 * A chat text file, read whole: it must exist and not be empty (checkDataFile), be at most
 * 512 MiB and hold more than whitespace. Errors name it `what` ('dataset file', VAL_FILE,
 * '--data file'); `missing` replaces the missing-file error and `tooBig` what to do with a file
 * too big, where the caller is not train.js (eval.js).
 */
export function readChatText(path: string, opts: DataFileOptions & { missing?: string; tooBig?: string } = {}): string {
  const { what = DATA_FILE, missing, tooBig: tooBigAdvice } = opts;
  if (missing !== undefined && !existsSync(path)) throw new UserError(missing);
  checkDataFile(path, opts);
  const size = statSync(path).size;
  if (size > MAX_TEXT_BYTES) {
    const tooBig = tooBigAdvice ?? 'split it and train on one part, then --resume --data on the next';
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
