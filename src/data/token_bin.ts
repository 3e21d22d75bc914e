// nanoGPT/llm.c .bin token files from their bytes, host-neutral: uint16 token ids as training
// windows, and one file's split into train and validation windows. src/node/dataset.ts reads the files.
import { UserError } from '../util/errors.ts';
import { combineStats, makeDataset, type ChatData, type TokenDataset } from './windows.ts';

const LLMC_MAGIC = 20240520; // llm.c token files: 256 int32 header (magic, version, count), then uint16

/** whether a data path names a token file rather than chat text: it ends in .bin, in any case (TRAIN.BIN from a case-insensitive file system too) */
export function isTokenFile(path: string): boolean {
  return path.toLowerCase().endsWith('.bin');
}

/**
 * nanoGPT-style .bin of uint16 token ids (llm.c's 1024-byte header is recognised and
 * skipped; an odd byte count or fewer tokens than the header says are refused): mask all 1, no packing; window i is tokens [i*T, i*T+T) with targets shifted by
 * one, and the tokens after the last whole window (and its one target) are dropped.
 */
export function tokenBinDataset(buf: Uint8Array, blockSize: number, where: string): TokenDataset {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const start = buf.length >= 1024 && view.getInt32(0, true) === LLMC_MAGIC ? 1024 : 0;
  // a half token at the end means a cut-off copy or not a token file at all
  if ((buf.length - start) % 2) {
    throw new UserError(`${where}: ${buf.length - start} bytes of token data, an odd number: a .bin holds uint16 token ids (2 bytes each); the file is truncated or not a token file`);
  }
  let count = (buf.length - start) / 2;
  if (start) {
    const header = view.getInt32(8, true);
    if (header > count) throw new UserError(`${where}: the llm.c header says ${header} tokens but the file holds ${count} (truncated?)`);
    count = header;
  }
  const windows = Math.floor((count - 1) / blockSize);
  if (!(windows > 0)) throw new UserError(`${where}: ${count} tokens, fewer than one window of --block-size + 1 = ${blockSize + 1}: pass a longer file or a smaller --block-size`);
  const tokens = new Uint32Array(windows * blockSize + 1);
  for (let i = 0; i < tokens.length; i++) tokens[i] = view.getUint16(start + 2 * i, true);
  return makeDataset(tokens, new Uint8Array(tokens.length).fill(1), blockSize, 0, 0, 0);
}

/**
 * A .bin's train and validation sets: the last valFraction of its windows (default 0.1; at least one
 * when there are two or more) validate. `stats` covers both parts.
 */
export function splitTokenWindows(all: TokenDataset, blockSize: number, valFraction?: number): ChatData {
  const n = all.stats.windows, T = blockSize, f = valFraction ?? 0.1;
  const nVal = n >= 2 && f > 0 ? Math.max(1, Math.floor(n * f)) : 0;
  const cut = (n - nVal) * T;
  // train keeps one token past its last window: that window's last target. Views, not copies
  // (nothing writes to a dataset): with --val-data, train is the whole file
  const train = makeDataset(all.tokens.subarray(0, cut + 1), all.mask.subarray(0, cut + 1), blockSize, 0, 0, 0);
  const val = makeDataset(all.tokens.subarray(cut), all.mask.subarray(cut), blockSize, 0, 0, 0);
  return { train, val, stats: combineStats(train.stats, val.stats), notes: [] };
}
