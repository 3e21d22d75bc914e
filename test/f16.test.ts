// float32 -> f16 conversion (round to nearest even) and back, on the CPU.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { f16Bits, f16Value, roundF16 } from '../src/util/f16.ts';
import { widenF16 } from '../src/ops/widen.ts';
import { gpu, randn, withBindingLimit } from './util.ts';

const t = suite('f16');

t('known values: normals, the largest, overflow, subnormals, ties to even, signed zero, inf, NaN', () => {
  const cases: [number, number][] = [
    [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff],
    [65519.99, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00], [-1e6, 0xfc00], [Infinity, 0x7c00], [-Infinity, 0xfc00],
    [2 ** -14, 0x0400], [2 ** -24, 0x0001], [2 ** -25, 0x0000], [1.5 * 2 ** -25, 0x0001], [3 * 2 ** -25, 0x0002], [2 ** -26, 0x0000],
    [1023 * 2 ** -24, 0x03ff], [1023.5 * 2 ** -24, 0x0400], // largest subnormal; the tie rounds up to the smallest normal (even)
    [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [1 + 2 ** -11 + 2 ** -20, 0x3c01], [2047 / 1024, 0x3fff], [2 - 2 ** -12, 0x4000],
    [0.1, 0x2e66], [-3.14159, 0xc248], [2048 - 0.5, 0x6800], // 2047.5: a tie whose mantissa carries into the exponent
  ];
  for (const [x, bits] of cases) assert.is(f16Bits(x), bits, `f16Bits(${x}) = 0x${f16Bits(x).toString(16)}, want 0x${bits.toString(16)}`);
  assert.is(f16Bits(NaN) & 0x7c00, 0x7c00);
  assert.ok(f16Bits(NaN) & 0x3ff, 'NaN stays NaN');
  assert.ok(Number.isNaN(f16Value(0x7e00)));
  assert.is(Object.is(f16Value(0x8000), -0), true);
});

t('every finite f16 value converts back to its own bits', () => {
  for (let h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) === 0x7c00) continue;
    if (f16Bits(f16Value(h)) !== h) assert.unreachable(`0x${h.toString(16)} -> ${f16Value(h)} -> 0x${f16Bits(f16Value(h)).toString(16)}`);
  }
});

t('random floats round to the nearest f16 (checked against both neighbours), ties to the even one', () => {
  const xs = [...randn(20000, 1, 1), ...randn(5000, 2, 1e-5), ...randn(5000, 3, 3e4)].map(Math.fround);
  const r = roundF16(xs);
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i], h = f16Bits(x), v = f16Value(h);
    if (Math.abs(v) === Infinity) continue;
    assert.is(r[i], v);
    // neighbours one ulp away on either side (stepping the magnitude bits crosses zero and exponents correctly)
    for (const n of [h - 1, h + 1]) {
      if ((n & 0x7fff) === 0x7fff || (n & 0x7c00) === 0x7c00 || n < 0 || n > 0xffff || ((n ^ h) & 0x8000)) continue;
      const d = Math.abs(x - v), dn = Math.abs(x - f16Value(n));
      if (!(d < dn || (d === dn && (h & 1) === 0))) assert.unreachable(`${x}: got ${v} (0x${h.toString(16)}), but ${f16Value(n)} is as near or nearer`);
    }
    // and within half an ulp relative (2^-11) for normals
    if (Math.abs(v) >= 2 ** -14) assert.ok(Math.abs(x - v) <= 2 ** -11 * Math.abs(x), `${x} -> ${v}`);
  }
});

for (const [n, limit] of [[1, 0], [2, 0], [3, 0], [37, 0], [1000, 0], [5000, 1024], [5003, 1024]]) {
  const name = `widenF16 n=${n}${limit ? ` (binding limit ${limit} bytes: chunks)` : ''}: the stored f16 values, exactly`;
  t(name, async () => {
    const g = await gpu();
    const a = randn(n, 7, 2);
    const inp = g.fromArray(a, [n], 'a', 'f16'), out = g.tensor([Math.ceil(n / 4) * 4], 'out');
    await withBindingLimit(g, limit || g.bindingLimit, () => widenF16(inp, out));
    const got = await out.read(), want = roundF16(a);
    for (let i = 0; i < n; i++) if (got[i] !== want[i]) assert.unreachable(`element ${i}: ${got[i]}, want ${want[i]}`);
    inp.release();
    out.release();
  });
}

t('widenF16 of views at any element offset (odd ones straddle words), across binding chunks', async () => {
  const g = await gpu();
  for (const [off, n, limit] of [[1, 5, 0], [2, 37, 0], [3, 1000, 0], [129, 5003, 1024], [255, 600, 1024]]) {
    const a = randn(off + n + 2, off, 2);
    const buf = g.fromArray(a, [a.length], 'buffer', 'f16'), out = g.tensor([Math.ceil(n / 4) * 4], 'out');
    await withBindingLimit(g, limit || g.bindingLimit, () => widenF16(buf.view(off, [n], 'a'), out));
    const got = await out.read(), want = roundF16(a.subarray(off, off + n));
    for (let i = 0; i < n; i++) if (got[i] !== want[i]) assert.unreachable(`offset ${off} n ${n} element ${i}: ${got[i]}, want ${want[i]}`);
    buf.release();
    out.release();
  }
});

t('widenF16: an output without room for whole vec4s is refused', async () => {
  const g = await gpu();
  const inp = g.fromArray(randn(37, 7, 2), [37], 'a', 'f16'), out = g.tensor([37], 'out');
  assert.throws(() => widenF16(inp, out), /'out' has 37 elements, needs 40 \(37 rounded up to 4\)/);
  inp.release();
  out.release();
});

t.run();
