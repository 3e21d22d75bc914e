// Microbenchmark harness: warm-up, median of several timed runs (GPU timestamps when the
// adapter offers them, else wall clock around a synced batch), one table or --json.
// Usage: node dist/bench.js --help
import type { Gpu } from '../src/gpu/index.ts';
import { closeGpu, getGpu } from '../src/node/gpu.ts';
import { UserError } from '../src/util/errors.ts';

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

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
function intArg(name: string, fallback: number): number {
  const v = arg(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UserError(`${name} expects a positive integer, got '${v}'`);
  return n;
}

export const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

/** median wall ms of a synced run, and median GPU ms (sum of the kernels' timestamps) when profiling */
async function timeCase(gpu: Gpu, c: BenchCase, reps: number): Promise<{ wall: number; gpu?: number }> {
  await c.run(); // warm-up: pipelines, bind groups, caches
  await gpu.sync();
  const wall: number[] = [], kernels: number[] = [];
  for (let r = 0; r < reps; r++) {
    await gpu.profiler?.settle();
    gpu.profiler?.reset();
    const t = await timeOnce(gpu, c.run);
    wall.push(t.wall);
    if (t.gpu !== undefined) kernels.push(t.gpu);
  }
  return { wall: median(wall), gpu: kernels.length ? median(kernels) : undefined };
}

const kernelMs = (gpu: Gpu) => [...(gpu.profiler?.totals.values() ?? [])].reduce((s, e) => s + e.ms, 0);

/** wall ms of one synced run of `run`, and the GPU ms of its kernels when profiling (cases that time parts of their run use it too) */
export async function timeOnce(gpu: Gpu, run: () => void | Promise<void>): Promise<{ wall: number; gpu?: number }> {
  await gpu.profiler?.settle();
  const before = kernelMs(gpu);
  const t0 = performance.now();
  await run();
  await gpu.sync();
  const wall = performance.now() - t0;
  await gpu.profiler?.settle();
  return { wall, gpu: gpu.profiler ? kernelMs(gpu) - before : undefined };
}

const HELP = `node dist/bench.js [--json] [--filter GROUP] [--reps N] [--batch B] [--fast] [--wall]
Times every kernel at GPT-2 124M shapes (batch 1 on a CPU adapter, 8 on a GPU), plus a GPT-2 124M
training step, prompt prefill and KV-cached decode. Each case: one warm-up, then the median of
--reps runs. Where the adapter offers timestamp-query, rates use the GPU time of the kernels
(timestamps around each dispatch); --wall uses wall-clock time of the synced run instead.
--fast turns on Dawn's speed toggles. Groups: matmul attention layernorm embedding residual gelu
crossentropy adamw gpt2.`;

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
  if (process.argv.includes('--help')) {
    console.log(HELP);
    return;
  }
  const json = process.argv.includes('--json');
  const filter = arg('--filter');
  const gpu = await getGpu({ fast: process.argv.includes('--fast') || undefined, profile: !process.argv.includes('--wall') || undefined });
  const big = !gpu.isCpu;
  const args: BenchArgs = { batch: intArg('--batch', big ? 8 : 1), big, reps: intArg('--reps', big ? 20 : 3) };
  const rows: Record<string, unknown>[] = [];
  const timing = gpu.profiler ? 'GPU timestamps' : 'wall clock';
  if (!json) console.log(`adapter: ${gpu.adapterName}; timing: ${timing}; median of ${args.reps}`);
  for (const { group, make } of groups) {
    if (filter && !group.includes(filter)) continue;
    for (const c of await make(gpu, args)) {
      const t = await timeCase(gpu, c, args.reps);
      const ms = t.gpu ?? t.wall;
      const note = c.report?.(ms);
      c.cleanup?.();
      const row = {
        group, name: c.name, shape: c.shape, ms: +ms.toFixed(3), wall_ms: +t.wall.toFixed(3),
        gflops: c.flops ? +(c.flops / ms / 1e6).toFixed(2) : undefined,
        gbps: c.bytes ? +(c.bytes / ms / 1e6).toFixed(2) : undefined,
        // tokens/s is what a user sees: wall clock, host work included
        tokens_per_s: c.tokens ? +((c.tokens * 1000) / t.wall).toFixed(1) : undefined,
        note,
      };
      rows.push(row);
      if (!json) {
        const rate = [row.gflops !== undefined ? `${row.gflops} GFLOP/s` : '', row.gbps !== undefined ? `${row.gbps} GB/s` : '',
          row.tokens_per_s !== undefined ? `${row.tokens_per_s} tok/s` : ''].filter(Boolean).join('  ');
        console.log(`${group.padEnd(12)} ${c.name.padEnd(28)} ${c.shape.padEnd(30)} ${ms.toFixed(2).padStart(9)} ms ${t.wall.toFixed(2).padStart(9)} wall  ${rate}`);
        if (note) console.log(`${' '.repeat(13)}${note}`);
      }
    }
  }
  if (json) console.log(JSON.stringify({ adapter: gpu.adapterName, timing, batch: args.batch, reps: args.reps, results: rows }, null, 1));
}
