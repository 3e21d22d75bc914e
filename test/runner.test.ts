// The test runner's file picking (`node dist/test.js [NAME...] [--except NAME,...]`, README.md "Two commands").
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pickFiles } from './runner.ts';
import { ROOT } from './child.ts';

const t = suite('runner');
const NAMES = ['cli.test.ts', 'gelu.test.ts', 'page.test.ts', 'serve.test.ts', 'serve_load.test.ts'];

t('NAME picks the files whose name contains it; --except leaves some out', () => {
  assert.equal(pickFiles(NAMES, []), NAMES);
  assert.equal(pickFiles(NAMES, ['cli']), ['cli.test.ts']);
  assert.equal(pickFiles(NAMES, ['serve.test']), ['serve.test.ts']);
  assert.equal(pickFiles(NAMES, ['serve', 'gelu']), ['gelu.test.ts', 'serve.test.ts', 'serve_load.test.ts']);
  assert.equal(pickFiles(NAMES, ['--except', 'page,serve_load']), ['cli.test.ts', 'gelu.test.ts', 'serve.test.ts']);
  assert.equal(pickFiles(NAMES, ['serve', '--except', 'serve_load']), ['serve.test.ts']);
});

t('a NAME in no file\'s name (a typo), --except without names, or nothing left to run is refused, not an empty run that passes', () => {
  assert.throws(() => pickFiles(NAMES, ['serve_test']), /^no test file's name contains 'serve_test'; usage: node dist\/test.js .*the files: cli.test.ts gelu.test.ts/);
  assert.throws(() => pickFiles(NAMES, ['--except', 'pgae']), /^no test file's name contains 'pgae'/);
  assert.throws(() => pickFiles(NAMES, ['--except']), /^--except needs the names to leave out/);
  assert.throws(() => pickFiles(NAMES, ['gelu', '--except', 'gelu']), /^--except leaves no test file to run/);
});

t('node dist/test.js with a NAME that matches no file exits 1 with a one-line error', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'test.js'), 'no-such-test-file'], { encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /^error: no test file's name contains 'no-such-test-file'; usage: .*\n$/m);
  assert.not.match(r.stdout, /Total:/);
});

t.run();
