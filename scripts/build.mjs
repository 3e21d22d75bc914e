// Bundles every entry point into dist/ with esbuild. Everything is inlined except `webgpu`
// (Dawn's native addon); kernels/*.wgsl are inlined as text. Tests and benchmarks are
// discovered here (test/*.test.ts, bench/*.bench.ts) so adding one needs no registry edit.
import { build } from 'esbuild';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const common = {
  bundle: true, platform: 'node', format: 'esm', target: 'node20',
  external: ['webgpu'], loader: { '.wgsl': 'text' }, sourcemap: 'linked', logLevel: 'warning',
  // esm bundles of CommonJS deps need a require()
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
};
const list = (dir, suffix) => readdirSync(join(root, dir)).filter((f) => f.endsWith(suffix)).sort();
const entries = [
  ['src/train.ts', 'dist/train.js'],
  ['src/chat.ts', 'dist/chat.js'],
];
const jobs = [];
for (const [src, out] of entries) {
  try { readdirSync(join(root, dirname(src))); } catch { continue; }
  if (!list(dirname(src), '.ts').includes(src.split('/').pop())) continue;
  jobs.push(build({ ...common, entryPoints: [join(root, src)], outfile: join(root, out) }));
}
// test entry: every test/*.test.ts, then uvu's runner reports
const tests = list('test', '.test.ts');
jobs.push(build({
  ...common, outfile: join(root, 'dist/test.js'),
  stdin: {
    contents: `import { runTests } from './runner.ts';\nawait runTests({\n${tests.map((f) => `  '${f}': () => import('./${f}'),`).join('\n')}\n});\n`,
    resolveDir: join(root, 'test'), loader: 'ts',
  },
}));
const benches = list('bench', '.bench.ts');
jobs.push(build({
  ...common, outfile: join(root, 'dist/bench.js'),
  stdin: {
    contents: benches.map((f) => `import './${f}';`).join('\n') + `\nimport { runBenchmarks } from './harness.ts';\nawait runBenchmarks();\n`,
    resolveDir: join(root, 'bench'), loader: 'ts',
  },
}));
await Promise.all(jobs);
