// Cheap fingerprints of files a run depends on (a LoRA run's base weights, the training data), kept
// in train_state.json so that --resume can say when they changed: a hash of the size and the
// first (and last) MiB, read in milliseconds even for gigabytes, and changed by any real edit; for
// weights also the first 4 KiB of every tensor (a LoRA merged in leaves the first MiB, wte, as it was).
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type { Hash } from 'node:crypto';

const MIB = 1 << 20;

/** h updated with `${size}\n`, the file's first MiB and (tail) its last MiB */
export function hashFileEnds(h: Hash, file: string, tail = false): Hash {
  return withReader(file, (read, size) => {
    h.update(`${size}\n`).update(read(0, Math.min(MIB, size)));
    if (tail && size > MIB) h.update(read(Math.max(MIB, size - MIB), Math.min(MIB, size - MIB)));
    return h;
  });
}

/** `use` with a reader of the open file's bytes (and its size); the file is closed after */
function withReader<T>(file: string, use: (read: (at: number, n: number) => Buffer, size: number) => T): T {
  const size = statSync(file).size, fd = openSync(file, 'r');
  try {
    return use((at, n) => {
      const b = Buffer.alloc(n);
      readSync(fd, b, 0, n, at);
      return b;
    }, size);
  } finally {
    closeSync(fd);
  }
}

const TENSOR_START = 4096;

/** h updated with the first 4 KiB of every tensor's data in a safetensors file (nothing for a file that is not one: loading it says so) */
export function hashTensorStarts(h: Hash, file: string): Hash {
  return withReader(file, (read, size) => {
    if (size < 8) return h;
    const n = Number(read(0, 8).readBigUInt64LE());
    if (n > size - 8 || n > 100 * MIB) return h;
    let header: Record<string, { data_offsets?: unknown }>;
    try {
      header = JSON.parse(read(8, n).toString('utf8'));
    } catch {
      return h;
    }
    for (const [name, t] of Object.entries(header)) {
      const o = t?.data_offsets;
      if (!Array.isArray(o) || typeof o[0] !== 'number' || typeof o[1] !== 'number') continue;
      const at = 8 + n + o[0], len = Math.min(o[1] - o[0], TENSOR_START, size - at);
      if (len > 0) h.update(`${name}\n`).update(read(at, len));
    }
    return h;
  });
}
