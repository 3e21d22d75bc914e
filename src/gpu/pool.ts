// Size-bucketed buffer reuse. A step allocates the same sizes every time, so after the
// first step every acquire is a hit and no GPUBuffer is created inside a step.


/** Round up to 256 bytes, and above 64 KiB to one of 8 steps per power of two (<= 12.5% waste). */
export function bucketSize(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes / 256) * 256);
  if (b <= 65536) return b;
  const step = 2 ** (Math.floor(Math.log2(b)) - 3);
  return Math.ceil(b / step) * step;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private ids = new WeakMap<GPUBuffer, number>();
  private nextId = 1;
  liveBytes = 0;
  pooledBytes = 0;
  peakBytes = 0;

  constructor(private device: GPUDevice) {}

  acquire(bytes: number, label: string): GPUBuffer {
    const size = bucketSize(bytes);
    const list = this.free.get(size);
    let buf: GPUBuffer | undefined;
    if (list?.length) {
      // the free buffer made first, not the last released: a step then gets the same buffers
      // whatever order the last one released them in, and its bind groups are found cached
      let first = 0;
      for (let i = 1; i < list.length; i++) if (this.ids.get(list[i])! < this.ids.get(list[first])!) first = i;
      buf = list[first];
      list[first] = list[list.length - 1];
      list.pop();
    }
    if (buf) {
      this.pooledBytes -= size;
      buf.label = label;
    } else {
      buf = this.device.createBuffer({ label, size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      this.ids.set(buf, this.nextId++);
    }
    this.liveBytes += size;
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes + this.pooledBytes);
    return buf;
  }

  release(buf: GPUBuffer): void {
    const size = buf.size;
    this.liveBytes -= size;
    this.pooledBytes += size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buf);
  }

  /** A stable small id per buffer, used in bind-group cache keys. */
  id(buf: GPUBuffer): number {
    let id = this.ids.get(buf);
    if (id === undefined) this.ids.set(buf, (id = this.nextId++));
    return id;
  }

  /** Destroy every pooled (unused) buffer. Work recorded with them must be submitted first (Gpu.trim): the device frees each once that work has run. */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.pooledBytes = 0;
  }
}
