// A model's weights for the page, as src/node/weights.ts reads them from disk: model.safetensors,
// or a sharded save's model.safetensors.index.json and the shards it names, each file downloaded
// and cached by itself (download.ts) and joined by the same joinShards as the Node side's.
import { UserError } from '../util/errors.ts';
import { bytesSource, joinShards, parseSafetensors, parseShardIndex, SHARD_INDEX, WEIGHTS, type SafetensorsFile } from '../model/safetensors.ts';
import { DownloadError, fetchCached, fetchText, type Progress } from './download.ts';

/**
 * The weights under `base` (a folder URL ending in /) as one SafetensorsFile. `said`: which file
 * holds them, as serve.js says it (WEIGHTS or SHARD_INDEX); null from a static host, which says
 * nothing: model.safetensors is asked for, and where it is not there the index (model.safetensors
 * wins when both are there, as in transformers). `onProgress(file, p)`: the file being
 * downloaded, and the bytes of all of them (a sharded save's progress is over all its shards).
 */
export async function fetchWeights(base: string, said: string | null, onProgress: (file: string, p: Progress) => void): Promise<SafetensorsFile> {
  const url = new URL(base + WEIGHTS, location.href).href;
  if (said !== SHARD_INDEX) {
    const report = (p: Progress) => onProgress(WEIGHTS, p);
    const bytes = said === WEIGHTS ? await fetchCached(url, report) : await fetchCached(url, report, { missingOk: true });
    if (bytes) return parseSafetensors(bytesSource(bytes), url);
  }
  const indexUrl = new URL(base + SHARD_INDEX, location.href).href;
  const index = said === SHARD_INDEX ? await fetchText(indexUrl) : await fetchText(indexUrl, { missingOk: true });
  if (!index) throw new DownloadError(`${url}: not found on the server, and no ${SHARD_INDEX} beside it (the index of a sharded save) either`, url, 404);
  const shards = await fetchShards(indexUrl, index.text, onProgress);
  return joinShards(index.text, indexUrl, (file) => shards.get(file)!);
}

/** every shard the index at `indexUrl` names, downloaded (cached) one after the other and parsed, by its name in the index */
async function fetchShards(indexUrl: string, indexText: string, onProgress: (file: string, p: Progress) => void): Promise<Map<string, SafetensorsFile>> {
  const { files, totalSize } = parseShardIndex(indexText, indexUrl);
  // each shard's bytes so far and its size once known; until every size is, the index's total_size (the tensors' bytes) stands in for the sum
  const loaded = files.map(() => 0), sizes = files.map((): number | null => null);
  let cached = true;
  const shards = new Map<string, SafetensorsFile>();
  for (const [i, file] of files.entries()) {
    // the name as a path, not as URL syntax: a '#' or '%' in it is a character of the name
    const url = new URL(file.split('/').map(encodeURIComponent).join('/'), indexUrl).href;
    const label = `${file} (shard ${i + 1} of ${files.length})`;
    let bytes: Uint8Array;
    try {
      bytes = await fetchCached(url, (p) => {
        loaded[i] = p.loaded;
        sizes[i] = p.total;
        cached &&= p.cached;
        const known = sizes.reduce<number>((a, s) => a + (s ?? 0), 0);
        const total = sizes.every((s) => s !== null) ? known : totalSize !== null ? Math.max(known, totalSize) : null;
        onProgress(label, { loaded: loaded.reduce((a, b) => a + b, 0), total, cached });
      });
      sizes[i] = bytes.length; // also where the server did not say
    } catch (e) {
      if (!(e instanceof DownloadError && e.status === 404)) throw e;
      throw new UserError(`${url}: not found on the server, but ${indexUrl} names it as a shard of the model (an upload cut short? put every shard the index names beside it)`);
    }
    shards.set(file, parseSafetensors(bytesSource(bytes), url));
  }
  return shards;
}
