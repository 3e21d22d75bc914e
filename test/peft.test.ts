// PEFT's LoraConfig field by field against this engine: what train.js writes as PEFT would
// ('all-linear'), and adapters written by hand as PEFT users have them: each field is applied as
// PEFT applies it (checked against a plain CPU merge, W + scale·B·A with PEFT's scale rules), or
// refused in one line that says what to do; none is applied wrongly.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADAPTER_CONFIG, readAdapter } from '../src/model/adapter.ts';
import type { GPT2Config } from '../src/model/config.ts';
import { saveGPT2Weights } from '../src/node/weights.ts';
import { SMALL_CHAT, tinyArrays } from './fixtures.ts';
import { assertOk, assertOneLineError, run } from './child.ts';

const t = suite('peft');
const dir = mkdtempSync(join(tmpdir(), 'gpt2-peft-'));
const path = (name: string) => join(dir, name);
const chat = path('chat.txt');
writeFileSync(chat, SMALL_CHAT);

// GPT-2's vocabulary, so that train.js can tokenize for it
const CFG: GPT2Config = { n_layer: 2, n_head: 2, n_embd: 32, n_positions: 64, vocab_size: 50257, layer_norm_epsilon: 1e-5 };
const base = path('base');
saveGPT2Weights(base, CFG, tinyArrays(CFG, 1));
const TRAIN = ['--init', base, '--data', chat, '--block-size', '32', '--batch-size', '2', '--eval-interval', '0', '--lora', '2'];

t("train.js --lora-targets all-linear adapts every projection and writes target_modules as PEFT saves 'all-linear' (the modules' full names)", async () => {
  const out = path('all-linear');
  const r = await run('train', [...TRAIN, '--lora-targets', 'all-linear', '--steps', '1', '--out', out]);
  assertOk(r, 'train.js --lora-targets all-linear');
  assert.match(r.stdout, /targets all-linear \(8 projections\)/);
  const names = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'];
  const all = [0, 1].flatMap((l) => names.map((m) => `h.${l}.${m}`));
  assert.equal(JSON.parse(readFileSync(join(out, ADAPTER_CONFIG), 'utf8')).target_modules, all.map((n) => `transformer.${n}`));
  assert.equal(readAdapter(out, CFG).sites.map((s) => s.name), all);
});

t('train.js --resume of a LoRA run takes --lora-targets that pick its projections, however written; other projections are refused', async () => {
  const out = path('resumed');
  assertOk(await run('train', [...TRAIN, '--lora-targets', 'c_attn,c_fc', '--steps', '1', '--out', out]), 'the first part');
  // the same projections: suffixes spelled out, in another order, repeated
  const same = await run('train', ['--resume', '--lora-targets', 'mlp.c_fc,attn.c_attn', '--lora-targets', 'c_attn', '--steps', '2', '--out', out]);
  assertOk(same, '--resume with the same projections written otherwise');
  assert.match(same.stdout, /targets c_attn,c_fc \(4 projections\)/, "the run's own targets");
  const other = await run('train', ['--resume', '--lora-targets', 'c_attn', '--steps', '3', '--out', out]);
  assertOneLineError(other, [/--resume: the run's adapter has --lora-targets \["c_attn","c_fc"\]; --lora-targets \["c_attn"\] would be another adapter/], '--resume with fewer projections');
});

t.run();
