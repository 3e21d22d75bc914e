// Hugging Face safetensors: 8-byte little-endian header length N, N bytes of JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {key: value}}, then the raw
// little-endian tensor bytes (offsets count from the end of the header).
// Reading is lazy: the header is parsed and checked up front, and each tensor is read from disk
// straight into its own array on request, so a 500 MB file is read once, never held twice, and
// files over 2 GiB (gpt2-large, gpt2-xl) work too. Assumes a little-endian host.
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { UserError } from '../util/errors.ts';

export type Dtype = 'F32' | 'F16' | 'BF16';

export interface StInfo {
  name: string;
  /** as written in the file: 'F32', 'F16', 'BF16', 'I64', ... */
  dtype: string;
  shape: number[];
  /** bytes of data in the file */
  byteLength: number;
}

export interface SafetensorsFile {
  path: string;
  /** tensor names in data (file offset) order */
  names: string[];
  /** the header's __metadata__ ({} when absent) */
  metadata: Record<string, string>;
  has(name: string): boolean;
  /** dtype, shape and size; throws for a name not in the file */
  info(name: string): StInfo;
  /** reads one tensor into a new Float32Array (F32, F16, BF16 and F64; other dtypes throw) */
  get(name: string): Float32Array;
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
const fmtShape = (s: number[]) => `[${s.join(', ')}]`;

/**
 * Opens a safetensors file and checks its header: lengths, JSON, and that every tensor's
 * data_offsets lie inside the file, match shape x dtype size and overlap no other tensor's. Tensors are then read by `get`.
 * Every error is a UserError naming the file (and the tensor, where one is at fault).
 */
export function readSafetensors(path: string): SafetensorsFile {
  const fail = (what: string): never => {
    throw new UserError(`${path}: ${what}`);
  };
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return fail(code === 'ENOENT' ? 'no such file' : `cannot open (${(e as Error).message})`);
  }
  let fileBytes = 0, headerBytes = 0, header: unknown;
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) fail('is a directory, not a safetensors file');
    fileBytes = st.size;
    if (fileBytes < 8) fail(`not a safetensors file: ${fileBytes} bytes, shorter than the 8-byte header length`);
    const lenBuf = Buffer.alloc(8);
    readFully(fd, lenBuf, 0, path);
    const n = lenBuf.readBigUInt64LE(0);
    if (n > BigInt(fileBytes - 8)) fail(`header length ${n} goes beyond the end of the ${fileBytes}-byte file`);
    if (n > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n} is over the ${MAX_HEADER_BYTES}-byte limit`);
    headerBytes = Number(n);
    const text = Buffer.alloc(headerBytes);
    readFully(fd, text, 8, path);
    try {
      header = JSON.parse(text.toString('utf8'));
    } catch (e) {
      fail(`bad JSON header (${(e as Error).message})`);
    }
  } finally {
    closeSync(fd);
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
    if (end > dataBytes) {
      bad(`data_offsets [${begin}, ${end}] go beyond the ${dataBytes} data bytes in the file (truncated?)`);
    }
    const size = DTYPE_BYTES[dtype];
    const want = shape.reduce((a, b) => a * b, 1) * (size ?? 0);
    if (size !== undefined && end - begin !== want) {
      bad(`data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtype} ${fmtShape(shape)} needs ${want}`);
    }
    entries.set(name, { name, dtype, shape, byteLength: end - begin, start: dataStart + begin });
  }
  const names = [...entries.keys()].sort((a, b) => entries.get(a)!.start - entries.get(b)!.start);
  // two tensors sharing bytes would load silently as each other's data
  let reach: Entry | null = null; // the tensor reaching furthest so far
  for (const name of names) {
    const b = entries.get(name)!;
    if (reach && b.byteLength > 0 && b.start < reach.start + reach.byteLength) {
      const off = (e: Entry) => `[${e.start - dataStart}, ${e.start - dataStart + e.byteLength}]`;
      fail(`tensors '${reach.name}' ${off(reach)} and '${b.name}' ${off(b)} have overlapping data_offsets`);
    }
    if (!reach || b.start + b.byteLength > reach.start + reach.byteLength) reach = b;
  }

  const entry = (name: string): Entry => entries.get(name) ?? fail(`no tensor '${name}'`);
  return {
    path,
    names,
    metadata,
    has: (name) => entries.has(name),
    info: (name) => {
      const { start: _, ...info } = entry(name);
      return info;
    },
    get: (name) => {
      const e = entry(name);
      const n = e.shape.reduce((a, b) => a * b, 1);
      const fd = openSync(path, 'r');
      try {
        if (e.dtype === 'F32') {
          const out = new Float32Array(n);
          readFully(fd, new Uint8Array(out.buffer), e.start, path);
          return out;
        }
        if (e.dtype === 'F16' || e.dtype === 'BF16') {
          const raw = new Uint16Array(n);
          readFully(fd, new Uint8Array(raw.buffer), e.start, path);
          return e.dtype === 'F16' ? f16ToF32(raw) : bf16ToF32(raw);
        }
        if (e.dtype === 'F64') {
          const raw = new Float64Array(n);
          readFully(fd, new Uint8Array(raw.buffer), e.start, path);
          return Float32Array.from(raw);
        }
        return fail(`tensor '${name}' has dtype ${e.dtype}; only F32, F16, BF16 and F64 can be read as floats`);
      } finally {
        closeSync(fd);
      }
    },
  };
}

/**
 * Writes F32 tensors in the given order, with optional __metadata__ (e.g. {format: 'pt'}).
 * The header is padded with spaces to a multiple of 8 bytes, as the reference implementation
 * does, so every tensor's data stays aligned. Writes `path` in place: wrap it in
 * `replaceAtomic` (checkpoint.ts) when the old file must survive a crash.
 */
export function writeSafetensors(
  path: string,
  tensors: { name: string; shape: number[]; data: Float32Array }[],
  metadata?: Record<string, string>,
): void {
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
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.alloc(8 + Buffer.byteLength(json));
  head.writeBigUInt64LE(BigInt(head.length - 8), 0);
  head.write(json, 8, 'utf8');
  const fd = openSync(path, 'w');
  try {
    writeFully(fd, head);
    for (const { data } of tensors) writeFully(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  } finally {
    closeSync(fd);
  }
}

// f16 bits -> f32 value, for every bit pattern (256 KB, built on first use)
let f16Table: Float32Array | null = null;

/** IEEE half-precision bits to float32 (exact, including subnormals, infinities and NaN) */
export function f16ToF32(bits: Uint16Array): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
      f16Table[h] =
        exp === 0 ? sign * mant * 2 ** -24 : exp === 31 ? (mant ? NaN : sign * Infinity) : sign * (1 + mant / 1024) * 2 ** (exp - 15);
    }
  }
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = f16Table[bits[i]];
  return out;
}

/** bfloat16 bits to float32: the top half of the float32 bit pattern (exact) */
export function bf16ToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i] << 16;
  return out;
}

/** read exactly buf.length bytes at `position` */
function readFully(fd: number, buf: Uint8Array, position: number, path: string): void {
  for (let done = 0; done < buf.length; ) {
    const n = readSync(fd, buf, done, Math.min(buf.length - done, 1 << 30), position + done);
    if (n === 0) throw new UserError(`${path}: unexpected end of file at byte ${position + done} (file changed?)`);
    done += n;
  }
}

function writeFully(fd: number, buf: Uint8Array): void {
  for (let done = 0; done < buf.length; ) done += writeSync(fd, buf, done, Math.min(buf.length - done, 1 << 30));
}
