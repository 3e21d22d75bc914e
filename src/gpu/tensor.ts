// A tensor is a typed view of (part of) a pooled GPU buffer plus its shape.
// Views share the owner's buffer; only the owner returns it to the pool.
import type { Gpu } from './gpu.ts';

export type DType = 'f32' | 'u32' | 'i32';

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
  get bytes(): number {
    return this.size * 4;
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
    return { buffer: this.buffer, offset: (this.offset + start) * 4, size: count * 4 };
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

  async read(): Promise<Float32Array> {
    return new Float32Array(await this.gpu.readBytes(this.buffer, this.offset * 4, this.bytes));
  }
  async readU32(): Promise<Uint32Array> {
    return new Uint32Array(await this.gpu.readBytes(this.buffer, this.offset * 4, this.bytes));
  }

  write(data: Float32Array | Uint32Array | Int32Array, start = 0): void {
    if (start + data.length > this.size) throw new Error(`write to '${this.label}': ${data.length} elements at ${start} > ${this.size}`);
    this.gpu.writeBytes(this.buffer, (this.offset + start) * 4, data);
  }

  release(): void {
    if (this.released || !this.owner) return;
    this.released = true;
    this.gpu.pool.release(this.buffer);
    if (this.grad) {
      this.grad.release();
      this.grad = null;
    }
  }
}
