// PEFT's LoraConfig field by field against this engine: what train.js writes as PEFT would
// ('all-linear'), and adapters written by hand as PEFT users have them: each field is applied as
// PEFT applies it (checked against a plain CPU merge, W + scale·B·A with PEFT's scale rules), or
// refused in one line that says what to do; none is applied wrongly.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, readAdapter } from '../src/node/adapter_dir.ts';
import { loadWeights } from '../src/node/load_model.ts';
import { readSafetensors, writeSafetensors } from '../src/node/safetensors.ts';
import { parseAdapter } from '../src/model/peft.ts';
import { Rng } from '../src/util/rng.ts';
import { assertRel } from './util.ts';
import { errorOf, LORA_BASE_CONFIG, loraScratch } from './lora_base.ts';
import { assertOk, assertOneLineError, run } from './child.ts';

const t = suite('peft');
const { path, chat, base, baseArrays } = loraScratch('gpt2-peft-');
const CFG = LORA_BASE_CONFIG;
const TRAIN = ['--init', base, '--data', chat, '--block-size', '32', '--batch-size', '2', '--eval-interval', '0', '--lora', '2'];
const C = CFG.n_embd;
const SHAPE: Record<string, [number, number]> = { 'attn.c_attn': [C, 3 * C], 'attn.c_proj': [C, C], 'mlp.c_fc': [C, 4 * C], 'mlp.c_proj': [4 * C, C] };

/** PEFT's adapter_config.json for GPT-2 as save_pretrained writes it, with `over` on top */
const peftConfig = (over: object) => ({
  alpha_pattern: {}, base_model_name_or_path: base, bias: 'none', fan_in_fan_out: true, inference_mode: true, init_lora_weights: true,
  layers_pattern: null, layers_to_transform: null, lora_alpha: 8, lora_dropout: 0, modules_to_save: null, peft_type: 'LORA', r: 2,
  rank_pattern: {}, revision: null, target_modules: ['c_attn'], task_type: 'CAUSAL_LM', use_dora: false, use_rslora: false, ...over,
});

/**
 * An adapter directory written by hand: `config` over PEFT's defaults, and random A [r, in] and
 * B [out, r] for each 'h.N.attn.c_attn' in `ranks` (its r). Returns the tensors by site.
 */
function writeAdapter(name: string, config: object, ranks: Record<string, number>, seed = 2) {
  const d = path(name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, ADAPTER_CONFIG), JSON.stringify(peftConfig(config)));
  const rng = new Rng(seed);
  const rand = (n: number) => Float32Array.from({ length: n }, () => rng.normal() * 0.2);
  const ab = new Map<string, { r: number; A: Float32Array; B: Float32Array }>();
  const tensors = [];
  for (const [site, r] of Object.entries(ranks)) {
    const [inF, outF] = SHAPE[site.replace(/^h\.\d+\./, '')];
    const A = rand(r * inF), B = rand(outF * r);
    ab.set(site, { r, A, B });
    tensors.push({ name: `base_model.model.transformer.${site}.lora_A.weight`, shape: [r, inF], data: A });
    tensors.push({ name: `base_model.model.transformer.${site}.lora_B.weight`, shape: [outF, r], data: B });
  }
  writeSafetensors(join(d, ADAPTER_WEIGHTS), tensors, { format: 'pt' });
  return { dir: d, ab };
}

/** what PEFT's merge makes of the base, computed plainly: W [in, out] + scale · (B·A)ᵀ per site, in float64, with each site's scale */
function mergedByHand(ab: ReturnType<typeof writeAdapter>['ab'], scale: Record<string, number>): Map<string, Float32Array> {
  const out = new Map([...baseArrays].map(([k, v]) => [k, Float32Array.from(v)]));
  for (const [site, { r, A, B }] of ab) {
    const W = out.get(`${site}.weight`)!;
    const [inF, outF] = SHAPE[site.replace(/^h\.\d+\./, '')];
    for (let i = 0; i < inF; i++) {
      for (let o = 0; o < outF; o++) {
        let ba = 0;
        for (let k = 0; k < r; k++) ba += B[o * r + k] * A[k * inF + i];
        W[i * outF + o] = baseArrays.get(`${site}.weight`)![i * outF + o] + scale[site] * ba;
      }
    }
  }
  return out;
}

async function assertMergedAs(d: string, want: Map<string, Float32Array>) {
  const got = (await loadWeights(base, { adapter: d })).arrays;
  assert.equal([...got.keys()], [...want.keys()]);
  for (const [k, v] of want) assertRel(got.get(k)!, v, 1e-6, k);
}

t('rank_pattern and alpha_pattern give modules their own r and alpha, matched as PEFT matches them (first key that is the name or its end after a dot); with use_rslora the scale is alpha/sqrt(r)', async () => {
  const ranks = { 'h.0.attn.c_attn': 3, 'h.0.mlp.c_fc': 4, 'h.1.attn.c_attn': 5, 'h.1.mlp.c_fc': 4 };
  const config = {
    target_modules: ['c_attn', 'c_fc'], r: 2, lora_alpha: 8,
    // the first key that matches wins: h.0's c_attn is 3, h.1's 5
    rank_pattern: { 'h.0.attn.c_attn': 3, c_attn: 5, 'mlp.c_fc': 4 },
    // PEFT's own example form (a regex anchored at the full name); c_fc keeps lora_alpha
    alpha_pattern: { '^transformer.h.1.attn.c_attn': 2.5 },
  };
  const alphas: Record<string, number> = { 'h.0.attn.c_attn': 8, 'h.0.mlp.c_fc': 8, 'h.1.attn.c_attn': 2.5, 'h.1.mlp.c_fc': 8 };
  const plain = writeAdapter('patterns', config, ranks);
  const scale = (f: (r: number) => number) => Object.fromEntries(Object.entries(ranks).map(([s, r]) => [s, alphas[s] / f(r)]));
  await assertMergedAs(plain.dir, mergedByHand(plain.ab, scale((r) => r)));
  const rs = writeAdapter('patterns-rslora', { ...config, use_rslora: true }, ranks, 3);
  await assertMergedAs(rs.dir, mergedByHand(rs.ab, scale(Math.sqrt)));
  const a = readAdapter(plain.dir, CFG);
  assert.equal(Object.fromEntries([...a.ranks].map(([s, x]) => [s, x.r])), ranks);
  // a module's tensors must have its rank; a key JavaScript cannot read as a regex is refused, not skipped
  const wrong = writeAdapter('patterns-wrong', config, { ...ranks, 'h.1.mlp.c_fc': 2 });
  assert.match(errorOf(() => readAdapter(wrong.dir, CFG)), /h\.1\.mlp\.c_fc\.lora_A\.weight' has shape \[2, 32\], but adapter_config\.json says r = 4 for this module \(rank_pattern\)$/);
  const python = writeAdapter('patterns-python', { ...config, rank_pattern: { '(?P<m>c_attn)': 3 } }, ranks);
  assert.match(errorOf(() => readAdapter(python.dir, CFG)), /rank_pattern key "\(\?P<m>c_attn\)" is a regex JavaScript cannot read \(Python-only syntax\): write it in plain regex syntax$/);
  const bad = writeAdapter('patterns-bad', { ...config, alpha_pattern: { c_attn: 'x' } }, ranks);
  assert.match(errorOf(() => readAdapter(bad.dir, CFG)), /alpha_pattern\["c_attn"\] must be a positive number \(an alpha\), got "x"$/);
});

t('fields that make the adapter more than W + scale·B·A on the base as it is are refused in one line that says what to do; fields that change nothing for GPT-2 are read as PEFT reads them', async () => {
  const ranks = { 'h.0.attn.c_attn': 2, 'h.1.attn.c_attn': 2 };
  const refused: [object, RegExp][] = [
    [{ bias: 'lora_only' }, /bias "lora_only" is not supported \(the adapter trains the base's biases too; only bias "none"\): merge it into its base with PEFT \(.*merge_and_unload\(\).*\) and pass OUT with --init$/],
    [{ use_dora: true }, /use_dora true is not supported \(a DoRA adapter .*\): merge it into its base with PEFT/],
    [{ lora_bias: true }, /lora_bias true is not supported/],
    [{ layer_replication: [[0, 2], [1, 2]] }, /layer_replication \[\[0,2\],\[1,2\]\] is not supported \(PEFT stacks copies of the base's layers into a deeper model; only plain LoRA\): merge it/],
    [{ target_parameters: ['transformer.h.0.attn.c_attn.weight'] }, /target_parameters .* is not supported/],
    [{ trainable_token_indices: [0, 5] }, /trainable_token_indices \[0,5\] is not supported \(the adapter trains rows of the token embedding too/],
    [{ kasa_config: { beta: 1 } }, /kasa_config .* is not supported/],
    [{ use_bdlora: { nblocks: 2 } }, /use_bdlora .* is not supported/],
    [{ alora_invocation_tokens: [50256] }, /alora_invocation_tokens is not supported \(an activated LoRA acts only from its invocation tokens on.*\): use it with PEFT$/],
    [{ arrow_config: { top_k: 2 } }, /arrow_config is not supported/],
    [{ init_lora_weights: 'pissa_niter_4' }, /init_lora_weights "pissa_niter_4" is not supported \(PEFT changed the base's weights under this adapter when it was made\): save it as a plain LoRA adapter \(save_pretrained\(\.\.\., path_initial_model_for_weight_conversion=\.\.\.\)\), or merge it/],
    [{ init_lora_weights: 'olora' }, /init_lora_weights "olora" is not supported/],
    [{ init_lora_weights: 'corda' }, /init_lora_weights "corda" is not supported/],
    [{ init_lora_weights: 'loftq' }, /init_lora_weights "loftq" is not supported/],
    [{ init_lora_weights: 'lora_ga' }, /init_lora_weights "lora_ga" is not supported/],
  ];
  refused.forEach(([over, re], i) => {
    const { dir: d } = writeAdapter(`refused-${i}`, over, ranks);
    assert.match(errorOf(() => readAdapter(d, CFG)), re, JSON.stringify(over));
    // the page parses the same text
    assert.match(errorOf(() => parseAdapter(readFileSync(join(d, ADAPTER_CONFIG), 'utf8'), readSafetensors(join(d, ADAPTER_WEIGHTS)), CFG, { config: 'c', weights: 'w' })), re);
  });
  // PEFT's defaults written out, and what does not change GPT-2's adapted model: plain W + alpha/r·B·A
  const harmless = {
    fan_in_fan_out: false, // PEFT sets it true for Conv1D whatever the file says
    use_qalora: true, qalora_group_size: 16, // GPTQ layers only
    megatron_config: { hidden_size: 32 }, megatron_core: 'megatron.core', // Megatron's parallel layers only
    init_lora_weights: 'gaussian', eva_config: null, corda_config: null, loftq_config: {}, lora_ga_config: null,
    use_dora: false, lora_bias: false, layer_replication: null, target_parameters: null, trainable_token_indices: null, alora_invocation_tokens: null,
    exclude_modules: null, ensure_weight_tying: false, bias: 'none', lora_dropout: 0.1, velora_config: null, kasa_config: null, use_bdlora: null, arrow_config: null,
  };
  for (const [i, over] of [harmless, { init_lora_weights: false }, { init_lora_weights: 'eva' }, { init_lora_weights: 'orthogonal' }, { init_lora_weights: 'mica' }].entries()) {
    const a = writeAdapter(`harmless-${i}`, over, ranks);
    await assertMergedAs(a.dir, mergedByHand(a.ab, { 'h.0.attn.c_attn': 4, 'h.1.attn.c_attn': 4 }));
  }
});

t('a field this engine does not know (a newer PEFT\'s) set to something is applied as plain LoRA with a one-line warning naming it; unset (null, false, [], {}) or known, silent', async () => {
  const ranks = { 'h.0.attn.c_attn': 2, 'h.1.attn.c_attn': 2 };
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (m: string) => warnings.push(m);
  const merged = async (name: string, over: object) => {
    warnings.length = 0;
    const a = writeAdapter(name, over, ranks);
    await assertMergedAs(a.dir, mergedByHand(a.ab, { 'h.0.attn.c_attn': 4, 'h.1.attn.c_attn': 4 }));
    return [...warnings];
  };
  try {
    const one = await merged('unknown-one', { some_new_field: 1 });
    assert.is(one.length, 1, one.join('\n'));
    assert.match(one[0], /^warning: .*unknown-one\/adapter_config\.json: some_new_field 1: a field this engine does not know \(a newer PEFT's\?\), ignored: the adapter is applied as plain LoRA, W \+ scale·B·A; if it changes that, merge it into its base with PEFT \(.*merge_and_unload\(\).*\) and pass OUT with --init$/);
    const two = await merged('unknown-two', { use_newlora: true, newlora_config: { k: 2 }, unset_one: null });
    assert.is(two.length, 1, two.join('\n'));
    assert.match(two[0], /: use_newlora true, newlora_config \{"k":2\}: fields this engine does not know .*; if they change that, merge it/);
    // unset, as PEFT writes a field it adds with a default that keeps plain LoRA
    assert.equal(await merged('unknown-unset', { some_new_field: null, new_flag: false, new_list: [], new_config: {} }), []);
    // every field PEFT writes, at PEFT's defaults or values that change nothing for GPT-2 (0.2's merge_weights too)
    const known = {
      auto_mapping: { base_model_class: 'GPT2LMHeadModel' }, peft_version: '0.20.0', revision: 'main', inference_mode: false, task_type: 'CAUSAL_LM',
      megatron_config: { hidden_size: 32 }, megatron_core: 'megatron.core', loftq_config: {}, eva_config: { rho: 2 }, corda_config: { corda_method: 'ipm' },
      lora_ga_config: { direction: 'ArB2r' }, velora_config: { num_groups: 2 }, monteclora_config: { num_samples: 2 }, use_qalora: true, qalora_group_size: 16,
      runtime_config: { ephemeral_gpu_offload: true }, ensure_weight_tying: true, merge_weights: true, fan_in_fan_out: false, lora_dropout: 0.1,
    };
    assert.equal(await merged('known', known), []);
  } finally {
    console.warn = warn;
  }
});

t('exclude_modules, modules_to_save, layers_pattern and layers_to_transform pick the modules PEFT adapts; tensors of others are refused, a pair PEFT refuses is refused', async () => {
  const both = { 'h.0.attn.c_attn': 2, 'h.1.attn.c_attn': 2 };
  const notNamed = /adapter_model\.safetensors: holds LoRA weights for h\.1\.attn\.c_attn, which adapter_config\.json's target_modules .* does not name: PEFT would ignore them/;
  const refusedAs = (name: string, over: object, re: RegExp) => assert.match(errorOf(() => readAdapter(writeAdapter(name, over, both).dir, CFG)), re, name);
  refusedAs('exclude-list', { exclude_modules: ['h.1.attn.c_attn'] }, notNamed);
  refusedAs('exclude-regex', { exclude_modules: '.*\\.h\\.1\\..*' }, notNamed);
  refusedAs('exclude-said', { exclude_modules: ['h.1.attn.c_attn'] }, /target_modules \["c_attn"\] \(exclude_modules \["h\.1\.attn\.c_attn"\]\) does not name/);
  // PEFT never puts LoRA on a module it trains whole
  refusedAs('to-save', { modules_to_save: ['h.1.attn'] }, notNamed);
  // the layer number comes after layers_pattern: 'h' is GPT-2's, another name finds no layer
  refusedAs('pattern-h', { layers_to_transform: [0], layers_pattern: 'h' }, notNamed);
  refusedAs('pattern-other', { layers_to_transform: [0], layers_pattern: ['layers'] }, /holds LoRA weights for h\.0\.attn\.c_attn, h\.1\.attn\.c_attn, which .* does not name/);
  refusedAs('regex-layers', { target_modules: '.*c_attn', layers_to_transform: [0] }, /layers_to_transform and layers_pattern go with a list of target_modules, not the regex string ".\*c_attn" \(PEFT refuses the pair\): list the modules, or name the layers in the regex$/);
  refusedAs('pattern-alone', { layers_pattern: 'h' }, /layers_pattern needs layers_to_transform \(PEFT refuses one without the other\)/);
  refusedAs('pattern-no-layers', { layers_pattern: 'h', layers_to_transform: [] }, /layers_to_transform \[\] is no layers to PEFT, which then refuses layers_pattern: write the layer numbers/);
  refusedAs('pattern-layer-0', { layers_pattern: 'h', layers_to_transform: 0 }, /layers_to_transform 0 is no layers to PEFT, which then refuses layers_pattern: write \[0\] for layer 0/); // 0 is false to PEFT
  refusedAs('regex-empty-pattern', { target_modules: '.*c_attn', layers_pattern: '' }, /layers_to_transform and layers_pattern go with a list of target_modules, not the regex string/); // PEFT: 'is not None'
  refusedAs('pattern-said', { layers_to_transform: [0], layers_pattern: ['layers'] }, /\(layers_to_transform \[0\], layers_pattern \["layers"\]\) does not name: PEFT would ignore them, this engine would apply them; let the config pick the modules/);
  refusedAs('exclude-python', { exclude_modules: '(?P<x>c_attn)' }, /exclude_modules "\(\?P<x>c_attn\)" is a regex JavaScript cannot read/);
  // a module named in full is adapted whatever layers_to_transform says (PEFT checks the layer only for suffixes)
  const named = writeAdapter('named-in-full', { target_modules: ['transformer.h.1.attn.c_attn', 'c_fc'], layers_to_transform: [0], layers_pattern: 'h' }, { 'h.0.mlp.c_fc': 2, 'h.1.attn.c_attn': 2 });
  await assertMergedAs(named.dir, mergedByHand(named.ab, { 'h.0.mlp.c_fc': 4, 'h.1.attn.c_attn': 4 }));
  // an empty layers_pattern is none to PEFT (it tests the field for truth): any name before the layer number
  const empty = writeAdapter('pattern-empty', { layers_pattern: '' }, both);
  await assertMergedAs(empty.dir, mergedByHand(empty.ab, { 'h.0.attn.c_attn': 4, 'h.1.attn.c_attn': 4 }));
  const emptyLayer = writeAdapter('pattern-empty-layer', { layers_pattern: '', layers_to_transform: [0] }, { 'h.0.attn.c_attn': 2 });
  await assertMergedAs(emptyLayer.dir, mergedByHand(emptyLayer.ab, { 'h.0.attn.c_attn': 4 }));
  // excluded modules the file has no tensors for: applied as the rest, and no warning of missing ones
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (m: string) => warnings.push(m);
  try {
    const one = writeAdapter('exclude-ok', { exclude_modules: ['h.1.attn.c_attn'] }, { 'h.0.attn.c_attn': 2 });
    await assertMergedAs(one.dir, mergedByHand(one.ab, { 'h.0.attn.c_attn': 4 }));
  } finally {
    console.warn = warn;
  }
  assert.equal(warnings.filter((w) => /holds no weights/.test(w)), []);
});

t('a module trained whole beside the LoRA weights (modules_to_save) or another tensor of GPT-2\'s modules is refused with what to do: merge in PEFT, or train without modules_to_save', () => {
  const withTensor = (name: string, config: object, key: string, shape: number[]) => {
    const { dir: d } = writeAdapter(name, config, { 'h.0.attn.c_attn': 2 });
    const f = readSafetensors(join(d, ADAPTER_WEIGHTS));
    const kept = f.names.map((k) => ({ name: k, shape: f.info(k).shape, data: f.get(k) }));
    writeSafetensors(join(d, ADAPTER_WEIGHTS), [...kept, { name: key, shape, data: new Float32Array(shape[0] * shape[1]) }], { format: 'pt' });
    return errorOf(() => readAdapter(d, CFG));
  };
  const merge = /: merge it into its base with PEFT \(PeftModel\.from_pretrained\(base, DIR\)\.merge_and_unload\(\)\.save_pretrained\(OUT\)\) and pass OUT with --init/;
  const wte = [CFG.vocab_size, C];
  // as PEFT saves it now (the module's own key), and with the wrapper's name in it (older writers)
  for (const [name, config, key] of [
    ['saved-wte', { modules_to_save: ['wte'] }, 'base_model.model.transformer.wte.weight'],
    ['saved-ln', { modules_to_save: ['transformer.ln_f'] }, 'base_model.model.transformer.ln_f.weight'],
    ['saved-wrapped', {}, 'base_model.model.transformer.wte.modules_to_save.default.weight'],
  ] as const) {
    const e = withTensor(name, config, key, key.includes('ln_f') ? [1, C] : wte);
    assert.match(e, new RegExp(`tensor '${key.replace(/\./g, '\\.')}' is a whole copy of transformer\\.(wte|ln_f) \\(modules_to_save\\), trained beside the LoRA weights, which this engine cannot apply`), name);
    assert.match(e, merge, name);
    assert.match(e, /, or train the adapter again without modules_to_save$/, name);
  }
  // the embeddings saved beside the adapter (PEFT's save_embedding_layers), not in modules_to_save
  const embedding = withTensor('saved-embedding', {}, 'base_model.model.transformer.wte.weight', wte);
  assert.match(embedding, /tensor 'base_model\.model\.transformer\.wte\.weight' is not a LoRA weight of GPT-2's c_attn, attn\.c_proj, mlp\.c_fc or mlp\.c_proj \(an adapter of the embeddings or lm_head cannot be applied here\): merge it/);
  assert.match(withTensor('dora-vector', {}, 'base_model.model.transformer.h.0.attn.c_attn.lora_magnitude_vector', [1, 3 * C]), /is not a LoRA weight of .* \(only their lora_A and lora_B weights can be applied here\): merge it/);
  // another architecture's adapter: merging it would not make a GPT-2
  const llama = withTensor('llama', {}, 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', [2, C]);
  assert.match(llama, /is not a LoRA weight of .* \(an adapter of another architecture cannot be applied\)$/);
});

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
