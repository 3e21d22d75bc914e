// Opens Dawn's WebGPU adapter and device with the adapter's real limits and the
// optional features we can use. The only place that talks to `navigator.gpu`.
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);

export interface GpuOptions {
  /** adapter name substring as Dawn lists it (env WEBGPU_ADAPTER) */
  adapter?: string;
  /** 'vulkan' | 'metal' | 'd3d12' | ... (env WEBGPU_BACKEND) */
  backend?: string;
  /** Dawn speed toggles: no robustness, no validation, no workgroup zero-init (env WEBGPU_FAST=1) */
  fast?: boolean;
  /** per-kernel GPU timestamps when the adapter offers timestamp-query (env WEBGPU_PROFILE=1) */
  profile?: boolean;
  /** individual Dawn toggles to enable, to measure one at a time (env WEBGPU_TOGGLES=a,b) */
  toggles?: string[];
}

import { UserError } from '../util/errors.ts';

export const FAST_TOGGLES = ['disable_robustness', 'skip_validation', 'disable_workgroup_init'];

export interface OpenedDevice {
  device: GPUDevice;
  adapterName: string;
  isCpu: boolean;
  features: Set<string>;
  limits: GPUSupportedLimits;
}

export function optionsFromEnv(base: GpuOptions = {}): GpuOptions {
  const env = process.env;
  return {
    adapter: base.adapter ?? env.WEBGPU_ADAPTER,
    backend: base.backend ?? env.WEBGPU_BACKEND,
    fast: base.fast ?? env.WEBGPU_FAST === '1',
    profile: base.profile ?? env.WEBGPU_PROFILE === '1',
    toggles: base.toggles ?? (env.WEBGPU_TOGGLES ? env.WEBGPU_TOGGLES.split(',').filter(Boolean) : undefined),
  };
}

const keepAlive: unknown[] = [];

export async function openDevice(opts: GpuOptions): Promise<OpenedDevice> {
  const flags: string[] = [];
  if (opts.backend) flags.push(`backend=${opts.backend}`);
  if (opts.adapter) flags.push(`adapter=${opts.adapter}`);
  const enable = new Set([...(opts.fast ? FAST_TOGGLES : []), ...(opts.toggles ?? [])]);
  enable.delete('timestamp_quantization');
  if (enable.size) flags.push(`enable-dawn-features=${[...enable].join(',')}`);
  if (opts.fast || opts.toggles?.includes('timestamp_quantization')) flags.push('disable-dawn-features=timestamp_quantization');
  let adapter: GPUAdapter | null = null;
  try {
    const gpu = create(flags) as GPU;
    keepAlive.push(gpu); // if the GPU instance is garbage-collected, Dawn tears down the instance under the live device
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    keepAlive.push(adapter);
  } catch (e) {
    throw new UserError(`could not open a WebGPU adapter (${(e as Error).message.split('\n')[0]}).`);
  }
  if (!adapter) {
    throw new UserError(
      'no WebGPU adapter found. On a machine without a GPU run `npm run setup` (installs Mesa lavapipe >= 24 and the ' +
        'Vulkan loader); with a GPU, install its Vulkan/Metal/D3D12 driver.',
    );
  }
  const want: GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];
  const requiredFeatures = want.filter((f) => adapter!.features.has(f));
  const l = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
  };
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ label: 'gpt2-webgpu', requiredFeatures, requiredLimits });
  } catch (e) {
    throw new UserError(`the WebGPU adapter refused to open a device (${(e as Error).message.split('\n')[0]}); update the GPU driver or run \`npm run setup\`.`);
  }
  const info = adapter.info;
  const adapterName = [info.vendor, info.device, info.description].filter(Boolean).join(' ').trim() || 'unknown adapter';
  const isCpu = /llvmpipe|lavapipe|swiftshader|software/i.test(adapterName) || (info as { type?: string }).type === 'cpu';
  return { device, adapterName, isCpu, features: new Set(device.features as unknown as Iterable<string>), limits: device.limits };
}
