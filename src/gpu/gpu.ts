// The engine's handle on one WebGPU device: tensors from a buffer pool, cached pipelines
// and bind groups, and command batching (dispatches accumulate in one encoder and are
// submitted together on flush/read, never one submit per op). Host-neutral: the host opens
// the device (src/node/gpu.ts in Node) and hands it over.
import { describeAdapter, type OpenedDevice } from './device.ts';
import { BufferPool, bucketSize } from './pool.ts';
import { PipelineCache, type CachedPipeline, type Kernel } from './pipelines.ts';
import { Profiler } from './profiler.ts';
import { elementBytes, Tensor, type DType } from './tensor.ts';

/** A texture from texels(): kernels read it as a read-only storage texture (matmul's packed panels). */
export type Texels = GPUTexture;
/** A storage buffer (a tensor, a whole buffer or a range of one), or a read-only storage texture (see texels()). */
export type Binding = Tensor | GPUBuffer | GPUBufferBinding | Texels;
/** Values of a kernel's uniform struct fields by name; each is written as the field's declared u32, i32 or f32. */
export type Params = Readonly<Record<string, number>>;

export interface DispatchOptions {
  /** every field of the kernel's uniform struct (binding 0), and no other name */
  params?: Params;
  bindings: Binding[];
  workgroups: number | readonly [number, number?, number?];
  constants?: Record<string, number>;
}

const SLOT = 256; // uniform ring slot size (>= minUniformBufferOffsetAlignment everywhere)
/** Width of the texel textures (texels()): 4096 rgba32float texels, 64 KiB a row. */
export const TEXEL_ROW = 4096;
const SLOTS = 4096;

export class GpuValidationError extends Error {}

export interface GpuSettings {
  /** per-kernel GPU timestamps, when the device has timestamp-query */
  profile?: boolean;
  /** each dispatch in its own submit and error scope, so errors name their kernel */
  debug?: boolean;
  /** how the host awaits the device's answers (a readback's map, sync's work done); default: as they are (src/node/gpu.ts slows Dawn's polling) */
  awaitDevice?: <T>(answer: Promise<T>) => Promise<T>;
}

export class Gpu {
  readonly device: GPUDevice;
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  /** per-kernel timestamps (settings.profile); a benchmark may set it to null for a while to time work as submitted unprofiled */
  profiler: Profiler | null;
  readonly adapterName: string;
  readonly isCpu: boolean;
  readonly features: Set<string>;
  readonly limits: GPUSupportedLimits;
  /** the adapter's smallest subgroup size, 0 without the subgroups feature */
  readonly subgroupMinSize: number;
  /** subgroups of at least 8 lanes: what the attention *_sg kernels and the panel matmul are written for */
  readonly hasSubgroups8: boolean;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pending = 0;
  private uniformRing: GPUBuffer;
  private uniformStaging = new DataView(new ArrayBuffer(SLOT * SLOTS));
  private slot = 0;
  private bindGroups = new Map<string, GPUBindGroup>();
  private freeTexels = new Map<number, GPUTexture[]>();
  private textureIds = new WeakMap<GPUTexture, { id: number; view: GPUTextureView }>();
  private writes = new WeakMap<GPUBuffer, number>();
  private keptTextures = new WeakMap<Tensor, { tex: GPUTexture | null; key: string; version: number }>();
  private errors: string[] = [];
  private debugScopes: Promise<string | null>[] = [];
  /** each dispatch in its own submit and error scope, so errors name their kernel (Node: env WEBGPU_DEBUG=1) */
  debug: boolean;
  private awaitDevice: <T>(answer: Promise<T>) => Promise<T>;
  private staging: GPUBuffer[] = [];
  lost: string | null = null;
  dispatches = 0;
  /** command buffers submitted so far (a training step should add one) */
  submits = 0;

  constructor(opened: OpenedDevice, settings: GpuSettings = {}) {
    this.device = opened.device;
    const adapter = describeAdapter(opened.info);
    this.adapterName = adapter.name;
    this.isCpu = adapter.isCpu;
    this.features = new Set(this.device.features as unknown as Iterable<string>);
    this.limits = this.device.limits;
    this.bindingLimit = this.limits.maxStorageBufferBindingSize;
    this.subgroupMinSize = this.features.has('subgroups') ? adapter.subgroupMinSize : 0;
    this.hasSubgroups8 = this.subgroupMinSize >= 8;
    this.debug = !!settings.debug;
    this.awaitDevice = settings.awaitDevice ?? ((answer) => answer);
    this.pool = new BufferPool(this.device);
    this.pipelines = new PipelineCache(this.device);
    this.profiler = settings.profile && this.features.has('timestamp-query') ? new Profiler(this.device) : null;
    this.uniformRing = this.device.createBuffer({
      label: 'uniform ring', size: SLOT * SLOTS, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.device.addEventListener('uncapturederror', (ev) => {
      this.errors.push((ev as GPUUncapturedErrorEvent).error.message);
    });
    this.device.lost.then((info) => {
      if (info.reason !== 'destroyed') this.lost = info.message || String(info.reason);
    });
  }

  /** Call `f` with the driver's message (it may be empty) if the device is lost other than by destroy(): a host's cue to tell its user. */
  onLost(f: (message: string) => void): void {
    void this.device.lost.then((info) => {
      if (info.reason !== 'destroyed') f(info.message);
    });
  }

  /** Largest storage binding in bytes. Ops split work on tensors larger than this; tests may lower it. */
  bindingLimit: number;

  // ---- tensors ----
  tensor(shape: readonly number[], label: string, dtype: DType = 'f32'): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    if (!(n > 0)) throw new Error(`tensor '${label}': bad shape [${shape}]`);
    return new Tensor(this, this.pool.acquire(Math.ceil((n * elementBytes(dtype)) / 4) * 4, label), shape, dtype, label);
  }
  zeros(shape: readonly number[], label: string, dtype: DType = 'f32'): Tensor {
    const t = this.tensor(shape, label, dtype);
    this.fill0(t);
    return t;
  }
  /** A tensor holding `data`; `as` 'f16' stores float32 data as f16 (rounded to nearest even: weights that are never trained). */
  fromArray(data: Float32Array | Uint32Array | Int32Array, shape: readonly number[], label: string, as?: 'f16'): Tensor {
    if (as && !(data instanceof Float32Array)) throw new Error(`fromArray '${label}': only float32 data can be stored as f16`);
    const dtype: DType = as ?? (data instanceof Float32Array ? 'f32' : data instanceof Uint32Array ? 'u32' : 'i32');
    const t = this.tensor(shape, label, dtype);
    if (t.size !== data.length) throw new Error(`fromArray '${label}': ${data.length} values for shape [${shape}]`);
    t.write(data);
    return t;
  }
  /**
   * How many writes to t's buffer have been recorded (dispatches binding it read_write, copies,
   * clears, uploads): whatever is derived from t and kept (matvec's packed weights) compares it
   * to know when to derive it again.
   */
  version(t: Tensor): number {
    return this.writes.get(t.buffer) ?? 0;
  }
  private wrote(buffer: GPUBuffer): void {
    this.writes.set(buffer, (this.writes.get(buffer) ?? 0) + 1);
  }

  /** Zero a tensor, ordered with the dispatches around it. */
  fill0(t: Tensor): void {
    this.wrote(t.buffer);
    this.endPass();
    const b = t.binding();
    this.enc().clearBuffer(t.buffer, b.offset!, b.size!);
    this.pending++;
  }
  /** Copy a tensor's contents, ordered with the dispatches around it. */
  copy(src: Tensor, dst: Tensor, count = src.size, srcStart = 0, dstStart = 0): void {
    if (src.dtype === 'f16' || dst.dtype === 'f16') throw new Error(`copy '${src.label}' -> '${dst.label}': f16 tensors are not copied`);
    this.wrote(dst.buffer);
    this.endPass();
    this.enc().copyBufferToBuffer(src.buffer, (src.offset + srcStart) * 4, dst.buffer, (dst.offset + dstStart) * 4, count * 4);
    this.pending++;
  }

  // ---- texel textures ----
  // rgba32float textures TEXEL_ROW texels wide that kernels read as read-only storage textures,
  // texel i at (i % TEXEL_ROW, i / TEXEL_ROW). On lavapipe a texture load gathers the 8 lanes'
  // texels with vector instructions where a storage-buffer load is a scalar loop over the lanes.

  /**
   * A pooled texture of at least `count` texels (`exact`: of just the rows they need, for a copy
   * kept long); its contents are undefined until written. A free texture of up to twice the rows
   * serves too: a training step's last row chunk varies in size from step to step, and on
   * lavapipe a new texture's first view was seen to wait for the work in flight (0.1-0.7 s).
   */
  texels(count: number, label: string, exact = false): Texels {
    const rows = exact ? Math.ceil(count / TEXEL_ROW) : bucketRows(Math.ceil(count / TEXEL_ROW));
    let fit = 0; // the fewest rows of a free texture that will do
    for (const [h, list] of this.freeTexels) {
      if (list.length && h >= rows && h < (exact ? rows + 1 : 2 * rows) && (!fit || h < fit)) fit = h;
    }
    if (fit) return this.freeTexels.get(fit)!.pop()!;
    if (rows > this.limits.maxTextureDimension2D) throw new Error(`texels '${label}': ${count} texels need ${rows} texture rows, over ${this.limits.maxTextureDimension2D}`);
    return this.device.createTexture({
      label, size: [TEXEL_ROW, rows], format: 'rgba32float', usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.COPY_DST | GPUTextureUsage.COPY_SRC,
    });
  }
  /** Return a texture from texels() to the pool (work recorded so far still reads it first: the queue runs in order). */
  releaseTexels(t: Texels): void {
    let list = this.freeTexels.get(t.height);
    if (!list) this.freeTexels.set(t.height, (list = []));
    list.push(t);
  }
  /**
   * Copy `count` texels (16 bytes each) of `src` from element `start` (a multiple of 4) into
   * texels `at`.. of `dst`, ordered with the dispatches: a part row, whole rows, a part row.
   */
  copyToTexels(src: Tensor, start: number, count: number, dst: Texels, at = 0): void {
    const byte = (src.offset + start) * 4;
    if (byte % 16 !== 0) throw new Error(`copyToTexels '${src.label}': element ${start} does not start a texel`);
    if (byte + count * 16 > src.buffer.size) throw new Error(`copyToTexels '${src.label}': ${count} texels run past the buffer`);
    if (at + count > dst.width * dst.height) throw new Error(`copyToTexels '${src.label}': texels ${at}..${at + count - 1} run past texture '${dst.label}'`);
    this.endPass();
    const enc = this.enc();
    for (let done = 0; done < count; ) {
      const x = (at + done) % TEXEL_ROW, y = Math.floor((at + done) / TEXEL_ROW);
      // from a row's start, as many whole rows as there are; else the rest of this row
      const rows = x === 0 ? Math.floor((count - done) / TEXEL_ROW) : 0;
      const width = rows ? TEXEL_ROW : Math.min(TEXEL_ROW - x, count - done);
      enc.copyBufferToTexture({ buffer: src.buffer, offset: byte + done * 16, bytesPerRow: TEXEL_ROW * 16 }, { texture: dst, origin: [x, y] }, [width, rows || 1]);
      done += width * (rows || 1);
    }
    this.pending++;
  }
  /** Texels start..start+count-1 of a texels() texture, read back (tests, debugging). */
  async readTexels(tex: Texels, start: number, count: number): Promise<Float32Array> {
    const y0 = Math.floor(start / TEXEL_ROW), y1 = Math.ceil((start + count) / TEXEL_ROW);
    const buf = this.pool.acquire((y1 - y0) * TEXEL_ROW * 16, 'texels readback');
    this.endPass();
    this.enc().copyTextureToBuffer({ texture: tex, origin: [0, y0] }, { buffer: buf, bytesPerRow: TEXEL_ROW * 16 }, [TEXEL_ROW, y1 - y0]);
    this.pending++;
    try {
      return new Float32Array(await this.readBytes(buf, (start - y0 * TEXEL_ROW) * 16, count * 16));
    } finally {
      this.pool.release(buf);
    }
  }

  // ---- textures kept with a tensor (matmul's packed weights) ----
  // One per tensor, with what it holds (`key`) and the tensor's write count when it was made:
  // current until the tensor is written again; back to the pool when the tensor is released.

  /** The texture kept with t under `key` (null: it could not be made) if t has not been written since; undefined if there is none */
  kept(t: Tensor, key: string): Texels | null | undefined {
    const e = this.keptTextures.get(t);
    return e && e.key === key && e.version === this.version(t) ? e.tex : undefined;
  }
  /** Keep `tex` (just made from t; null: it cannot be made) with t under `key`, in place of what was kept */
  keep(t: Tensor, key: string, tex: Texels | null): void {
    this.dropKept(t);
    this.keptTextures.set(t, { tex, key, version: this.version(t) });
  }
  /** Return the texture kept with t to the pool (Tensor.release does) */
  dropKept(t: Tensor): void {
    const e = this.keptTextures.get(t);
    this.keptTextures.delete(t);
    if (e?.tex) this.releaseTexels(e.tex);
  }
  /** Bytes of the texture kept with t (0 without one) */
  keptBytes(t: Tensor): number {
    const tex = this.keptTextures.get(t)?.tex;
    return tex ? tex.width * tex.height * 16 : 0;
  }
  /** Whether a tensor of `bytes` can be had (the pool rounds sizes up to its buckets) */
  bufferFits(bytes: number): boolean {
    return bucketSize(bytes) <= this.limits.maxBufferSize;
  }
  /** Destroy the pooled (unused) buffers: one-off large ones the pool should not keep. The device frees each once the work using it has run. */
  trim(): void {
    this.flush(); // destroy() waits for submitted work, not for work still being recorded
    this.pool.trim();
  }

  private texture(t: GPUTexture): { id: number; view: GPUTextureView } {
    let e = this.textureIds.get(t);
    if (!e) this.textureIds.set(t, (e = { id: this.nextTextureId++, view: t.createView() }));
    return e;
  }
  private nextTextureId = 1;

  // ---- dispatch and batching ----
  private enc(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder({ label: 'batch' }));
  }
  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  dispatch(k: Kernel, o: DispatchOptions): void {
    const p = this.pipelines.get(k, o.constants);
    if (o.bindings.length !== p.storageBindings.length) {
      throw new Error(`${p.label}: ${o.bindings.length} bindings given, kernel declares ${p.storageBindings.length}`);
    }
    const [x, y = 1, z = 1] = typeof o.workgroups === 'number' ? [o.workgroups] : o.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const maxWg = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) throw new Error(`${p.label}: workgroups [${x},${y},${z}] exceed ${maxWg}`);
    if (p.params && this.slot === SLOTS) this.flush();
    if (this.debug) this.flush(); // this dispatch will go alone
    let key = `${p.id}`;
    const entries: GPUBindGroupEntry[] = [];
    // the uniform is bound at a dynamic offset (its ring slot), so the bind group does not depend on the slot
    const dynamicOffsets: number[] = [];
    if (p.params) {
      const base = this.slot++ * SLOT;
      this.writeParams(p, o.params, base);
      entries.push({ binding: 0, resource: { buffer: this.uniformRing, offset: 0, size: SLOT } });
      dynamicOffsets.push(base);
    } else if (o.params) throw new Error(`${p.label}: params given, but the kernel declares no uniform`);
    o.bindings.forEach((b, i) => {
      if (b instanceof GPUTexture) {
        const t = this.texture(b);
        entries.push({ binding: p.storageBindings[i], resource: t.view });
        key += `|t${t.id}`;
        return;
      }
      const r: GPUBufferBinding =
        b instanceof Tensor ? b.binding() : 'buffer' in b && !(b instanceof GPUBuffer) ? b : { buffer: b as GPUBuffer };
      const size = r.size ?? r.buffer.size - (r.offset ?? 0);
      if (size > this.bindingLimit) {
        throw new Error(`${p.label}: binding ${i} is ${size} bytes, over this adapter's ${this.bindingLimit}-byte storage binding limit`);
      }
      entries.push({ binding: p.storageBindings[i], resource: r });
      if (p.writable[i]) this.wrote(r.buffer);
      key += `|${this.pool.id(r.buffer)}:${r.offset ?? 0}:${size}`;
    });
    // debug: this dispatch alone in its own submit, inside an error scope, so a failure names its kernel
    if (this.debug) this.device.pushErrorScope('validation');
    try {
      let bg = this.bindGroups.get(key);
      if (!bg) {
        if (this.bindGroups.size > 50000) this.bindGroups.clear();
        bg = this.device.createBindGroup({ label: p.label, layout: p.layout, entries });
        this.bindGroups.set(key, bg);
      }
      const record = (pass: GPUComputePassEncoder) => {
        pass.setPipeline(p.pipeline);
        pass.setBindGroup(0, bg, dynamicOffsets);
        pass.dispatchWorkgroups(x, y, z);
      };
      if (this.profiler) {
        this.endPass();
        const pass = this.enc().beginComputePass({ label: p.label, timestampWrites: this.profiler.writes(p.label) });
        record(pass);
        pass.end();
      } else record((this.pass ??= this.enc().beginComputePass({ label: 'batch' })));
      this.pending++;
      this.dispatches++;
      if (this.debug || this.profiler?.full()) this.flush();
    } finally {
      if (this.debug) this.debugScopes.push(this.device.popErrorScope().then((e) => (e ? `${p.label}: ${e.message}` : null)));
    }
  }

  /** Each field of the uniform struct at its offset, as its declared type; a missing, extra or unrepresentable value throws. */
  private writeParams(p: CachedPipeline, params: Params | undefined, base: number): void {
    const fields = p.params!;
    if (!params) throw new Error(`${p.label}: no params given; the kernel's uniform has ${fields.map((f) => f.name).join(', ')}`);
    if (4 * fields.length > SLOT) throw new Error(`${p.label}: ${fields.length} uniform fields do not fit a ${SLOT}-byte uniform slot`);
    const view = this.uniformStaging;
    for (const f of fields) {
      const v = params[f.name];
      if (v === undefined) throw new Error(`${p.label}: missing param '${f.name}'`);
      if (f.type === 'f32') view.setFloat32(base + f.offset, v, true);
      else if (f.type === 'u32') {
        if (!(Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) throw new Error(`${p.label}: param '${f.name}' is a u32, got ${v}`);
        view.setUint32(base + f.offset, v, true);
      } else {
        if (!(Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff)) throw new Error(`${p.label}: param '${f.name}' is an i32, got ${v}`);
        view.setInt32(base + f.offset, v, true);
      }
    }
    for (const name in params) {
      if (!fields.some((f) => f.name === name)) {
        throw new Error(`${p.label}: unknown param '${name}'; the kernel's uniform has ${fields.map((f) => f.name).join(', ')}`);
      }
    }
  }

  /** Submit everything recorded so far (one command buffer). */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    if (this.slot > 0) {
      this.device.queue.writeBuffer(this.uniformRing, 0, this.uniformStaging.buffer, 0, this.slot * SLOT);
      this.slot = 0;
    }
    this.profiler?.resolve(this.encoder);
    this.device.queue.submit([this.encoder.finish()]);
    this.submits++;
    this.profiler?.collect();
    this.encoder = null;
    this.pending = 0;
    this.checkErrors();
  }

  /** Flush and wait until the GPU has finished all submitted work. */
  async sync(): Promise<void> {
    this.flush();
    await this.awaitDevice(this.device.queue.onSubmittedWorkDone());
    await this.checkDebug();
    this.checkErrors();
  }

  private checkErrors(): void {
    if (this.lost) throw new GpuValidationError(`WebGPU device lost: ${this.lost}`);
    if (this.errors.length) {
      const msg = this.errors.splice(0).join('\n');
      throw new GpuValidationError(`WebGPU error (set WEBGPU_DEBUG=1 to name the kernel): ${msg}`);
    }
  }
  private async checkDebug(): Promise<void> {
    const found = (await Promise.all(this.debugScopes.splice(0))).filter(Boolean);
    if (found.length) throw new GpuValidationError(`WebGPU validation error in ${found.join('\n')}`);
  }

  // ---- host <-> device ----
  writeBytes(buffer: GPUBuffer, byteOffset: number, data: ArrayBufferView): void {
    // queue.writeBuffer runs before the next submit; recorded work that is not submitted yet must go first
    if (this.pending > 0) this.flush();
    this.wrote(buffer);
    this.device.queue.writeBuffer(buffer, byteOffset, data.buffer, data.byteOffset, data.byteLength);
  }

  async readBytes(buffer: GPUBuffer, byteOffset: number, bytes: number): Promise<ArrayBuffer> {
    const size = Math.ceil(bytes / 4) * 4;
    const idx = this.staging.findIndex((b) => b.size >= size);
    const stage =
      idx >= 0
        ? this.staging.splice(idx, 1)[0]
        : this.device.createBuffer({ label: 'readback', size: Math.max(size, 256), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.endPass();
    this.enc().copyBufferToBuffer(buffer, byteOffset, stage, 0, size);
    this.pending++;
    this.flush();
    try {
      await this.awaitDevice(stage.mapAsync(GPUMapMode.READ, 0, size));
    } catch (e) {
      await this.checkDebug();
      this.checkErrors();
      throw e;
    }
    const out = stage.getMappedRange(0, size).slice(0, bytes);
    stage.unmap();
    this.staging.push(stage);
    await this.checkDebug();
    this.checkErrors();
    return out;
  }

  destroy(): void {
    for (const list of this.freeTexels.values()) for (const t of list) t.destroy();
    this.freeTexels.clear();
    try {
      this.flush();
    } catch {
      /* closing anyway */
    }
    this.device.destroy();
  }
}

/** Texture rows rounded up to one of 4 steps per power of two (<= 25% waste), so a few sizes serve every shape. */
function bucketRows(rows: number): number {
  if (rows <= 8) return Math.max(1, rows);
  const step = 2 ** (Math.floor(Math.log2(rows)) - 2);
  return Math.ceil(rows / step) * step;
}
