// The browser edge of the GPU layer: the engine's device from navigator.gpu. openDevice asks
// for the adapter's own storage-binding and buffer limits (the WebGPU defaults, 128 MiB and
// 256 MiB, are far too small for GPT-2's embedding) and for shader-f16 and subgroups only
// where the adapter has them; the ops choose their kernels by what the device got
// (gpu.hasSubgroups8: subgroups of 4, as SwiftShader has, or none take the plain kernels).
import { Gpu } from '../gpu/gpu.ts';
import { openDevice } from '../gpu/device.ts';

/** Why this browser cannot run the engine, in words for the page, with what to try. */
export class NoWebGpu extends Error {}

export async function openBrowserGpu(): Promise<Gpu> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) {
    throw new NoWebGpu(
      window.isSecureContext
        ? 'This browser has no WebGPU (navigator.gpu is missing).'
        : 'WebGPU needs a secure page: open it from https:// or http://localhost (127.0.0.1), not from this address.',
    );
  }
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    throw new NoWebGpu(`WebGPU could not open an adapter (${(e as Error).message}).`);
  }
  if (!adapter) throw new NoWebGpu('WebGPU is there, but it found no GPU adapter (blocked driver, or WebGPU turned off for this GPU).');
  try {
    return new Gpu(await openDevice(adapter));
  } catch (e) {
    throw new NoWebGpu(`The GPU adapter refused to open a device (${(e as Error).message}).`);
  }
}
