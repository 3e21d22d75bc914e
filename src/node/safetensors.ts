// Safetensors files on disk, the Node edge of src/model/safetensors.ts (which parses and
// encodes bytes): the header is read and checked at open, and each tensor is read from disk
// straight into its own array on request, so a 500 MB file is read once, never held twice, and
// files over 2 GiB (gpt2-large, gpt2-xl) work too.
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { UserError } from '../util/errors.ts';
import { encodeSafetensors, parseSafetensors, type ByteSource, type NamedTensor, type SafetensorsFile } from '../model/safetensors.ts';

/**
 * Opens a safetensors file and checks its header (parseSafetensors); every error is a UserError
 * naming the file. The file stays open until close(): every tensor comes from the file the
 * header was read from, even when a trainer renames a new save over the path meanwhile.
 */
export function readSafetensors(path: string): SafetensorsFile {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, not a safetensors file' : `cannot open (${(e as Error).message})`}`);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new UserError(`${path}: is a directory, not a safetensors file`);
    return parseSafetensors(fileSource(path, fd, st.size), path);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/**
 * Opens a safetensors file (readSafetensors), hands it to `use` and closes it when `use` returns
 * or throws: the file is open exactly while its tensors are read.
 */
export function withSafetensors<T>(path: string, use: (f: SafetensorsFile) => T): T {
  const f = readSafetensors(path);
  try {
    return use(f);
  } finally {
    f.close();
  }
}

/** the open file's bytes, read on demand (a tensor, or the header) */
function fileSource(path: string, fd: number, size: number): ByteSource {
  let open = true;
  return {
    size,
    read(position, into) {
      if (!open) throw new Error(`${path}: read after close`);
      for (let done = 0; done < into.length; ) {
        const n = readSync(fd, into, done, Math.min(into.length - done, 1 << 30), position + done);
        if (n === 0) throw new UserError(`${path}: unexpected end of file at byte ${position + done} (file changed?)`);
        done += n;
      }
    },
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

/**
 * Writes F32 tensors in the given order, with optional __metadata__ (encodeSafetensors). Writes
 * `path` in place: wrap it in `replaceAtomic` (checkpoint_files.ts) when the old file must survive a crash.
 */
export function writeSafetensors(path: string, tensors: NamedTensor[], metadata?: Record<string, string>): void {
  const parts = encodeSafetensors(tensors, metadata, path);
  const fd = openSync(path, 'w');
  try {
    for (const buf of parts) {
      for (let done = 0; done < buf.length; ) done += writeSync(fd, buf, done, Math.min(buf.length - done, 1 << 30));
    }
  } finally {
    closeSync(fd);
  }
}
