// Hugging Face safetensors: 8-byte little-endian header length N, N bytes of JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {key: value}}, then the raw
// little-endian tensor bytes (offsets count from the end of the header).
// Host-neutral: bytes in, bytes out. The bytes come from a ByteSource: a file read lazily in
// Node (src/node/safetensors.ts: each tensor is read from disk straight into its own array, so
// a 500 MB file is never held twice and files over 2 GiB work), or an ArrayBuffer a page
// fetched. Assumes a little-endian host.
import { UserError } from '../util/errors.ts';
import { fromF16 } from '../util/f16.ts';

export type Dtype = 'F32' | 'F16' | 'BF16';

/** Where a safetensors file's bytes are. */
export interface ByteSource {
  /** total bytes */
  readonly size: number;
  /** fill `into` with the bytes at `position`; throws when there are not that many */
  read(position: number, into: Uint8Array): void;
  /** the bytes at `position` without a copy, when they are in memory already */
  view?(position: number, length: number): Uint8Array;
  /** let go of the file (a no-op in memory) */
  close?(): void;
}

/** An in-memory file (a fetched ArrayBuffer, a dropped file) as a ByteSource. */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read: (position, into) => into.set(bytes.subarray(position, position + into.length)),
    view: (position, length) => bytes.subarray(position, position + length),
  };
}

export interface StInfo {
  name: string;
  /** as written in the file: 'F32', 'F16', 'BF16', 'I64', ... */
  dtype: string;
  shape: number[];
  /** bytes of data in the file */
  byteLength: number;
}

export interface SafetensorsFile {
  /** the file's name in messages (a path, a URL) */
  path: string;
  /** tensor names in data (file offset) order */
  names: string[];
  /** the header's __metadata__ ({} when absent) */
  metadata: Record<string, string>;
  has(name: string): boolean;
  /** the file that holds tensor `name`, for messages about it: `path`, or for a sharded save (joinShards) its shard */
  fileOf(name: string): string;
  /** dtype, shape and size; throws for a name not in the file */
  info(name: string): StInfo;
  /** one tensor as a Float32Array (F32, F16, BF16 and F64; other dtypes throw); an aligned F32 tensor of an in-memory file is a view of its bytes */
  get(name: string): Float32Array;
  /** let go of the file: no more get() */
  close(): void;
}

const DTYPE_BYTES: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
  F8_E4M3: 1, F8_E5M2: 1,
};
// the reference implementation refuses larger headers too
const MAX_HEADER_BYTES = 100_000_000;

interface Entry extends StInfo {
  /** absolute byte offset of the data in the file */
  start: number;
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
/** a tensor shape as error messages write it: [768, 2304] */
export const fmtShape = (s: number[]) => `[${s.join(', ')}]`;

/**
 * Parses a safetensors file's header and checks it as Hugging Face's reader does: lengths,
 * JSON, every tensor's data_offsets match shape x dtype size, and the tensors' data lie end to
 * end (no gap, no overlap) from the end of the header to the end of the file. Tensors are then
 * read from `src` by `get`. Every error is a UserError naming `path` (and the tensor, where one
 * is at fault).
 */
export function parseSafetensors(src: ByteSource, path: string): SafetensorsFile {
  const fail = (what: string): never => {
    throw new UserError(`${path}: ${what}`);
  };
  const fileBytes = src.size;
  if (fileBytes < 8) fail(`not a safetensors file: ${fileBytes} bytes, shorter than the 8-byte header length`);
  const lenBuf = new Uint8Array(8);
  src.read(0, lenBuf);
  const n = new DataView(lenBuf.buffer).getBigUint64(0, true);
  if (n > BigInt(fileBytes - 8)) fail(`header length ${n} goes beyond the end of the ${fileBytes}-byte file: it is truncated or not a safetensors file`);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n} is over the ${MAX_HEADER_BYTES}-byte limit`);
  const headerBytes = Number(n);
  const text = new Uint8Array(headerBytes);
  src.read(8, text);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(text));
  } catch (e) {
    fail(`bad JSON header (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('the JSON header is not an object');

  const dataStart = 8 + headerBytes, dataBytes = fileBytes - dataStart;
  const entries = new Map<string, Entry>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('__metadata__ is not an object');
      metadata = v as Record<string, string>;
      continue;
    }
    const t = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    const bad = (what: string) => fail(`tensor '${name}': ${what}`);
    if (typeof t !== 'object' || t === null) bad('header entry is not an object');
    if (typeof t!.dtype !== 'string') bad('no dtype');
    if (!Array.isArray(t!.shape) || !t!.shape.every(isCount)) bad(`bad shape ${JSON.stringify(t!.shape)}`);
    const off = t!.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !isCount(off[0]) || !isCount(off[1]) || off[0] > off[1]) {
      bad(`bad data_offsets ${JSON.stringify(off)}`);
    }
    const [begin, end] = off as [number, number];
    const dtype = t!.dtype as string, shape = t!.shape as number[];
    const size = DTYPE_BYTES[dtype];
    const want = shape.reduce((a, b) => a * b, 1) * (size ?? 0);
    if (size !== undefined && end - begin !== want) {
      bad(`data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtype} ${fmtShape(shape)} needs ${want}`);
    }
    entries.set(name, { name, dtype, shape, byteLength: end - begin, start: dataStart + begin });
  }
  const names = [...entries.keys()].sort((a, b) => entries.get(a)!.start - entries.get(b)!.start || entries.get(a)!.byteLength - entries.get(b)!.byteLength);
  checkLayout(names.map((name) => entries.get(name)!), dataStart, dataBytes, fail);

  const entry = (name: string): Entry => entries.get(name) ?? fail(`no tensor '${name}'`);
  return {
    path,
    names,
    metadata,
    close: () => src.close?.(),
    has: (name) => entries.has(name),
    fileOf: () => path,
    info: (name) => {
      const { start: _, ...info } = entry(name);
      return info;
    },
    get: (name) => {
      const e = entry(name);
      const n = e.shape.reduce((a, b) => a * b, 1);
      if (e.dtype === 'F32') {
        const v = src.view?.(e.start, e.byteLength);
        if (v && v.byteOffset % 4 === 0) return new Float32Array(v.buffer, v.byteOffset, n);
        const out = new Float32Array(n);
        src.read(e.start, new Uint8Array(out.buffer));
        return out;
      }
      if (e.dtype === 'F16' || e.dtype === 'BF16') {
        const raw = new Uint16Array(n);
        src.read(e.start, new Uint8Array(raw.buffer));
        return e.dtype === 'F16' ? fromF16(raw) : bf16ToF32(raw);
      }
      if (e.dtype === 'F64') {
        const raw = new Float64Array(n);
        src.read(e.start, new Uint8Array(raw.buffer));
        return Float32Array.from(raw);
      }
      return fail(`tensor '${name}' has dtype ${e.dtype}; only F32, F16, BF16 and F64 can be read as floats`);
    },
  };
}

/** a model's weights in one file, as save_pretrained writes them up to max_shard_size */
export const WEIGHTS = 'model.safetensors';
/** the index a sharded save_pretrained writes beside its shards */
export const SHARD_INDEX = 'model.safetensors.index.json';

/**
 * model.safetensors.index.json's text, parsed: its weight_map, the shard files it names, sorted
 * (model-00001-of-00003.safetensors first), and metadata.total_size where it is a count. transformers' save_pretrained writes that index beside the
 * shards of a model bigger than max_shard_size: {"metadata": {"total_size": N}, "weight_map": {tensor name: shard file name}}.
 */
export function parseShardIndex(indexText: string, indexPath: string): { weightMap: Record<string, string>; files: string[]; totalSize: number | null } {
  const fail = (what: string): never => {
    throw new UserError(`${indexPath}: ${what}`);
  };
  let index: unknown;
  try {
    index = JSON.parse(indexText);
  } catch (e) {
    fail(`bad JSON (${(e as Error).message})`);
  }
  const map = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map) || !Object.values(map).every((v) => typeof v === 'string' && v !== '')) {
    fail('no "weight_map" of tensor names to shard file names, as transformers writes it');
  }
  const weightMap = map as Record<string, string>;
  const files = [...new Set(Object.values(weightMap))].sort();
  if (!files.length) fail('its "weight_map" names no tensors');
  // the tensors' bytes in all the shards (their headers not counted); only a guide, for a progress bar
  const total = (index as { metadata?: { total_size?: unknown } }).metadata?.total_size;
  return { weightMap, files, totalSize: isCount(total) ? total : null };
}

/**
 * A sharded checkpoint's files as one SafetensorsFile, checked against model.safetensors.index.json
 * (`indexText`, read from `indexPath`): every shard it names is opened with `open`, a tensor may
 * be in one shard only, and each tensor the index names must be in the shard it names. Errors are
 * UserErrors naming the index (or the shard, from `open`).
 */
export function joinShards(indexText: string, indexPath: string, open: (file: string) => SafetensorsFile): SafetensorsFile {
  const fail = (what: string): never => {
    throw new UserError(`${indexPath}: ${what}`);
  };
  const { weightMap, files } = parseShardIndex(indexText, indexPath);
  const shards: SafetensorsFile[] = [];
  const where = new Map<string, number>(); // tensor name -> index into shards/files
  try {
    for (const file of files) {
      const f = open(file);
      shards.push(f);
      for (const name of f.names) {
        if (where.has(name)) fail(`tensor '${name}' is in two shards, ${files[where.get(name)!]} and ${file}`);
        where.set(name, shards.length - 1);
      }
    }
    for (const [name, file] of Object.entries(weightMap)) {
      if (files[where.get(name) ?? -1] !== file) fail(`maps tensor '${name}' to ${file}, which does not hold it (a shard of another save?)`);
    }
  } catch (e) {
    for (const f of shards) f.close();
    throw e;
  }
  const shardOf = (name: string): SafetensorsFile => shards[where.get(name) ?? fail(`no tensor '${name}'`)];
  return {
    path: indexPath,
    names: shards.flatMap((f) => f.names),
    metadata: Object.assign({}, ...shards.map((f) => f.metadata)),
    has: (name) => where.has(name),
    fileOf: (name) => (where.has(name) ? shardOf(name).path : indexPath),
    info: (name) => shardOf(name).info(name),
    get: (name) => shardOf(name).get(name),
    close: () => shards.forEach((f) => f.close()),
  };
}

/**
 * The tensors (in offset order) must tile the data area exactly, as the reference reader demands:
 * a gap or an overlap means a damaged header (two tensors sharing bytes would load silently as
 * each other's data); data missing at the end is the usual cut-short download or copy; bytes
 * after the last tensor mean a damaged file, or one a safetensors writer did not write.
 */
function checkLayout(sorted: Entry[], dataStart: number, dataBytes: number, fail: (what: string) => never): void {
  const off = (e: Entry) => `[${e.start - dataStart}, ${e.start - dataStart + e.byteLength}]`;
  let covered = 0, prev: Entry | null = null;
  for (const e of sorted) {
    const begin = e.start - dataStart;
    if (begin < covered) fail(`damaged header: tensors '${prev!.name}' ${off(prev!)} and '${e.name}' ${off(e)} have overlapping data_offsets`);
    if (begin > covered) fail(`damaged header: data bytes [${covered}, ${begin}] before tensor '${e.name}' belong to no tensor (data_offsets must lie end to end)`);
    covered = begin + e.byteLength;
    prev = e;
  }
  if (covered > dataBytes) {
    const cut = sorted.find((e) => e.start - dataStart + e.byteLength > dataBytes)!;
    fail(`the file is truncated (incomplete download or copy?): its tensors need ${covered} data bytes but it holds ${dataBytes}, so tensor '${cut.name}' ${off(cut)} and any after it are cut off; download or copy it again`);
  }
  if (covered < dataBytes) {
    fail(`the file is damaged: ${dataBytes - covered} bytes follow the last tensor's data (its header covers ${covered} of ${dataBytes} data bytes); download or save it again`);
  }
}

export interface NamedTensor { name: string; shape: number[]; data: Float32Array }

/**
 * A safetensors file of F32 tensors in the given order, with optional __metadata__ (e.g.
 * {format: 'pt'}), as pieces to write one after the other: the header, then each tensor's
 * bytes (views, not copies). The header is padded with spaces to a multiple of 8 bytes, as the
 * reference implementation does, so every tensor's data stays aligned.
 */
export function encodeSafetensors(tensors: NamedTensor[], metadata?: Record<string, string>, path = 'safetensors'): Uint8Array[] {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const { name, shape, data } of tensors) {
    if (name === '__metadata__' || Object.hasOwn(header, name)) throw new Error(`${path}: duplicate or reserved tensor name '${name}'`);
    if (!shape.every(isCount) || shape.reduce((a, b) => a * b, 1) !== data.length) {
      throw new Error(`${path}: tensor '${name}' has ${data.length} elements, shape ${fmtShape(shape)} needs ${shape.reduce((a, b) => a * b, 1)}`);
    }
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + padded).fill(0x20); // spaces
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  return [head, ...tensors.map(({ data }) => new Uint8Array(data.buffer, data.byteOffset, data.byteLength))];
}

/** bfloat16 bits to float32: the top half of the float32 bit pattern (exact) */
export function bf16ToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i] << 16;
  return out;
}
