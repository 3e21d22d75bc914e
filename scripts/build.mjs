// Bundles every entry point into dist/ with esbuild. Everything is inlined except `webgpu`
// (Dawn's native addon) and `playwright-core` (the page tests' browser driver); kernels/*.wgsl are inlined as text. Tests and benchmarks are
// discovered here (test/*.test.ts, bench/*.bench.ts) so adding one needs no registry edit.
//   node scripts/build.mjs                  all of dist/
//   node scripts/build.mjs --filter NAME    only dist/test-NAME.js and dist/bench-NAME.js,
//                                           from the test/bench files whose name contains NAME
// A full build also writes the chat page (dist/page/: index.html, style.css, app.js) and bundles the host-neutral core (the files tsconfig.core.json includes) for
// the browser, without writing it: an import of a Node module (node:fs, webgpu, ...) there fails
// the build. (`npm test` type-checks the same files without Node's types.)
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fi = process.argv.indexOf('--filter');
const filter = fi >= 0 ? process.argv[fi + 1] : null;
const common = {
  bundle: true, platform: 'node', format: 'esm', target: 'node20',
  external: ['webgpu', 'playwright-core'], loader: { '.wgsl': 'text' }, sourcemap: 'linked', logLevel: 'warning',
  // esm bundles of CommonJS deps need a require()
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
};
const list = (dir, suffix) =>
  readdirSync(join(root, dir)).filter((f) => f.endsWith(suffix) && (!filter || f.includes(filter))).sort();
const jobs = [];
if (!filter) {
  for (const name of ['train', 'chat', 'eval', 'serve']) {
    const src = join(root, `src/${name}.ts`);
    if (existsSync(src)) jobs.push(build({ ...common, entryPoints: [src], outfile: join(root, `dist/${name}.js`) }));
  }
}
if (!filter) jobs.push(checkCoreForBrowser(), buildPage());
const suffix = filter ? `-${filter}` : '';
const tests = list('test', '.test.ts');
jobs.push(build({
  ...common, outfile: join(root, `dist/test${suffix}.js`),
  stdin: {
    contents: `import { runTests } from './runner.ts';\nawait runTests({\n${tests.map((f) => `  '${f}': () => import('./${f}'),`).join('\n')}\n});\n`,
    resolveDir: join(root, 'test'), loader: 'ts',
  },
}));
const benches = list('bench', '.bench.ts');
jobs.push(build({
  ...common, outfile: join(root, `dist/bench${suffix}.js`),
  stdin: {
    contents: benches.map((f) => `import './${f}';`).join('\n') + `\nimport { runBenchmarks } from './harness.ts';\nawait runBenchmarks();\n`,
    resolveDir: join(root, 'bench'), loader: 'ts',
  },
}));
await Promise.all(jobs);

/** The chat page, dist/page/: index.html and style.css as they are, and src/page/main.ts bundled for the browser as app.js. */
function buildPage() {
  const out = join(root, 'dist/page');
  mkdirSync(out, { recursive: true });
  for (const f of ['index.html', 'style.css']) copyFileSync(join(root, 'src/page', f), join(out, f));
  return build({
    entryPoints: [join(root, 'src/page/main.ts')], outfile: join(out, 'app.js'),
    bundle: true, platform: 'browser', format: 'esm', target: 'es2022', minify: true, sourcemap: 'linked',
    loader: { '.wgsl': 'text' }, logLevel: 'warning',
  });
}

/** every file under `dir` (relative to the root), subfolders included (readdirSync's `recursive` needs Node 20.1) */
function filesUnder(dir) {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(`${dir}/${e.name}`) : [`${dir}/${e.name}`]));
}

/** The engine core that the browser build will bundle: WebGPU and plain TypeScript only. */
function checkCoreForBrowser() {
  const { include } = JSON.parse(readFileSync(join(root, 'tsconfig.core.json'), 'utf8'));
  const CORE = include.flatMap((p) => (statSync(join(root, p)).isDirectory() ? filesUnder(p) : [p]))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
  return build({
    bundle: true, platform: 'browser', format: 'esm', target: 'es2022', write: false, logLevel: 'silent',
    loader: { '.wgsl': 'text' }, outfile: join(root, 'dist/core-browser-check.js'),
    stdin: { contents: CORE.map((f) => `export * from './${f}';`).join('\n'), resolveDir: root, loader: 'ts' },
  }).catch((e) => {
    const why = e.errors?.map((m) => `${m.location?.file ?? ''}:${m.location?.line ?? ''}: ${m.text}`).join('\n') ?? e.message;
    console.error(`error: the engine core must stay host-neutral (it is bundled for the browser):\n${why}`);
    process.exitCode = 1;
  });
}
