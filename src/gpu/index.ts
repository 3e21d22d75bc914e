export { Gpu, getGpu, closeGpu, GpuValidationError, type Params, type Binding, type DispatchOptions } from './gpu.ts';
export { type GpuOptions } from './device.ts';
export { Tensor, type DType } from './tensor.ts';
export { kernel, parseParams, type Kernel, type ParamField } from './pipelines.ts';
