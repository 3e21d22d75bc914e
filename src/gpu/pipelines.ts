// Pipeline cache keyed by kernel and override constants. Bind-group layouts are explicit,
// parsed from the kernel's `@binding(N) var<uniform|storage, ...>` and
// `@binding(N) var name: texture_storage_2d<rgba32float, read>` declarations, so every entry
// point of one .wgsl file shares one layout. The uniform's struct is parsed too, so a dispatch
// passes its fields by name.

export interface Kernel {
  /** file-level name, e.g. 'layernorm_forward_vec4'; used in labels and profiles */
  name: string;
  code: string;
  entryPoint: string;
}

export function kernel(name: string, code: string, entryPoint = 'main'): Kernel {
  return { name, code, entryPoint };
}

/**
 * The variant of `k` that reads f16 weights. The kernel declares its weights' storage type and
 * their load as f32 on lines that end in `// f16: <the same line for f16 weights>`; the variant
 * takes those. The f16 lines keep the halves in u32 words and widen them with unpack2x16float:
 * core WGSL, so no shader-f16 is needed, and on lavapipe (measured) a u32 load per lane
 * vectorizes where a load of f16 values per lane did not. Arithmetic stays f32.
 */
export function f16Weights(k: Kernel): Kernel {
  let n = 0;
  const code = k.code.replace(/^.*?\s*\/\/ f16: (.*)$/gm, (_, line: string) => (n++, line));
  if (!n) throw new Error(`${k.name}: no '// f16: ...' line to make an f16-weight variant of`);
  return { name: `${k.name}_f16`, code, entryPoint: k.entryPoint };
}

/** One field of a kernel's uniform struct: a 4-byte scalar at `offset` bytes. */
export interface ParamField {
  name: string;
  type: 'u32' | 'i32' | 'f32';
  offset: number;
}

export interface CachedPipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** binding numbers of the storage buffers and textures, in order; binding 0 is the uniform if present */
  storageBindings: number[];
  /** whether each of storageBindings is a read_write buffer (the kernel may write it) */
  writable: boolean[];
  /** the uniform struct's fields in declaration order, or null when the kernel has no uniform */
  params: ParamField[] | null;
  label: string;
  id: number;
}

const BINDING_RE = /@binding\((\d+)\)\s*var<\s*(uniform|storage)\s*(?:,\s*(read_write|read))?\s*>(?:\s*(\w+)\s*:\s*(\w+))?/g;
const TEXTURE_RE = /@binding\((\d+)\)\s*var\s+\w+\s*:\s*texture_storage_2d<\s*rgba32float\s*,\s*read\s*>/g;

/**
 * The fields of struct `type` in WGSL `code`. Only u32, i32 and f32 members are accepted: a
 * struct of 4-byte scalars has WGSL's plain layout (member i at byte 4*i, size 4*count; the
 * uniform address space adds padding rules only for nested structs and arrays), which is what
 * the dispatch writes.
 */
export function parseParams(kernelName: string, code: string, type: string): ParamField[] {
  const src = code.replace(/\/\/[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
  const m = new RegExp(`\\bstruct\\s+${type}\\s*\\{([^}]*)\\}`).exec(src);
  if (!m) throw new Error(`${kernelName}: the uniform's type '${type}' is not a struct declared in the kernel`);
  const fields: ParamField[] = [];
  for (const member of m[1].split(',').map((s) => s.trim()).filter(Boolean)) {
    const f = /^(\w+)\s*:\s*(\w+)$/.exec(member);
    if (!f || (f[2] !== 'u32' && f[2] !== 'i32' && f[2] !== 'f32')) {
      throw new Error(`${kernelName}: uniform field '${member}' of struct ${type} is not a u32, i32 or f32 scalar (the only kinds a dispatch writes)`);
    }
    fields.push({ name: f[1], type: f[2], offset: 4 * fields.length });
  }
  if (!fields.length) throw new Error(`${kernelName}: uniform struct ${type} has no fields`);
  return fields;
}

interface Layout {
  layout: GPUBindGroupLayout;
  storage: number[];
  writable: boolean[];
  params: ParamField[] | null;
}

export class PipelineCache {
  private modules = new Map<string, GPUShaderModule>();
  private layouts = new Map<string, Layout>();
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
    if (!lay) this.layouts.set(k.code, (lay = this.parseLayout(k)));
    const label = `${k.name}.${k.entryPoint}${ckeys.length ? `(${ckeys.map((c) => `${c}=${constants[c]}`).join(',')})` : ''}`;
    const pipeline = this.device.createComputePipeline({
      label,
      layout: this.device.createPipelineLayout({ label, bindGroupLayouts: [lay.layout] }),
      compute: { module, entryPoint: k.entryPoint, constants },
    });
    const cached = { pipeline, layout: lay.layout, storageBindings: lay.storage, writable: lay.writable, params: lay.params, label, id: this.nextId++ };
    this.pipelines.set(key, cached);
    return cached;
  }

  private parseLayout(k: Kernel): Layout {
    const entries: GPUBindGroupLayoutEntry[] = [];
    const storage: number[] = [];
    const written = new Set<number>();
    let params: ParamField[] | null = null;
    for (const m of k.code.matchAll(BINDING_RE)) {
      const binding = Number(m[1]);
      if (m[2] === 'uniform') {
        if (binding !== 0) throw new Error(`${k.name}: the uniform must be @binding(0)`);
        if (!m[5]) throw new Error(`${k.name}: cannot read the uniform's type from its declaration`);
        params = parseParams(k.name, k.code, m[5]);
        // a slot of the uniform ring, chosen at each dispatch (see Gpu.dispatch)
        entries.push({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } });
      } else {
        storage.push(binding);
        const type = m[3] === 'read_write' ? 'storage' : 'read-only-storage';
        if (type === 'storage') written.add(binding);
        entries.push({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type } });
      }
    }
    for (const m of k.code.matchAll(TEXTURE_RE)) {
      const binding = Number(m[1]);
      storage.push(binding);
      entries.push({ binding, visibility: GPUShaderStage.COMPUTE, storageTexture: { access: 'read-only', format: 'rgba32float' } });
    }
    storage.sort((a, b) => a - b);
    const layout = this.device.createBindGroupLayout({ label: `${k.name} layout`, entries });
    return { layout, storage, writable: storage.map((b) => written.has(b)), params };
  }
}
