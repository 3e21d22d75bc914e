// The benchmarks' GPT-2 124M groups build their models and optimizers only when a case of
// theirs runs: `bench.js --case X` picking none of their cases (or a --case that matches
// nothing) used to build them all first, 40 s and 5 GB on lavapipe before the answer.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import '../bench/model.bench.ts';
import '../bench/serve.bench.ts';
import { benchGroups, columnWidths } from '../bench/harness.ts';
import { gpu } from './util.ts';

const t = suite('bench');

t('the gpt2 and serve groups list their cases without building a model; skipped, their cleanup frees nothing it did not build', async () => {
  const g = await gpu();
  const live = g.pool.liveBytes;
  const heavy = benchGroups().filter((b) => b.group === 'gpt2' || b.group === 'serve');
  assert.equal(heavy.map((b) => b.group), ['gpt2', 'serve']);
  for (const { group, make } of heavy) {
    const cases = await make(g, { batch: 1, big: false, reps: 1 });
    assert.ok(cases.length > 0, group);
    assert.is(g.pool.liveBytes, live, `${group}: GPU bytes taken by listing its cases`);
    for (const c of cases) c.cleanup?.(); // as the harness does for cases that --case leaves out
    await new Promise((r) => setImmediate(r));
    assert.is(g.pool.liveBytes, live, `${group}: GPU bytes after the cleanups`);
  }
});

t("the table's timings line up within a group, also past the default widths (the f16 decode cases' long names)", async () => {
  const g = await gpu();
  const cases = await benchGroups().find((b) => b.group === 'gpt2')!.make(g, { batch: 1, big: false, reps: 1 });
  assert.ok(cases.some((c) => c.name.length > 28), 'a name longer than the default column');
  const w = columnWidths(cases);
  // where each row's timing starts: the width of the name and shape columns
  const starts = new Set(cases.map((c) => `${c.name.padEnd(w.name)} ${c.shape.padEnd(w.shape)} `.length));
  assert.is(starts.size, 1, [...starts].join(' '));
  for (const c of cases) c.cleanup?.();
});

t.run();
