// LayerNorm, embedding and residual kernels at GPT-2 124M shapes (N = batch*1024 rows, C = 768).
// GB/s counts the bytes each op must move at least once (rows reread from cache are not counted).
import { embeddingBackward, embeddingForward } from '../src/ops/embedding.ts';
import { layernormBackward, layernormForward } from '../src/ops/layernorm.ts';
import { addInto, residualForward } from '../src/ops/residual.ts';
import { Rng } from '../src/util/rng.ts';
import { registerBench } from './harness.ts';

const C = 768, T = 1024, V = 50257;

registerBench('layernorm', (gpu, { batch }) => {
  const N = batch * T;
  const x = gpu.zeros([N, C], 'x'), y = gpu.zeros([N, C], 'y'), d = gpu.zeros([N, C], 'dout'), dx = gpu.zeros([N, C], 'dx');
  const w = gpu.zeros([C], 'w'), b = gpu.zeros([C], 'b'), dw = gpu.zeros([C], 'dw'), db = gpu.zeros([C], 'db');
  const mean = gpu.zeros([N], 'mean'), rstd = gpu.zeros([N], 'rstd');
  const shape = `${N}x${C}`;
  return [
    { name: 'layernormForward', shape, bytes: 4 * (2 * N * C + 2 * N), run: () => layernormForward(x, w, b, y, mean, rstd, N, C, 1e-5) },
    {
      name: 'layernormBackward', shape, bytes: 4 * (4 * N * C + 2 * N),
      run: () => layernormBackward(d, x, w, mean, rstd, dx, dw, db, N, C),
      cleanup: () => [x, y, d, dx, w, b, dw, db, mean, rstd].forEach((t) => t.release()),
    },
  ];
});

registerBench('embedding', (gpu, { batch }) => {
  const N = batch * T;
  const rng = new Rng(1);
  const ids = Uint32Array.from({ length: N }, () => rng.int(V));
  const unique = new Set(ids).size;
  const tok = gpu.fromArray(ids, [N], 'tokens');
  const wte = gpu.zeros([V, C], 'wte'), wpe = gpu.zeros([T, C], 'wpe'), out = gpu.zeros([N, C], 'out');
  const dwte = gpu.zeros([V, C], 'dwte'), dwpe = gpu.zeros([T, C], 'dwpe');
  const shape = `${N}x${C} V=${V}`;
  return [
    { name: 'embeddingForward', shape, bytes: 4 * (3 * N * C + N), run: () => embeddingForward(tok, wte, wpe, out, N, T, C, V) },
    {
      name: 'embeddingBackward', shape, bytes: 4 * (N * C + 2 * unique * C + 2 * T * C),
      run: () => embeddingBackward(out, ids, dwte, dwpe, N, T, C, V),
      cleanup: () => [tok, wte, wpe, out, dwte, dwpe].forEach((t) => t.release()),
    },
  ];
});

registerBench('residual', (gpu, { batch }) => {
  const n = batch * T * C;
  const a = gpu.zeros([n], 'a'), b = gpu.zeros([n], 'b'), out = gpu.zeros([n], 'out');
  const shape = `${batch}x${T}x${C}`;
  return [
    { name: 'residualForward', shape, bytes: 12 * n, run: () => residualForward(a, b, out) },
    { name: 'addInto', shape, bytes: 12 * n, run: () => addInto(out, a), cleanup: () => [a, b, out].forEach((t) => t.release()) },
  ];
});
