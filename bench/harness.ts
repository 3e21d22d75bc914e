// Microbenchmark harness: warm-up, median of several timed runs (GPU timestamps when the
// adapter offers them, else wall clock around a synced batch), one table or --json.
// Usage: node dist/bench.js --help
import type { Gpu } from '../src/gpu/index.ts';
import { closeGpu, getGpu, listAdapters } from '../src/node/gpu.ts';
import { UserError } from '../src/util/errors.ts';
import { parseFlags, type FlagSpec, type Parsed } from '../src/util/args.ts';

export interface BenchCase {
  name: string;
  shape: string;
  /** floating-point operations per run (for GFLOP/s), or 0 */
  flops?: number;
  /** bytes moved per run (for GB/s), or 0 */
  bytes?: number;
  /** records one run's dispatches (kernel benches), or runs a whole async unit of work (model benches) */
  run: () => void | Promise<void>;
  /** tokens processed per run, for tokens/s */
  tokens?: number;
  cleanup?: () => void;
  /** a line printed under the row (and `note` in --json), given this case's median ms (GPU time, else wall) */
  report?: (ms: number) => string;
  /** forget the readings a case keeps for its report: called before each timing pass (with and without the profiler) */
  reset?: () => void;
}
export interface BenchArgs {
  /** batch size to use (smaller by default on a CPU adapter) */
  batch: number;
  /** full-size shapes (GPU) or reduced ones (CPU adapter) */
  big: boolean;
  reps: number;
}
type Factory = (gpu: Gpu, args: BenchArgs) => BenchCase[] | Promise<BenchCase[]>;

const groups: { group: string; make: Factory }[] = [];
export function registerBench(group: string, make: Factory): void {
  groups.push({ group, make });
}
/** the groups registered so far, in order */
export const benchGroups = (): readonly { group: string; make: Factory }[] => groups;

/** --batch and --reps when not given: a CPU adapter runs smaller batches, and fewer of them */
const DEFAULTS = { cpu: { batch: 1, reps: 3 }, gpu: { batch: 8, reps: 20 } };
const FLAGS: FlagSpec[] = [
  { name: 'json', type: 'boolean', help: '' }, { name: 'filter', type: 'string', help: '' }, { name: 'case', type: 'string', help: '' },
  { name: 'reps', type: 'int', help: '' }, { name: 'batch', type: 'int', help: '' }, { name: 'fast', type: 'boolean', help: '' },
  { name: 'wall', type: 'boolean', help: '' }, { name: 'list-adapters', type: 'boolean', help: '' }, { name: 'help', type: 'boolean', help: '' },
];
function count(a: Parsed, name: string, fallback: number): number {
  const n = a[name] as number | undefined;
  if (n === undefined) return fallback;
  if (n < 1) throw new UserError(`--${name} expects a positive integer, got '${n}'`);
  return n;
}

/**
 * `make()` at the first call, the same value after; `peek()` gives it only if made. A group's
 * models are built this way by the first case that runs on them, so a --case that picks a few
 * cases (or none) builds only what those need.
 */
export function once<T>(make: () => T): (() => T) & { peek(): T | undefined } {
  let made: { value: T } | undefined;
  return Object.assign(() => (made ??= { value: make() }).value, { peek: () => made?.value });
}

export const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

/**
 * Median wall ms of a synced run, and median GPU ms (the kernels' timestamps summed) when
 * profiling and every reading of the run was there. Cases with tokens (whole GPT-2 steps) get
 * their wall time from runs without the profiler: it puts each dispatch in its own pass and
 * submits every 512, which is not how a user's run is submitted.
 */
async function timeCase(gpu: Gpu, c: BenchCase, reps: number): Promise<{ wall: number; gpu?: number }> {
  const runs = async (profiled: boolean) => {
    const wall: number[] = [], kernels: number[] = [];
    c.reset?.(); // a case that keeps its own readings reports those of the last pass only
    await c.run(); // warm-up: pipelines, bind groups, caches
    await gpu.sync();
    for (let r = 0; r < reps; r++) {
      await gpu.profiler?.settle();
      gpu.profiler?.reset();
      const t = await timeOnce(gpu, c.run);
      wall.push(t.wall);
      if (profiled && t.gpu !== undefined) kernels.push(t.gpu);
    }
    return { wall: median(wall), gpu: kernels.length === reps ? median(kernels) : undefined };
  };
  const profiler = gpu.profiler;
  const t = await runs(true);
  if (!c.tokens || !profiler) return t;
  gpu.profiler = null;
  try {
    return { wall: (await runs(false)).wall, gpu: t.gpu };
  } finally {
    gpu.profiler = profiler;
  }
}

/** One line per adapter Dawn sees: name and backend, then what the engine gets from it; with --json, the list as JSON alone on stdout. */
async function printAdapters(json: boolean): Promise<void> {
  const list = await listAdapters(process.env.WEBGPU_BACKEND);
  const none = 'Dawn sees no WebGPU adapter (on a machine without a GPU: npm run setup).';
  if (json) {
    if (!list.length) console.error(none);
    console.log(JSON.stringify({ adapters: list }, null, 1));
    return;
  }
  if (!list.length) console.log(none);
  const mib = (b: number) => (b >= 2 ** 30 ? `${b / 2 ** 30} GiB` : `${Math.round(b / 2 ** 20)} MiB`);
  for (const a of list) {
    const mark = a.isDefault ? 'default' : a.extraDriver ? 'by name only' : '';
    console.log(`${a.name}  [${a.backend}]${mark ? `  (${mark})` : ''}`);
    console.log(`    ${a.description}; ${a.isCpu ? 'CPU' : 'GPU'}; ` +
      `subgroups ${a.subgroupMinSize ? `of ${a.subgroupMinSize}` : 'no'}; shader-f16 ${a.features.includes('shader-f16') ? 'yes' : 'no'}; ` +
      `timestamps ${a.features.includes('timestamp-query') ? 'yes' : 'no'}; storage binding ${mib(a.maxStorageBufferBindingSize)}; ` +
      `workgroup storage ${a.maxComputeWorkgroupStorageSize / 1024} KiB`);
  }
  console.log('Pick one with WEBGPU_ADAPTER=<part of its name> (any case), e.g. WEBGPU_ADAPTER=swiftshader npm test.');
}

/** the kernels' GPU ms so far, and how many readings were missing */
const kernelTotals = (gpu: Gpu) => [...(gpu.profiler?.totals.values() ?? [])].reduce((s, e) => ({ ms: s.ms + e.ms, missing: s.missing + e.missing }), { ms: 0, missing: 0 });

/**
 * Wall ms of one synced run of `run`, and the GPU ms of its kernels when profiling and every
 * reading was there (cases that time parts of their run use it too).
 */
export async function timeOnce(gpu: Gpu, run: () => void | Promise<void>): Promise<{ wall: number; gpu?: number }> {
  await gpu.profiler?.settle();
  const before = kernelTotals(gpu);
  const t0 = performance.now();
  await run();
  await gpu.sync();
  const wall = performance.now() - t0;
  if (!gpu.profiler) return { wall };
  await gpu.profiler.settle();
  const after = kernelTotals(gpu);
  const ms = after.ms - before.ms;
  return { wall, gpu: ms > 0 && after.missing === before.missing ? ms : undefined };
}

const help = () => `node dist/bench.js [--json] [--filter GROUP] [--case RE] [--reps N] [--batch B] [--fast] [--wall]
node dist/bench.js --list-adapters [--json]
Times every kernel at GPT-2 124M shapes (--batch: ${DEFAULTS.cpu.batch} on a CPU adapter, ${DEFAULTS.gpu.batch} on a GPU), plus a
GPT-2 124M training step, prompt prefill and KV-cached decode. Each case: one warm-up, then the
median of --reps runs (${DEFAULTS.cpu.reps} on a CPU adapter, ${DEFAULTS.gpu.reps} on a GPU). Where the adapter offers
timestamp-query, rates use the GPU time of the kernels (unquantized timestamps around each
dispatch; a case with a missing reading falls back to wall clock, marked 'wall'); --wall uses
wall-clock time of the synced run instead. Tokens/s always come from wall-clock runs without
timestamps. --json prints the results as JSON on stdout (the table goes to stderr as progress).
--list-adapters prints every adapter Dawn sees (pick one with WEBGPU_ADAPTER=<part of its
name>); with --json, as JSON on stdout.
--case RE runs only the cases whose name matches RE (e.g. --filter gpt2 --case 'prefill|decode').
--fast turns on Dawn's speed toggles. Groups: ${groups.map((g) => g.group).join(' ')}.`;

/** the table's name and shape columns for a group: its longest, so the timings line up (rows print as they finish) */
export function columnWidths(cases: { name: string; shape: string }[]): { name: number; shape: number } {
  return {
    name: Math.max(28, ...cases.map((c) => c.name.length)),
    shape: Math.max(30, ...cases.map((c) => c.shape.length)),
  };
}

export async function runBenchmarks(): Promise<void> {
  try {
    await benchmarks();
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    process.exitCode = 1;
  } finally {
    await closeGpu();
  }
}

async function benchmarks(): Promise<void> {
  const a = parseFlags(process.argv.slice(2), FLAGS);
  if (a.help) {
    console.log(help());
    return;
  }
  if (a['list-adapters']) {
    // the run's flags would be dropped without a word: a caller who gave them meant a benchmark
    const runFlag = FLAGS.find((f) => !['list-adapters', 'json', 'help'].includes(f.name) && a[f.name] !== undefined);
    if (runFlag) throw new UserError(`--list-adapters takes only --json; --${runFlag.name} is for a benchmark run: leave it out, or run without --list-adapters`);
    await printAdapters(!!a.json);
    return;
  }
  const json = !!a.json;
  const filter = a.filter as string | undefined;
  // an empty --filter (an unset shell variable) would run every group, a long run nobody asked for
  if (filter !== undefined && (!filter || !groups.some((g) => g.group.includes(filter)))) {
    throw new UserError(`--filter '${filter}' names no group; the groups are ${groups.map((g) => g.group).join(' ')}`);
  }
  const caseRe = a.case as string | undefined;
  // empty (an unset shell variable) would match every case: as --filter '' says
  if (caseRe === '') throw new UserError("--case '' matches every case: give a regular expression for the cases to run, or leave --case out to run them all");
  let only: RegExp | null = null;
  try {
    only = caseRe ? new RegExp(caseRe) : null;
  } catch (e) {
    throw new UserError(`--case ${caseRe}: not a regular expression (${(e as Error).message})`);
  }
  const batch = count(a, 'batch', 0), reps = count(a, 'reps', 0); // 0: not given; checked before the adapter opens
  const gpu = await getGpu({ fast: a.fast ? true : undefined, profile: a.wall ? undefined : true });
  const big = !gpu.isCpu;
  const d = big ? DEFAULTS.gpu : DEFAULTS.cpu;
  const args: BenchArgs = { batch: batch || d.batch, big, reps: reps || d.reps };
  const rows: Record<string, unknown>[] = [];
  const timing = gpu.profiler ? 'GPU timestamps (unquantized)' : 'wall clock';
  // with --json the table is progress on stderr: a whole run takes minutes, and stdout is the JSON alone
  const say = json ? console.error : console.log;
  say(`adapter: ${gpu.adapterName}; timing: ${timing}; median of ${args.reps}`);
  for (const { group, make } of groups) {
    if (filter && !group.includes(filter)) continue;
    const cases = await make(gpu, args);
    const widths = columnWidths(cases);
    for (const c of cases) {
      if (only && !only.test(c.name)) {
        c.cleanup?.();
        continue;
      }
      const t = await timeCase(gpu, c, args.reps);
      const ms = t.gpu ?? t.wall;
      const note = c.report?.(ms);
      c.cleanup?.();
      const row = {
        group, name: c.name, shape: c.shape, ms: +ms.toFixed(3), wall_ms: +t.wall.toFixed(3), timing: t.gpu === undefined ? 'wall' : 'gpu',
        gflops: c.flops ? +(c.flops / ms / 1e6).toFixed(2) : undefined,
        gbps: c.bytes ? +(c.bytes / ms / 1e6).toFixed(2) : undefined,
        // tokens/s is what a user sees: wall clock, host work included
        tokens_per_s: c.tokens ? +((c.tokens * 1000) / t.wall).toFixed(1) : undefined,
        note,
      };
      rows.push(row);
      const rate = [row.gflops !== undefined ? `${row.gflops} GFLOP/s` : '', row.gbps !== undefined ? `${row.gbps} GB/s` : '',
        row.tokens_per_s !== undefined ? `${row.tokens_per_s} tok/s` : ''].filter(Boolean).join('  ');
      const src = gpu.profiler && t.gpu === undefined ? ' (wall)' : '';
      say(`${group.padEnd(12)} ${c.name.padEnd(widths.name)} ${c.shape.padEnd(widths.shape)} ${ms.toFixed(2).padStart(9)} ms${src} ${t.wall.toFixed(2).padStart(9)} wall  ${rate}`);
      if (note) say(`${' '.repeat(13)}${note}`);
    }
  }
  if (!rows.length && only) throw new UserError(`--case ${caseRe} matches no case${filter ? ` of --filter ${filter}` : ''} (case names are the second column of a run)`);
  if (json) console.log(JSON.stringify({ adapter: gpu.adapterName, timing, batch: args.batch, reps: args.reps, results: rows }, null, 1));
}
