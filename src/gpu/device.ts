// Opening the engine's device on an adapter the host found (Node: Dawn, src/node/gpu.ts; a
// browser: navigator.gpu): the optional features the kernels can use, and the adapter's own
// values for the limits the engine sizes its work by (the WebGPU defaults are far smaller).

/** A device and what the engine needs to know about its adapter. */
export interface OpenedDevice {
  device: GPUDevice;
  info: GPUAdapterInfo;
}

const FEATURES: GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];

/** The limits the engine relies on: bindings and buffers as large as the adapter allows, workgroup sizes and counts, bindings per kernel. */
const LIMITS = [
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY', 'maxStorageBuffersPerShaderStage', 'maxComputeWorkgroupsPerDimension',
] as const;

/** requestDevice with the features and limits above; the adapter's rejection propagates. */
export async function openDevice(adapter: GPUAdapter): Promise<OpenedDevice> {
  const requiredFeatures = FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMITS) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({ label: 'gpt2-webgpu', requiredFeatures, requiredLimits });
  return { device, info: adapter.info };
}

/** A readable adapter name, whether it is a software (CPU) adapter, and its smallest subgroup size (0 if unknown). */
export function describeAdapter(info: GPUAdapterInfo): { name: string; isCpu: boolean; subgroupMinSize: number } {
  // a browser may hide device and description: the architecture ('swiftshader') then says more than the vendor alone
  const parts = info.device || info.description ? [info.vendor, info.device, info.description] : [info.vendor, info.architecture];
  const name = parts.filter(Boolean).join(' ').trim() || 'unknown adapter';
  const isCpu = /llvmpipe|lavapipe|swiftshader|software/i.test(`${name} ${info.architecture}`) || (info as { type?: string }).type === 'cpu';
  const subgroupMinSize = (info as GPUAdapterInfo & { subgroupMinSize?: number }).subgroupMinSize ?? 0;
  return { name, isCpu, subgroupMinSize };
}
