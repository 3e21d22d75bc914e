// Microbenchmark harness: warm-up, median of several timed runs (GPU timestamps when the
// adapter offers them, else wall clock around a synced batch), one table or --json.
// Usage: node dist/bench.js [--json] [--filter NAME] [--reps N] [--batch B] [--fast]
import { closeGpu, getGpu, type Gpu } from '../src/gpu/index.ts';

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

async function timeCase(gpu: Gpu, c: BenchCase, reps: number): Promise<number> {
  await c.run(); // warm-up: pipelines, bind groups, caches
  await gpu.sync();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await c.run();
    await gpu.sync();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

export async function runBenchmarks(): Promise<void> {
  if (process.argv.includes('--help')) {
    console.log('node dist/bench.js [--json] [--filter NAME] [--reps N] [--batch B] [--fast]\n' +
      'Times every kernel at GPT-2 124M shapes (reduced batch on a CPU adapter). --fast turns on Dawn speed toggles.');
    return;
  }
  const json = process.argv.includes('--json');
  const filter = arg('--filter');
  const gpu = await getGpu({ fast: process.argv.includes('--fast') || undefined });
  const big = !gpu.isCpu;
  const args: BenchArgs = {
    batch: Number(arg('--batch') ?? (big ? 8 : 1)),
    big,
    reps: Number(arg('--reps') ?? (big ? 20 : 3)),
  };
  const rows: Record<string, unknown>[] = [];
  if (!json) console.log(`adapter: ${gpu.adapterName}`);
  for (const { group, make } of groups) {
    if (filter && !group.includes(filter)) continue;
    for (const c of await make(gpu, args)) {
      if (filter && !(group.includes(filter) || c.name.includes(filter))) continue;
      const ms = await timeCase(gpu, c, args.reps);
      c.cleanup?.();
      const row = {
        group, name: c.name, shape: c.shape, ms: +ms.toFixed(3),
        gflops: c.flops ? +(c.flops / ms / 1e6).toFixed(2) : undefined,
        gbps: c.bytes ? +(c.bytes / ms / 1e6).toFixed(2) : undefined,
        tokens_per_s: c.tokens ? +((c.tokens * 1000) / ms).toFixed(1) : undefined,
      };
      rows.push(row);
      if (!json) {
        const rate = [row.gflops !== undefined ? `${row.gflops} GFLOP/s` : '', row.gbps !== undefined ? `${row.gbps} GB/s` : '',
          row.tokens_per_s !== undefined ? `${row.tokens_per_s} tok/s` : ''].filter(Boolean).join('  ');
        console.log(`${group.padEnd(10)} ${c.name.padEnd(28)} ${c.shape.padEnd(28)} ${ms.toFixed(2).padStart(10)} ms  ${rate}`);
      }
    }
  }
  if (json) console.log(JSON.stringify({ adapter: gpu.adapterName, batch: args.batch, results: rows }, null, 1));
  await closeGpu();
}
