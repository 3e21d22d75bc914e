export { Gpu, getGpu, closeGpu, f32, GpuValidationError, type Param, type Binding, type DispatchOptions } from './gpu.ts';
export { UserError, type GpuOptions } from './device.ts';
export { Tensor, type DType } from './tensor.ts';
export { kernel, type Kernel } from './pipelines.ts';
