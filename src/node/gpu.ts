// The Node edge of the GPU layer: Dawn's WebGPU (npm `webgpu`), the WEBGPU_* environment
// variables, and the one process-wide device the commands share. src/gpu itself is
// host-neutral (WebGPU API and plain TypeScript only); a browser opens its device from
// navigator.gpu instead.
import { create, globals } from 'webgpu';
import { Gpu } from '../gpu/gpu.ts';
import { openDevice, type OpenedDevice } from '../gpu/device.ts';
import { UserError } from '../util/errors.ts';

Object.assign(globalThis, globals); // GPUBufferUsage, GPUMapMode, GPUBuffer, ... as a browser has them

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
  /** each dispatch in its own submit and error scope, so errors name their kernel (env WEBGPU_DEBUG=1) */
  debug?: boolean;
}

export const FAST_TOGGLES = ['disable_robustness', 'skip_validation', 'disable_workgroup_init'];

export function optionsFromEnv(base: GpuOptions = {}): GpuOptions {
  const env = process.env;
  return {
    adapter: base.adapter ?? env.WEBGPU_ADAPTER,
    backend: base.backend ?? env.WEBGPU_BACKEND,
    fast: base.fast ?? env.WEBGPU_FAST === '1',
    profile: base.profile ?? env.WEBGPU_PROFILE === '1',
    toggles: base.toggles ?? (env.WEBGPU_TOGGLES ? env.WEBGPU_TOGGLES.split(',').filter(Boolean) : undefined),
    debug: base.debug ?? env.WEBGPU_DEBUG === '1',
  };
}

// If the GPU instance or the adapter is garbage-collected, Dawn tears the instance down under the live device.
const keepAlive: unknown[] = [];

/** Dawn's adapter with the options as Dawn instance flags. */
async function dawnAdapter(opts: GpuOptions): Promise<GPUAdapter> {
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
    keepAlive.push(gpu);
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
  return adapter;
}

async function openDawnDevice(opts: GpuOptions): Promise<OpenedDevice> {
  const adapter = await dawnAdapter(opts);
  try {
    return await openDevice(adapter);
  } catch (e) {
    throw new UserError(`the WebGPU adapter refused to open a device (${(e as Error).message.split('\n')[0]}); update the GPU driver or run \`npm run setup\`.`);
  }
}

let shared: Promise<Gpu> | null = null;

/** The process-wide device (options from the environment unless given on first call). */
export function getGpu(opts: GpuOptions = {}): Promise<Gpu> {
  shared ??= (async () => {
    const o = optionsFromEnv(opts);
    return new Gpu(await openDawnDevice(o), { profile: o.profile, debug: o.debug });
  })();
  return shared;
}

export async function closeGpu(): Promise<void> {
  if (!shared) return;
  const g = await shared.catch(() => null);
  shared = null;
  g?.destroy();
}
