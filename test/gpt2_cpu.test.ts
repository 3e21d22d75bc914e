// The CPU GPT-2 reference (test/gpt2_cpu.ts) is the truth for every GPU gradient test of the
// model: its whole backward, every parameter, is checked here against float64 central finite
// differences of its own loss, on a config small enough to perturb every weight.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { GPT2Config } from '../src/model/config.ts';
import { gpt2Cpu } from './gpt2_cpu.ts';
import { tinyArrays } from './fixtures.ts';
import { gradcheck } from './util.ts';

const t = suite('gpt2_cpu');

// two layers (the residual stream carries gradients across blocks), two heads, C=8, a context
// longer than the sequence (positions past T get no gradient)
const MICRO: GPT2Config = { n_layer: 2, n_head: 2, n_embd: 8, n_positions: 5, vocab_size: 11, layer_norm_epsilon: 1e-5 };

t('full backward (every parameter) matches float64 finite differences of the mean loss, ignored targets included', () => {
  const names = [...tinyArrays(MICRO, 1).keys()];
  const params = [...tinyArrays(MICRO, 1).values()].map((a) => Float64Array.from(a));
  const B = 2, T = 4;
  const tokens = [3, 1, 4, 1, 5, 9, 2, 6];
  const targets = [1, 4, -1, 5, 9, -1, 6, 10];
  const P = new Map(names.map((n, i) => [n, params[i]]));
  const { grads } = gpt2Cpu(MICRO, P, tokens, B, T, targets);
  assert.equal([...grads!.keys()].sort(), [...names].sort(), 'a gradient for every parameter');
  // gradcheck perturbs each element of the parameter in place, so the loss reads P as it is
  const loss = () => [gpt2Cpu(MICRO, P, tokens, B, T, targets).loss!];
  names.forEach((n, i) => gradcheck(loss, [params[i]], [1], [grads!.get(n)!], `gpt2Cpu d(${n})`, { maxChecks: Infinity }));
  // the checked gradients are not trivially zero: the positions past T are, the rest is not
  const wpe = grads!.get('wpe.weight')!;
  assert.ok(wpe.subarray(T * MICRO.n_embd).every((v) => v === 0) && wpe.subarray(0, T * MICRO.n_embd).some((v) => v !== 0));
});

t.run();
