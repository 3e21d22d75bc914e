// The engine's WebGPU layer, host-neutral: a host opens the device (src/node/gpu.ts in Node) and wraps it in a Gpu.
export { Gpu, GpuValidationError, TEXEL_ROW, type GpuSettings, type Texels, type Params, type Binding, type DispatchOptions } from './gpu.ts';
export { openDevice, describeAdapter, type OpenedDevice } from './device.ts';
export { elementBytes, Tensor, type DType } from './tensor.ts';
export { f16Weights, kernel, parseParams, type Kernel, type ParamField } from './pipelines.ts';
