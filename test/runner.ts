// Runs the bundled uvu suites file by file (`node dist/test.js [filter...]` picks files whose
// name contains a filter; `--except a,b` leaves out those whose name contains one of these),
// prints the tests this adapter skipped and why, then closes the shared GPU device so the
// process exits.
import { closeGpu, getGpu } from '../src/node/gpu.ts';
import { skipped } from './util.ts';

type G = { UVU_DEFER?: number; UVU_QUEUE?: unknown[][]; UVU_INDEX?: number };

export async function runTests(files: Record<string, () => Promise<unknown>>): Promise<void> {
  const g = globalThis as G;
  g.UVU_DEFER = 1;
  g.UVU_QUEUE = [];
  const { exec } = await import('uvu');
  const args = process.argv.slice(2);
  const ex = args.indexOf('--except');
  const except = ex >= 0 ? args.splice(ex, 2)[1]?.split(',').filter(Boolean) ?? [] : [];
  const filters = args;
  let i = 0;
  for (const [name, load] of Object.entries(files)) {
    if (filters.length && !filters.some((f) => name.includes(f))) continue;
    if (except.some((f) => name.includes(f))) continue;
    g.UVU_QUEUE.push([name]);
    g.UVU_INDEX = i++;
    await load();
  }
  await exec();
  if (skipped.size) console.log(`\n  Skipped on this adapter (${(await getGpu()).adapterName}):`);
  for (const [why, tests] of skipped) console.log(`    ${tests.length} that ${why}:\n${tests.map((s) => `      ${s}`).join('\n')}`);
  await closeGpu();
}
