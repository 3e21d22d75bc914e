// A tensor is a typed view of (part of) a pooled GPU buffer plus its shape.
// Views share the owner's buffer; only the owner returns it to the pool.
// An f16 tensor (weights that are never trained) holds 2-byte elements: offsets and bindings count in its
// own element size, a binding is rounded up to whole 4-byte words (the buffer is bucketed larger),
// and read/write convert to and from float32 on the CPU.
import type { Gpu } from './gpu.ts';
import { fromF16, toF16 } from '../util/f16.ts';

export type DType = 'f32' | 'u32' | 'i32' | 'f16';

/** bytes of one element of a dtype */
export const elementBytes = (d: DType): number => (d === 'f16' ? 2 : 4);

export class Tensor {
  grad: Tensor | null = null;
  private released = false;

  constructor(
    readonly gpu: Gpu,
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly label: string,
    /** offset into `buffer`, in elements */
    readonly offset = 0,
    readonly owner = true,
  ) {}

  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  /** bytes per element */
  get elementBytes(): number {
    return elementBytes(this.dtype);
  }
  get bytes(): number {
    return this.size * this.elementBytes;
  }
  get isReleased(): boolean {
    return this.released;
  }

  /** A binding of elements [start, start+count) of this tensor, for one kernel dispatch. */
  binding(start = 0, count = this.size - start): GPUBufferBinding {
    if (this.released) throw new Error(`tensor '${this.label}' used after release`);
    if (start < 0 || count <= 0 || start + count > this.size) {
      throw new Error(`tensor '${this.label}': binding [${start}, ${start + count}) out of range ${this.size}`);
    }
    const eb = this.elementBytes, offset = (this.offset + start) * eb;
    if (offset % 4) throw new Error(`tensor '${this.label}': binding at element ${start} starts inside a 4-byte word`);
    return { buffer: this.buffer, offset, size: Math.ceil((count * eb) / 4) * 4 };
  }

  /**
   * A binding of this tensor's buffer from element `first` to `end` (counted from the buffer's
   * start, in this tensor's element size), rounded up to whole 4-byte words. Unlike binding() it
   * may reach outside the tensor: for kernels that bind from an aligned offset before a view
   * (the view's start passed in their uniforms) or read a vec4 past its end.
   */
  bufferRange(first: number, end: number): GPUBufferBinding {
    if (this.released) throw new Error(`tensor '${this.label}' used after release`);
    const eb = this.elementBytes, offset = first * eb, size = Math.ceil(((end - first) * eb) / 4) * 4;
    // a mistake here would surface as a validation error that names no tensor
    if (!(Number.isInteger(first) && Number.isInteger(end) && first >= 0 && first < end && offset + size <= this.buffer.size)) {
      throw new Error(`tensor '${this.label}': buffer range [${first}, ${end}) is empty or outside its buffer of ${this.bufferElements} elements`);
    }
    if (offset % 4) throw new Error(`tensor '${this.label}': buffer range at element ${first} starts inside a 4-byte word`);
    return { buffer: this.buffer, offset, size };
  }
  /** elements the whole buffer under this tensor holds (a view's owner's, bucketed larger: see bufferRange) */
  get bufferElements(): number {
    return Math.floor(this.buffer.size / this.elementBytes);
  }

  /** A view of `shape` starting at element `start`; it must not outlive this tensor. */
  view(start: number, shape: readonly number[], label = `${this.label}[${start}..]`): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    if (start < 0 || start + n > this.size) throw new Error(`view of '${this.label}' out of range`);
    return new Tensor(this.gpu, this.buffer, shape, this.dtype, label, this.offset + start, false);
  }

  /** Same buffer, new shape (same element count). */
  reshape(shape: readonly number[]): Tensor {
    if (shape.reduce((a, b) => a * b, 1) !== this.size) throw new Error(`reshape of '${this.label}': ${this.shape} -> ${shape}`);
    return new Tensor(this.gpu, this.buffer, shape, this.dtype, this.label, this.offset, false);
  }

  /** The values as float32 (an f16 tensor's are converted exactly). */
  async read(): Promise<Float32Array> {
    if (this.dtype === 'f16') return fromF16(new Uint16Array(await this.gpu.readBytes(this.buffer, this.offset * 2, this.bytes)));
    return new Float32Array(await this.gpu.readBytes(this.buffer, this.offset * 4, this.bytes));
  }
  async readU32(): Promise<Uint32Array> {
    return new Uint32Array(await this.gpu.readBytes(this.buffer, this.offset * 4, this.bytes));
  }

  /** Write elements start..; an f16 tensor takes float32 values, rounded to nearest even (a write of whole 4-byte words: start and the count even, or the count reaching the end). */
  write(data: Float32Array | Uint32Array | Int32Array, start = 0): void {
    if (start + data.length > this.size) throw new Error(`write to '${this.label}': ${data.length} elements at ${start} > ${this.size}`);
    if (this.dtype !== 'f16') {
      this.gpu.writeBytes(this.buffer, (this.offset + start) * 4, data);
      return;
    }
    if (!(data instanceof Float32Array)) throw new Error(`write to f16 tensor '${this.label}': give float32 values`);
    if ((this.offset + start) % 2 || (data.length % 2 && start + data.length !== this.size)) {
      throw new Error(`write to f16 tensor '${this.label}': ${data.length} elements at ${start} are not whole 4-byte words`);
    }
    const h = new Uint16Array(data.length + (data.length % 2)); // the pad half lies past the tensor, in the bucketed buffer
    h.set(toF16(data));
    this.gpu.writeBytes(this.buffer, (this.offset + start) * 2, h);
  }

  release(): void {
    this.gpu.dropKept(this);
    if (this.released || !this.owner) return;
    this.released = true;
    this.gpu.pool.release(this.buffer);
    if (this.grad) {
      this.grad.release();
      this.grad = null;
    }
  }
}
