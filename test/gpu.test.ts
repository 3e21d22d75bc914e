// The GPU layer's error reporting: a bad dispatch is reported, and WEBGPU_DEBUG names its kernel.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { geluForward } from '../src/ops/gelu.ts';
import { gpu } from './util.ts';

const t = suite('gpu');

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
  assert.match(await badDispatch(true), /^WebGPU validation error in gelu_forward\.main/);
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

t.run();
