// Per-kernel GPU time from timestamp queries: each profiled dispatch gets its own pass
// with begin/end timestamps; results are resolved at flush and read back asynchronously.
// A reading of zero (or less) says nothing about the kernel (coarse or quantized timestamps):
// it is counted as missing, never as a time of 0.

const CAP = 512; // dispatches per query set (two timestamps each)

export class Profiler {
  private querySet: GPUQuerySet;
  private resolveBuf: GPUBuffer;
  private labels: string[] = [];
  private inflight: Promise<void>[] = [];
  private readBufs: GPUBuffer[] = [];
  /** per kernel: summed GPU time of its readings, dispatches timed, and dispatches whose reading was missing */
  readonly totals = new Map<string, { ms: number; count: number; missing: number }>();

  constructor(private device: GPUDevice) {
    this.querySet = device.createQuerySet({ label: 'profiler', type: 'timestamp', count: 2 * CAP });
    this.resolveBuf = device.createBuffer({
      label: 'profiler resolve', size: 16 * CAP, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
  }

  writes(label: string): GPUComputePassTimestampWrites {
    const i = this.labels.push(label) - 1;
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }
  full(): boolean {
    return this.labels.length === CAP;
  }

  private pendingRead: { buf: GPUBuffer; labels: string[] } | null = null;

  resolve(enc: GPUCommandEncoder): void {
    if (!this.labels.length) return;
    const n = this.labels.length;
    enc.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuf, 0);
    const buf =
      this.readBufs.pop() ??
      this.device.createBuffer({ label: 'profiler read', size: 16 * CAP, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    enc.copyBufferToBuffer(this.resolveBuf, 0, buf, 0, 16 * n);
    this.pendingRead = { buf, labels: this.labels };
    this.labels = [];
  }

  collect(): void {
    const r = this.pendingRead;
    if (!r) return;
    this.pendingRead = null;
    this.inflight.push(
      r.buf.mapAsync(GPUMapMode.READ).then(() => {
        const t = new BigUint64Array(r.buf.getMappedRange().slice(0));
        r.labels.forEach((label, i) => {
          const ms = Number(t[2 * i + 1] - t[2 * i]) / 1e6;
          const e = this.totals.get(label) ?? { ms: 0, count: 0, missing: 0 };
          e.count++;
          if (ms > 0) e.ms += ms;
          else e.missing++;
          this.totals.set(label, e);
        });
        r.buf.unmap();
        this.readBufs.push(r.buf);
      }),
    );
  }

  async settle(): Promise<void> {
    await Promise.all(this.inflight.splice(0));
  }

  reset(): void {
    this.totals.clear();
  }

  /** Table of kernels by total GPU time. */
  async report(): Promise<string> {
    await this.settle();
    const rows = [...this.totals].sort((a, b) => b[1].ms - a[1].ms);
    const total = rows.reduce((s, [, e]) => s + e.ms, 0);
    return rows
      .map(([k, e]) => `${e.ms.toFixed(2).padStart(10)} ms ${((100 * e.ms) / total).toFixed(1).padStart(5)}% ${String(e.count).padStart(6)}x  ${k}` +
        (e.missing ? ` (${e.missing} readings missing)` : ''))
      .join('\n');
  }
}
