// Runs the bundled uvu suites file by file (`node dist/test.js [filter...]` picks files whose
// name contains a filter; `--except a,b` leaves out those whose name contains one of these; a name
// that matches no file is refused, as bench.js refuses one),
// prints the tests skipped on this machine and why, then closes the shared GPU device so the
// process exits.
import { closeGpu, getGpu } from '../src/node/gpu.ts';
import { skipped } from './util.ts';

type G = { UVU_DEFER?: number; UVU_QUEUE?: unknown[][]; UVU_INDEX?: number };

export async function runTests(files: Record<string, () => Promise<unknown>>): Promise<void> {
  const g = globalThis as G;
  g.UVU_DEFER = 1;
  g.UVU_QUEUE = [];
  const { exec } = await import('uvu');
  let picked: string[];
  try {
    picked = pickFiles(Object.keys(files), process.argv.slice(2));
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    process.exitCode = 1;
    return;
  }
  let i = 0;
  for (const [name, load] of Object.entries(files)) {
    if (!picked.includes(name)) continue;
    g.UVU_QUEUE.push([name]);
    g.UVU_INDEX = i++;
    await load();
  }
  await exec();
  if (skipped.size) console.log(`\n  Skipped on this machine (adapter: ${(await getGpu()).adapterName}):`);
  for (const [why, tests] of skipped) console.log(`    ${why} (${tests.length === 1 ? '1 test' : `${tests.length} tests`}):\n${tests.map((s) => `      ${s}`).join('\n')}`);
  await closeGpu();
}

/**
 * The test files that `args` (`[NAME...] [--except NAME,...]`) pick from `names`. A NAME that is
 * in no file's name, or a pick that leaves nothing, is refused: a typo would otherwise run 0 tests and pass.
 */
export function pickFiles(names: string[], args: string[]): string[] {
  const usage = `usage: node dist/test.js [NAME...] [--except NAME,...] (NAME: part of a test file's name; the files: ${names.join(' ')})`;
  const filters = [...args];
  const ex = filters.indexOf('--except');
  const except = ex >= 0 ? filters.splice(ex, 2)[1]?.split(',').filter(Boolean) ?? [] : [];
  if (ex >= 0 && except.length === 0) throw new Error(`--except needs the names to leave out, comma-separated; ${usage}`);
  for (const f of [...filters, ...except]) if (!names.some((n) => n.includes(f))) throw new Error(`no test file's name contains '${f}'; ${usage}`);
  const picked = names.filter((n) => (!filters.length || filters.some((f) => n.includes(f))) && !except.some((f) => n.includes(f)));
  if (picked.length === 0) throw new Error(`--except leaves no test file to run; ${usage}`);
  return picked;
}
