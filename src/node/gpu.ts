// The Node edge of the GPU layer: Dawn's WebGPU (npm `webgpu`), the WEBGPU_* environment
// variables, and the one process-wide device the commands share. src/gpu itself is
// host-neutral (WebGPU API and plain TypeScript only); a browser opens its device from
// navigator.gpu instead.
import { existsSync } from 'node:fs';
import { delimiter } from 'node:path';
import { create, globals } from 'webgpu';
import { Gpu } from '../gpu/gpu.ts';
import { describeAdapter, openDevice, type OpenedDevice } from '../gpu/device.ts';
import { UserError } from '../util/errors.ts';

Object.assign(globalThis, globals); // GPUBufferUsage, GPUMapMode, GPUBuffer, ... as a browser has them

export interface GpuOptions {
  /** part of the adapter's name as Dawn lists it, any case (env WEBGPU_ADAPTER; `node dist/bench.js --list-adapters`) */
  adapter?: string;
  /** 'vulkan' | 'metal' | 'd3d12' | ... (env WEBGPU_BACKEND) */
  backend?: string;
  /** Dawn speed toggles: no robustness, no validation, no workgroup zero-init (env WEBGPU_FAST=1) */
  fast?: boolean;
  /** per-kernel GPU timestamps, unquantized, when the adapter offers timestamp-query (env WEBGPU_PROFILE=1) */
  profile?: boolean;
  /** individual Dawn toggles to enable, to measure one at a time (env WEBGPU_TOGGLES=a,b) */
  toggles?: string[];
  /** each dispatch in its own submit and error scope, so errors name their kernel (env WEBGPU_DEBUG=1) */
  debug?: boolean;
}

export const FAST_TOGGLES = ['disable_robustness', 'skip_validation', 'disable_workgroup_init'];

/** the values of Dawn's `backend=` instance flag (any case): what WEBGPU_BACKEND may say */
const BACKENDS = ['vulkan', 'metal', 'd3d12', 'd3d11', 'opengl', 'opengles', 'null', 'webgpu'];

/** a mistyped WEBGPU_BACKEND made Dawn list no adapter, which read as 'no adapter: run npm run setup' */
function checkBackend(backend: string | undefined): void {
  if (backend !== undefined && !BACKENDS.includes(backend.toLowerCase())) {
    throw new UserError(`WEBGPU_BACKEND=${backend} is not one of Dawn's backends (${BACKENDS.join(', ')}): correct it, or unset it to let Dawn choose`);
  }
}

/** what a WEBGPU_BACKEND this machine has no adapter for gets (the plain 'no adapter' message would send the user to install drivers) */
const noAdapterOn = (backend: string) =>
  new UserError(`no WebGPU adapter on the ${backend} backend (WEBGPU_BACKEND): unset it to let Dawn choose; \`node dist/bench.js --list-adapters\` without it shows each adapter's backend`);

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

/**
 * Vulkan drivers that Dawn can use but the Vulkan loader does not find on its own: SwiftShader
 * (Vulkan on the CPU, what headless Chromium runs WebGPU on) from Debian's `chromium` package.
 * They join the search only when an adapter is picked by name or listed, so the default choice
 * never changes; an explicit VK_ICD_FILENAMES / VK_DRIVER_FILES is left alone.
 */
export const EXTRA_VULKAN_DRIVERS = ['/usr/lib/chromium/vk_swiftshader_icd.json'];

/** `f` with the extra drivers added to the Vulkan loader's search (it reads the variable when Dawn creates its instance). */
async function withExtraDrivers<T>(f: () => Promise<T>): Promise<T> {
  const env = process.env;
  const extra = EXTRA_VULKAN_DRIVERS.filter((p) => existsSync(p));
  if (env.VK_ICD_FILENAMES || env.VK_DRIVER_FILES || !extra.length) return f();
  const saved = env.VK_ADD_DRIVER_FILES;
  env.VK_ADD_DRIVER_FILES = [saved, ...extra].filter(Boolean).join(delimiter);
  try {
    return await f();
  } finally {
    if (saved === undefined) delete env.VK_ADD_DRIVER_FILES;
    else env.VK_ADD_DRIVER_FILES = saved;
  }
}

/** An adapter as Dawn lists it: its backend and its name (what Dawn's `adapter=` flag matches). */
export interface AdapterEntry {
  backend: string;
  name: string;
}

/** Dawn's adapters, from the list Dawn prints when asked for an adapter it does not have. */
async function dawnAdapterList(backend?: string): Promise<AdapterEntry[]> {
  const flags = [...(backend ? [`backend=${backend}`] : []), 'adapter=\u0001 list the adapters'];
  let message = '';
  try {
    await (create(flags) as GPU).requestAdapter();
  } catch (e) {
    message = (e as Error).message;
  }
  return [...message.matchAll(/^ \* backend: '([^']*)', name: '(.*)'$/gm)].map((m) => ({ backend: m[1], name: m[2] }));
}

/**
 * The adapter that `wanted` names: the one whose Dawn name contains it, ignoring case
 * ('lavapipe' also finds Mesa's llvmpipe). Several adapters with different names match only
 * when one of them is named exactly that; no match or an ambiguous one is a UserError that lists them.
 */
export function pickAdapter(wanted: string, adapters: AdapterEntry[]): AdapterEntry {
  const w = wanted.toLowerCase().replace(/^lavapipe$/, 'llvmpipe');
  const matches = adapters.filter((a) => a.name.toLowerCase().includes(w));
  const names = [...new Set(matches.map((a) => a.name))];
  const exact = matches.find((a) => a.name.toLowerCase() === w);
  if (names.length === 1 || exact) return exact ?? matches[0];
  const seen = adapters.length ? adapters.map((a) => `'${a.name}' (${a.backend})`).join(', ') : 'none';
  throw new UserError(
    names.length
      ? `WEBGPU_ADAPTER=${wanted} matches several adapters (${names.map((n) => `'${n}'`).join(', ')}); give more of the name.`
      : `no WebGPU adapter named like '${wanted}' (WEBGPU_ADAPTER); Dawn sees: ${seen}. \`node dist/bench.js --list-adapters\` shows them.`,
  );
}

/** What an adapter offers the engine, for `--list-adapters`. */
export interface AdapterDetails extends AdapterEntry {
  description: string;
  isCpu: boolean;
  /** what Dawn picks when WEBGPU_ADAPTER is not set */
  isDefault: boolean;
  /** found only through EXTRA_VULKAN_DRIVERS: reachable by name */
  extraDriver: boolean;
  subgroupMinSize: number;
  features: string[];
  maxStorageBufferBindingSize: number;
  maxComputeWorkgroupStorageSize: number;
}

/** Every adapter Dawn sees, the extra drivers' included, with what each offers the engine. */
export async function listAdapters(backend?: string): Promise<AdapterDetails[]> {
  checkBackend(backend);
  const key = (a: AdapterEntry) => `${a.backend}|${a.name}`;
  const system = new Set((await dawnAdapterList(backend)).map(key));
  const def = await (create(backend ? [`backend=${backend}`] : []) as GPU).requestAdapter({ powerPreference: 'high-performance' });
  const defName = def ? describeAdapter(def.info).name : null;
  return withExtraDrivers(async () => {
    const out: AdapterDetails[] = [];
    for (const entry of await dawnAdapterList(backend)) {
      const adapter = await (create([`backend=${entry.backend}`, `adapter=${entry.name}`]) as GPU).requestAdapter();
      if (!adapter) continue;
      const d = describeAdapter(adapter.info);
      const extraDriver = !system.has(key(entry));
      out.push({
        ...entry, description: d.name, isCpu: d.isCpu, isDefault: !extraDriver && d.name === defName, extraDriver,
        subgroupMinSize: adapter.features.has('subgroups') ? d.subgroupMinSize : 0,
        features: ['shader-f16', 'subgroups', 'timestamp-query'].filter((f) => adapter.features.has(f)),
        maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
        maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
      });
    }
    return out;
  });
}

/** Dawn's adapter with the options as Dawn instance flags. */
async function dawnAdapter(opts: GpuOptions): Promise<GPUAdapter> {
  checkBackend(opts.backend);
  const flags: string[] = [];
  if (opts.backend) flags.push(`backend=${opts.backend}`);
  const enable = new Set([...(opts.fast ? FAST_TOGGLES : []), ...(opts.toggles ?? [])]);
  enable.delete('timestamp_quantization');
  if (enable.size) flags.push(`enable-dawn-features=${[...enable].join(',')}`);
  // Quantized timestamps are multiples of 65.536 µs (0 for most kernels on a fast GPU): off whenever timestamps are read.
  if (opts.fast || opts.profile || opts.toggles?.includes('timestamp_quantization')) flags.push('disable-dawn-features=timestamp_quantization');
  const open = async () => {
    if (opts.adapter) {
      const listed = await dawnAdapterList(opts.backend);
      if (!listed.length && opts.backend) throw noAdapterOn(opts.backend);
      const picked = pickAdapter(opts.adapter, listed);
      flags.push(`adapter=${picked.name}`);
      if (!opts.backend) flags.push(`backend=${picked.backend}`);
    }
    const gpu = create(flags) as GPU;
    keepAlive.push(gpu);
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    keepAlive.push(adapter);
    return adapter;
  };
  let adapter: GPUAdapter | null = null;
  try {
    adapter = opts.adapter ? await withExtraDrivers(open) : await open();
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`could not open a WebGPU adapter (${(e as Error).message.split('\n')[0]}).`);
  }
  if (!adapter && opts.backend) throw noAdapterOn(opts.backend);
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

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Await a Dawn promise (a map, work done) without spinning. Dawn's binding polls for it in a
 * setImmediate loop, at every turn of the event loop: for the whole wait a core runs flat out and
 * the garbage collector runs every few milliseconds (each poll allocates). On a CPU adapter that
 * core is the device's: lavapipe on 2 cores trained a step about 1.5x as slowly. Blocking the
 * thread for 1 ms at each turn (Atomics.wait) leaves the core to the device; the answer is seen
 * at most a millisecond later, and timers, I/O and signals are still served at every turn.
 */
export function awaitPaced<T>(answer: Promise<T>): Promise<T> {
  let done = false;
  const turn = () => {
    if (done) return;
    Atomics.wait(pause, 0, 0, 1);
    setImmediate(turn);
  };
  setImmediate(turn);
  return answer.finally(() => (done = true));
}

/** A device of its own (options from the environment unless given); the caller destroys it. */
export async function openGpu(opts: GpuOptions = {}): Promise<Gpu> {
  const o = optionsFromEnv(opts);
  const opened = await openDawnDevice(o);
  // on a GPU the spin costs a core the device does not use, and a millisecond is a token of generation
  const awaitDevice = describeAdapter(opened.info).isCpu ? awaitPaced : undefined;
  return new Gpu(opened, { profile: o.profile, debug: o.debug, awaitDevice });
}

let shared: Promise<Gpu> | null = null;

/** The process-wide device (options from the environment unless given on first call). */
export function getGpu(opts: GpuOptions = {}): Promise<Gpu> {
  shared ??= openGpu(opts);
  return shared;
}

export async function closeGpu(): Promise<void> {
  if (!shared) return;
  const g = await shared.catch(() => null);
  shared = null;
  g?.destroy();
}
