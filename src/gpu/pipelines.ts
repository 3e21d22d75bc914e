// Pipeline cache keyed by kernel and override constants. Bind-group layouts are explicit,
// parsed from the kernel's `@binding(N) var<uniform|storage, ...>` declarations, so every
// entry point of one .wgsl file shares one layout.

export interface Kernel {
  /** file-level name, e.g. 'layernorm_forward'; used in labels and profiles */
  name: string;
  code: string;
  entryPoint: string;
}

export function kernel(name: string, code: string, entryPoint = 'main'): Kernel {
  return { name, code, entryPoint };
}

export interface CachedPipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** binding numbers of the storage buffers, in order; binding 0 is the uniform if present */
  storageBindings: number[];
  hasUniform: boolean;
  label: string;
  id: number;
}

const BINDING_RE = /@binding\((\d+)\)\s*var<\s*(uniform|storage)\s*(?:,\s*(read_write|read))?\s*>/g;

export class PipelineCache {
  private modules = new Map<string, GPUShaderModule>();
  private layouts = new Map<string, { layout: GPUBindGroupLayout; storage: number[]; uniform: boolean }>();
  private pipelines = new Map<string, CachedPipeline>();
  private nextId = 1;

  constructor(private device: GPUDevice) {}

  get(k: Kernel, constants: Record<string, number> = {}): CachedPipeline {
    const ckeys = Object.keys(constants).sort();
    const key = `${k.name}:${k.entryPoint}:${ckeys.map((c) => `${c}=${constants[c]}`).join(',')}`;
    const hit = this.pipelines.get(key);
    if (hit) return hit;
    let module = this.modules.get(k.code);
    if (!module) {
      module = this.device.createShaderModule({ label: k.name, code: k.code });
      this.modules.set(k.code, module);
    }
    let lay = this.layouts.get(k.code);
    if (!lay) {
      const entries: GPUBindGroupLayoutEntry[] = [];
      const storage: number[] = [];
      let uniform = false;
      for (const m of k.code.matchAll(BINDING_RE)) {
        const binding = Number(m[1]);
        if (m[2] === 'uniform') {
          if (binding !== 0) throw new Error(`${k.name}: the uniform must be @binding(0)`);
          uniform = true;
          entries.push({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } });
        } else {
          storage.push(binding);
          const type = m[3] === 'read_write' ? 'storage' : 'read-only-storage';
          entries.push({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type } });
        }
      }
      storage.sort((a, b) => a - b);
      const layout = this.device.createBindGroupLayout({ label: `${k.name} layout`, entries });
      this.layouts.set(k.code, (lay = { layout, storage, uniform }));
    }
    const label = `${k.name}.${k.entryPoint}${ckeys.length ? `(${ckeys.map((c) => `${c}=${constants[c]}`).join(',')})` : ''}`;
    const pipeline = this.device.createComputePipeline({
      label,
      layout: this.device.createPipelineLayout({ label, bindGroupLayouts: [lay.layout] }),
      compute: { module, entryPoint: k.entryPoint, constants },
    });
    const cached = { pipeline, layout: lay.layout, storageBindings: lay.storage, hasUniform: lay.uniform, label, id: this.nextId++ };
    this.pipelines.set(key, cached);
    return cached;
  }
}
