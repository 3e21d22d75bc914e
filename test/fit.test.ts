// The helpers that split work under the storage binding and grid limits (src/ops/fit.ts).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { alignedRows, elementChunks, grid1d, pieces, rowsPerBinding, rowsThatFit } from '../src/ops/fit.ts';

const t = suite('fit');

t('rowsThatFit: (rows-1)*stride + width <= limit, and no more rows', () => {
  assert.is(rowsThatFit(100, 10), 10);
  assert.is(rowsThatFit(99, 10), 9);
  assert.is(rowsThatFit(100, 30, 10), 4); // 3*30 + 10 = 100
  assert.is(rowsThatFit(9, 10), 0);
  assert.is(rowsThatFit(9, 30, 10), 0);
});

t('alignedRows: the fewest rows whose bytes are a multiple of the alignment', () => {
  assert.is(alignedRows(4, 256), 64);
  assert.is(alignedRows(30720, 256), 1);
  assert.is(alignedRows(40 * 13 * 4, 256), 8); // 2080 = 2^5 * 65: 8 rows make 2^8 * 65
  for (const [row, align] of [[12, 256], [3 * 768 * 4, 256], [52, 64]]) {
    const k = alignedRows(row, align);
    assert.is((k * row) % align, 0);
    for (let j = 1; j < k; j++) assert.ok((j * row) % align !== 0);
  }
});

t('pieces, rowsPerBinding, elementChunks', () => {
  assert.equal(pieces(10, 4), [[0, 4], [4, 4], [8, 2]]);
  assert.equal(pieces(0, 4), []);
  assert.is(rowsPerBinding(4, 1000), 192); // 250 rows fit, rounded down to 64s
  assert.is(rowsPerBinding(100, 1000, 1), 10);
  assert.throws(() => rowsPerBinding(100, 1000, 64, 'myop'), /^myop: 64 row\(s\) of 100 bytes exceed the 1000-byte/);
  assert.equal(elementChunks(300, 1200), [[0, 300]]);
  assert.equal(elementChunks(301, 1200), [[0, 256], [256, 45]]);
});

t('grid1d: x at most 65535, x*y covers the work', () => {
  assert.equal(grid1d(1000, 256), [4, 1]);
  const [x, y] = grid1d(65536 * 64, 64);
  assert.ok(x <= 65535 && x * y >= 65536 && y === 2);
});

t.run();
