// Runs the bundled uvu suites file by file (`node dist/test.js [filter...]` picks files whose
// name contains a filter), then closes the shared GPU device so the process exits.
import { closeGpu } from '../src/node/gpu.ts';

type G = { UVU_DEFER?: number; UVU_QUEUE?: unknown[][]; UVU_INDEX?: number };

export async function runTests(files: Record<string, () => Promise<unknown>>): Promise<void> {
  const g = globalThis as G;
  g.UVU_DEFER = 1;
  g.UVU_QUEUE = [];
  const { exec } = await import('uvu');
  const filters = process.argv.slice(2);
  let i = 0;
  for (const [name, load] of Object.entries(files)) {
    if (filters.length && !filters.some((f) => name.includes(f))) continue;
    g.UVU_QUEUE.push([name]);
    g.UVU_INDEX = i++;
    await load();
  }
  await exec();
  await closeGpu();
}
