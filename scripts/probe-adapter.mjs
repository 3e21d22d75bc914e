// Exits 0 when Dawn finds a WebGPU adapter, 1 otherwise. Used by setup.sh.
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter().catch(() => null);
if (!adapter) { console.log('no WebGPU adapter'); process.exit(1); }
const info = adapter.info ?? {};
console.log(`adapter: ${info.vendor} ${info.architecture} ${info.device} ${info.description}`.replace(/\s+/g, ' '));
process.exit(0);
