// Cheap fingerprints of files a run depends on (a LoRA run's base weights, the training data), kept
// in train_state.json so that --resume can say when they changed: a hash of the size and the
// first (and last) MiB, read in milliseconds even for gigabytes, and changed by any real edit.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type { Hash } from 'node:crypto';

const MIB = 1 << 20;

/** h updated with `${size}\n`, the file's first MiB and (tail) its last MiB */
export function hashFileEnds(h: Hash, file: string, tail = false): Hash {
  const size = statSync(file).size, fd = openSync(file, 'r');
  try {
    const read = (at: number, n: number) => {
      const b = Buffer.alloc(n);
      readSync(fd, b, 0, n, at);
      return b;
    };
    h.update(`${size}\n`).update(read(0, Math.min(MIB, size)));
    if (tail && size > MIB) h.update(read(Math.max(MIB, size - MIB), Math.min(MIB, size - MIB)));
  } finally {
    closeSync(fd);
  }
  return h;
}
