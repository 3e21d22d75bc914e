// The GPU layer: uniforms passed by name, error reporting (a bad dispatch is reported, and
// WEBGPU_DEBUG names its kernel), texel textures and the textures kept with tensors.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { kernel, parseParams, TEXEL_ROW } from '../src/gpu/index.ts';
import { openGpu, pickAdapter } from '../src/node/gpu.ts';
import { geluForward, geluForwardCpu } from '../src/ops/gelu.ts';
import { adapterHas, assertClose, gpu, randn } from './util.ts';

const t = suite('gpu');

// Copies its uniform's raw bits out, so the test sees exactly what the dispatch wrote.
const echo = kernel('echo_params', `
struct Params {
  big: u32,    // above i32's range
  neg: i32,
  x: f32, /* a float */ whole: f32,
  last: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(1)
fn main() {
  out[0] = p.big;
  out[1] = bitcast<u32>(p.neg);
  out[2] = bitcast<u32>(p.x);
  out[3] = bitcast<u32>(p.whole);
  out[4] = p.last;
}`);
// 12 bytes: a struct size that is not a multiple of 16
const echo3 = kernel('echo3', `
struct Params { a: f32, b: i32, c: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(1)
fn main() { out[0] = bitcast<u32>(p.a); out[1] = bitcast<u32>(p.b); out[2] = p.c; }`);

const bits = (v: number, type: 'f32' | 'i32') => {
  const d = new DataView(new ArrayBuffer(4));
  if (type === 'f32') d.setFloat32(0, v, true);
  else d.setInt32(0, v, true);
  return d.getUint32(0, true);
};

t('params: each field written by name at its offset as its declared type', async () => {
  const g = await gpu();
  const out = g.zeros([5], 'out', 'u32');
  g.dispatch(echo, { params: { last: 9, whole: 3, x: 0.1, neg: -7, big: 4e9 }, bindings: [out], workgroups: 1 });
  assert.equal([...(await out.readU32())], [4e9, bits(-7, 'i32'), bits(0.1, 'f32'), bits(3, 'f32'), 9]);
  const out3 = g.zeros([3], 'out', 'u32');
  g.dispatch(echo3, { params: { a: -2.5, b: 5, c: 6 }, bindings: [out3], workgroups: 1 });
  assert.equal([...(await out3.readU32())], [bits(-2.5, 'f32'), 5, 6]);
  out.release();
  out3.release();
});

t('params: a missing, extra or unrepresentable value throws, naming kernel and field', async () => {
  const g = await gpu();
  const out = g.zeros([5], 'out', 'u32');
  const ok = { big: 1, neg: -1, x: 0, whole: 0, last: 0 };
  const run = (params?: Record<string, number>) => () => g.dispatch(echo, { params, bindings: [out], workgroups: 1 });
  const { last: _, ...missing } = ok;
  assert.throws(run(missing), /echo_params\.main: missing param 'last'/);
  assert.throws(run({ ...ok, M: 1 }), /echo_params\.main: unknown param 'M'/);
  assert.throws(run({ ...ok, big: -1 }), /echo_params\.main: param 'big' is a u32, got -1/);
  assert.throws(run({ ...ok, neg: 1.5 }), /echo_params\.main: param 'neg' is an i32, got 1\.5/);
  assert.throws(run(undefined), /echo_params\.main: no params given/);
  await g.sync(); // nothing was recorded by the failed calls
  out.release();
});

// The uniform sits at a dynamic offset: a dispatch of the same buffers reuses its bind group
// whatever ring slot its params land in (a step whose dispatch count varies shifted every later
// slot, and each dispatch after it created a new bind group).
t('params: each dispatch of a batch reads its own slot; the same buffers at another slot reuse the bind group', async () => {
  const g = await gpu();
  const a = g.zeros([3], 'a', 'u32'), b = g.zeros([3], 'b', 'u32');
  const create = g.device.createBindGroup;
  let created = 0;
  g.device.createBindGroup = function (d: GPUBindGroupDescriptor) {
    created++;
    return create.call(this, d);
  };
  try {
    g.dispatch(echo3, { params: { a: 1, b: 2, c: 3 }, bindings: [a], workgroups: 1 });
    g.dispatch(echo3, { params: { a: 4, b: 5, c: 6 }, bindings: [b], workgroups: 1 });
    await g.sync();
    created = 0;
    // the next batch: a's dispatch goes to a slot it has not had
    for (let i = 0; i < 3; i++) g.dispatch(echo3, { params: { a: 4, b: 5, c: i }, bindings: [b], workgroups: 1 });
    g.dispatch(echo3, { params: { a: 7, b: -8, c: 9 }, bindings: [a], workgroups: 1 });
    assert.equal([...(await a.readU32())], [bits(7, 'f32'), bits(-8, 'i32'), 9]);
    assert.equal([...(await b.readU32())], [bits(4, 'f32'), 5, 2]);
    assert.is(created, 0, 'bind groups created for buffers bound before');
  } finally {
    g.device.createBindGroup = create;
    a.release();
    b.release();
  }
});

// Bind groups are cached by buffer: a step that gets the same buffers as the last one finds
// them all. Last-released-first handed a step's buffers out in the order the step before released
// them, different from step to step (tens of bind groups made again every training step).
t('pool: a size hands out its free buffer made first, whatever order they were released in', async () => {
  const g = await openGpu(); // a pool of its own
  try {
    const a = g.pool.acquire(1000, 'a'), b = g.pool.acquire(1000, 'b'), c = g.pool.acquire(1000, 'c');
    for (const order of [[a, b, c], [c, a, b], [b, c, a]]) {
      order.forEach((x) => g.pool.release(x));
      assert.equal([g.pool.acquire(1000, 'x'), g.pool.acquire(1000, 'y')], [a, b]);
      g.pool.release(a);
      g.pool.release(b);
      assert.is(g.pool.acquire(1000, 'z'), a);
      assert.is(g.pool.acquire(1000, 'w'), b);
      assert.is(g.pool.acquire(1000, 'v'), c);
    }
  } finally {
    g.destroy();
  }
});

t('parseParams: only u32/i32/f32 fields, at offsets 4*i', () => {
  assert.equal(parseParams('k', 'struct P { a: u32, b: f32 }', 'P'), [
    { name: 'a', type: 'u32', offset: 0 }, { name: 'b', type: 'f32', offset: 4 },
  ]);
  assert.throws(() => parseParams('mykernel', 'struct P { a: u32, v: vec4f }', 'P'), /mykernel: uniform field 'v: vec4f'/);
  assert.throws(() => parseParams('mykernel', 'struct P { @size(16) a: u32 }', 'P'), /mykernel: uniform field/);
  assert.throws(() => parseParams('mykernel', 'struct Q { a: u32 }', 'P'), /mykernel: .*'P' is not a struct/);
});

async function badDispatch(debug: boolean): Promise<string> {
  const g = await gpu();
  const x = g.zeros([256], 'x'), y = g.tensor([256], 'y');
  const was = g.debug;
  g.debug = debug;
  try {
    // a storage binding at a byte offset that is not a multiple of 256 is invalid
    geluForward(x.view(3, [8]), y.view(0, [8]));
    await g.sync();
    return 'no error';
  } catch (e) {
    return (e as Error).message;
  } finally {
    g.debug = was;
    x.release();
    y.release();
  }
}

t('an invalid dispatch is reported as a WebGPU error', async () => {
  assert.match(await badDispatch(false), /^WebGPU error .*alignment/s);
});

t('in debug mode the error names the kernel', async () => {
  assert.match(await badDispatch(true), /^WebGPU validation error in gelu_forward_vec4\.main/);
});

t('WEBGPU_ADAPTER: part of a name Dawn lists, any case; no match or several distinct ones say so', () => {
  const listed = [
    { backend: 'vulkan', name: 'SwiftShader Device (Subzero)' },
    { backend: 'vulkan', name: 'llvmpipe (LLVM 15.0.6, 256 bits)' },
    { backend: 'vulkan', name: 'NVIDIA GeForce RTX 3080' },
    { backend: 'vulkan', name: 'NVIDIA GeForce RTX 3080 Ti' },
    { backend: 'opengl', name: 'NVIDIA GeForce RTX 3080' },
  ];
  assert.equal(pickAdapter('swiftshader', listed), listed[0]);
  assert.equal(pickAdapter('LLVMpipe', listed), listed[1]);
  assert.equal(pickAdapter('lavapipe', listed), listed[1]);
  assert.equal(pickAdapter('nvidia geforce rtx 3080', listed), listed[2], 'the exact name among longer ones');
  assert.equal(pickAdapter('3080 Ti', listed), listed[3]);
  assert.throws(() => pickAdapter('nvidia', listed), /matches several adapters \('NVIDIA GeForce RTX 3080', 'NVIDIA GeForce RTX 3080 Ti'\)/);
  assert.throws(() => pickAdapter('radeon', listed), /no WebGPU adapter named like 'radeon'.*'SwiftShader Device \(Subzero\)' \(vulkan\).*--list-adapters/);
  assert.throws(() => pickAdapter('radeon', []), /Dawn sees: none/);
});

// The profiler (WEBGPU_PROFILE=1, the benchmarks): one timestamp pair per dispatch, with Dawn's
// timestamp quantization off (else every reading is a multiple of 65.536 µs, most of them 0 on a GPU).
t('profiling: every dispatch timed per kernel, readings not quantized, results unchanged', async () => {
  const shared = await gpu();
  if (!adapterHas(shared, 'timestamps', 'gpu "profiling"')) return;
  const g = await openGpu({ profile: true });
  try {
    assert.ok(g.profiler, 'a profiler on an adapter with timestamp-query');
    const n = 1 << 20;
    const xs = randn(n, 1);
    const x = g.fromArray(xs, [n], 'x'), y = g.tensor([n], 'y');
    for (let i = 0; i < 5; i++) geluForward(x, y);
    assertClose(await y.read(), geluForwardCpu(xs), 1e-5, 1e-6, 'gelu while profiled');
    await g.profiler!.settle();
    const e = g.profiler!.totals.get('gelu_forward_vec4.main(K=4,WG=256)');
    assert.ok(e, `gelu timed: [${[...g.profiler!.totals.keys()]}]`);
    assert.is(e!.count, 5, 'one reading per dispatch');
    assert.is(e!.missing, 0, 'no missing reading for a million-element kernel');
    const ns = Math.round(e!.ms * 1e6);
    assert.ok(ns > 0 && ns % 65536 !== 0, `${ns} ns in 5 readings: quantized to 65.536 µs?`);
    assert.match(await g.profiler!.report(), /gelu_forward/);
  } finally {
    g.destroy();
  }
});

// A serial loop long enough that its readback waits a while (tens of ms on lavapipe).
const slow = kernel('slow_loop', `
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(1)
fn main() {
  var x = out[0];
  for (var i = 0u; i < p.n; i++) { x = x * 0.999999 + 1e-6; }
  out[0] = x;
}`);

// Dawn's binding polls for a readback at every turn of the event loop; on a CPU adapter the Gpu
// paces those turns (src/node/gpu.ts awaitPaced) instead of letting them spin a core the device needs.
t('a readback on a CPU adapter waits at about one event-loop turn a millisecond, not a spin', async () => {
  const g = await gpu();
  if (!g.isCpu) return; // a GPU keeps Dawn's spin: its waits are short and a millisecond counts there
  const out = g.zeros([1], 'out');
  let turns = 0, waiting = true;
  const count = () => {
    turns++;
    if (waiting) setImmediate(count);
  };
  try {
    g.dispatch(slow, { params: { n: 20_000_000 }, bindings: [out], workgroups: 1 });
    const t0 = performance.now();
    setImmediate(count);
    await out.read();
    waiting = false;
    const ms = performance.now() - t0;
    assert.ok(ms > 5, `the loop ran ${ms.toFixed(1)} ms: too short to tell`);
    assert.ok(turns <= 2 * ms + 10, `${turns} event-loop turns in ${ms.toFixed(0)} ms`);
  } finally {
    waiting = false;
    out.release();
  }
});

t('the device still works after a validation error', async () => {
  const g = await gpu();
  const x = g.fromArray(new Float32Array([0, 1]), [2], 'x'), y = g.tensor([2], 'y');
  geluForward(x, y);
  const out = await y.read();
  assert.ok(Math.abs(out[1] - 0.8411920071) < 1e-6);
  x.release();
  y.release();
});

// Texel textures: a copy lands at any texel (a part row, whole rows, a part row), next to what
// is there, and reads back exactly.
t('copyToTexels: at any texel offset, across texture rows; readTexels reads them back', async () => {
  const g = await gpu();
  const n = 2 * TEXEL_ROW + 100, at = TEXEL_ROW - 37;
  const a = randn(4 * n, 1), b = randn(4 * 50, 2);
  const ta = g.fromArray(a, [4 * n], 'a'), tb = g.fromArray(b, [4 * 50], 'b');
  const tex = g.texels(at + n + 50, 'texels');
  g.copyToTexels(ta, 0, n, tex, at);
  g.copyToTexels(tb, 0, 50, tex, at + n); // right after, starting mid-row
  assert.equal(Array.from(await g.readTexels(tex, at, n)), Array.from(a));
  assert.equal(Array.from(await g.readTexels(tex, at + n, 50)), Array.from(b));
  g.copyToTexels(ta, 8, 3, tex, 5); // from an element offset of the source
  assert.equal(Array.from(await g.readTexels(tex, 5, 3)), Array.from(a.subarray(8, 20)));
  assert.throws(() => g.copyToTexels(ta, 0, n, tex, tex.width * tex.height - n + 1), /run past texture/);
  g.releaseTexels(tex);
  [ta, tb].forEach((x) => x.release());
});

// A training step's last row chunk varies in size, and with it the panels' textures: a free
// texture up to twice as large serves, where only one of the same bucket did (and on lavapipe a
// new texture's view waits for the work in flight).
t('texels: a free texture of up to twice the rows serves a smaller request; an exact one only its own size', async () => {
  const g = await openGpu(); // a pool of its own: nothing else's free textures
  try {
    let created = 0;
    const create = g.device.createTexture;
    g.device.createTexture = function (d: GPUTextureDescriptor) {
      created++;
      return create.call(this, d);
    };
    const big = g.texels(50 * TEXEL_ROW, 'big'); // 56 rows (its bucket)
    g.releaseTexels(big);
    assert.is(g.texels(30 * TEXEL_ROW, 'smaller'), big, '32 rows from the 56-row texture');
    g.releaseTexels(big);
    assert.is.not(g.texels(20 * TEXEL_ROW, 'much smaller'), big, '20 rows: a texture of their own');
    assert.is.not(g.texels(30 * TEXEL_ROW, 'exact', true), big, 'an exact request is not served larger');
    assert.is(created, 3, 'textures created');
  } finally {
    g.destroy();
  }
});

// A texture kept with a tensor: current until the tensor is written, back to the pool with it.
t('kept textures: current until the tensor is written; a new one replaces it; released with the tensor', async () => {
  const g = await gpu();
  const w = g.fromArray(randn(64, 3), [64], 'w'), other = g.zeros([64], 'other');
  assert.is(g.kept(w, 'k'), undefined, 'nothing kept yet');
  const tex = g.texels(16, 'kept');
  g.keep(w, 'k', tex);
  assert.is(g.kept(w, 'k'), tex);
  assert.is(g.kept(w, 'other key'), undefined, 'another key');
  assert.is(g.keptBytes(w), tex.width * tex.height * 16);
  g.copy(w, other); // reading w changes nothing
  assert.is(g.kept(w, 'k'), tex, 'after a read');
  g.copy(other, w); // writing it does
  assert.is(g.kept(w, 'k'), undefined, 'after a write');
  g.keep(w, 'k', null); // cannot be made: that is kept too
  assert.is(g.kept(w, 'k'), null);
  assert.is(g.texels(16, 'again'), tex, 'the replaced texture went back to the pool');
  g.keep(w, 'k', tex);
  w.release();
  assert.is(g.keptBytes(w), 0, 'released with the tensor');
  assert.is(g.texels(16, 'again'), tex, 'back in the pool');
  g.releaseTexels(tex);
  other.release();
});

t('bufferRange: a binding from an element of the whole buffer, which may reach past a view; outside the buffer it names the tensor', async () => {
  const g = await gpu();
  const x = g.tensor([1000], 'whole'), v = x.view(100, [10], 'part');
  try {
    const b = v.bufferRange(64, 120);
    assert.is(b.offset, 256);
    assert.is(b.size, 224);
    assert.ok(v.bufferElements >= 1000);
    for (const [first, end] of [[-4, 10], [20, 10], [10, 10], [0, v.bufferElements + 1], [0.5, 10]]) {
      assert.throws(() => v.bufferRange(first, end), (e: Error) => /^tensor 'part': buffer range \[.*\) is empty or outside its buffer of \d+ elements$/.test(e.message), `[${first}, ${end})`);
    }
    const h = g.tensor([64], 'halves', 'f16');
    assert.throws(() => h.bufferRange(1, 8), (e: Error) => /^tensor 'halves': buffer range at element 1 starts inside a 4-byte word$/.test(e.message));
    h.release();
  } finally {
    x.release();
  }
});

t.run();
