// LoRA adapters as files and commands (issue 12): PEFT's format written and read back, what
// cannot be applied refused in one line, train.js --lora's checkpoint and --resume, chat.js
// --adapter against the unmerged model in this process, and train.js --merge-adapter.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, readAdapter, saveAdapter } from '../src/node/adapter_dir.ts';
import { checkLora, initLoraArrays, type LoraSettings } from '../src/model/lora.ts';
import { chooseInit, loadWeights, openGenerator, sameWeights, weightsFingerprint } from '../src/node/load_model.ts';
import { loadGPT2Weights, saveGPT2Weights } from '../src/node/weights.ts';
import { readSafetensors, writeSafetensors } from '../src/node/safetensors.ts';
import { bytesSource, parseSafetensors } from '../src/model/safetensors.ts';
import { parseAdapter } from '../src/model/peft.ts';
import type { GPT2Config } from '../src/model/config.ts';
import { GPT2, isF16Weight } from '../src/model/gpt2.ts';
import { roundF16 } from '../src/util/f16.ts';
import type { Generator } from '../src/model/generator.ts';
import { ChatSession, defaultChatOptions } from '../src/chat/session.ts';
import { runTraining, type TrainOptions } from '../src/node/train_run.ts';
import { saveMergedModel } from '../src/node/merge_adapter.ts';
import { UserError } from '../src/util/errors.ts';
import { Rng } from '../src/util/rng.ts';
import { fullLogits, gpu } from './util.ts';
import { SMALL_CHAT, tinyArrays } from './fixtures.ts';
import { errorOf, LORA_BASE_CONFIG, loraScratch } from './lora_base.ts';
import { assertOk, assertOneLineError, run } from './child.ts';

const t = suite('adapter');
const { path, chat, base, baseArrays } = loraScratch('gpt2-lora-');
const CFG = LORA_BASE_CONFIG;

const SETTINGS: LoraSettings = { r: 4, alpha: 8, dropout: 0.1, targets: ['c_attn', 'mlp.c_proj'] };

function randomAdapter(c: GPT2Config, s: LoraSettings, seed: number): Map<string, Float32Array> {
  const a = initLoraArrays(checkLora(c, s), s.r, seed);
  const rng = new Rng(seed);
  for (const [name, v] of a) if (name.endsWith('lora_B.weight')) for (let i = 0; i < v.length; i++) v[i] = rng.normal() * 0.1;
  return a;
}

t("saveAdapter writes PEFT's adapter_model.safetensors and adapter_config.json; readAdapter reads them back exactly", () => {
  const d = path('saved');
  const sites = checkLora(CFG, SETTINGS);
  const arrays = randomAdapter(CFG, SETTINGS, 2);
  saveAdapter(d, SETTINGS, sites, 'gpt2', arrays);
  const f = readSafetensors(join(d, ADAPTER_WEIGHTS));
  assert.equal(f.metadata, { format: 'pt' });
  assert.equal(f.names, [
    'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight', 'base_model.model.transformer.h.0.attn.c_attn.lora_B.weight',
    'base_model.model.transformer.h.0.mlp.c_proj.lora_A.weight', 'base_model.model.transformer.h.0.mlp.c_proj.lora_B.weight',
    'base_model.model.transformer.h.1.attn.c_attn.lora_A.weight', 'base_model.model.transformer.h.1.attn.c_attn.lora_B.weight',
    'base_model.model.transformer.h.1.mlp.c_proj.lora_A.weight', 'base_model.model.transformer.h.1.mlp.c_proj.lora_B.weight',
  ]);
  // A [r, in], B [out, r] whatever the base layer's layout (Conv1D: fan_in_fan_out)
  assert.equal(f.info('base_model.model.transformer.h.0.attn.c_attn.lora_A.weight').shape, [4, 32]);
  assert.equal(f.info('base_model.model.transformer.h.0.attn.c_attn.lora_B.weight').shape, [96, 4]);
  assert.equal(f.info('base_model.model.transformer.h.1.mlp.c_proj.lora_A.weight').shape, [4, 128]);
  assert.equal(f.info('base_model.model.transformer.h.1.mlp.c_proj.lora_B.weight').shape, [32, 4]);
  const cfg = JSON.parse(readFileSync(join(d, ADAPTER_CONFIG), 'utf8'));
  assert.equal(
    { peft_type: cfg.peft_type, task_type: cfg.task_type, r: cfg.r, lora_alpha: cfg.lora_alpha, lora_dropout: cfg.lora_dropout, target_modules: cfg.target_modules, fan_in_fan_out: cfg.fan_in_fan_out, bias: cfg.bias, base_model_name_or_path: cfg.base_model_name_or_path },
    { peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4, lora_alpha: 8, lora_dropout: 0.1, target_modules: ['c_attn', 'mlp.c_proj'], fan_in_fan_out: true, bias: 'none', base_model_name_or_path: 'gpt2' },
  );
  const back = readAdapter(d, CFG);
  assert.equal(back.sites, sites);
  assert.equal([...back.arrays.keys()], [...arrays.keys()]);
  for (const [k, v] of arrays) assert.ok(Buffer.from(v.buffer).equals(Buffer.from(back.arrays.get(k)!.buffer)), `${k} bit for bit`);
  assert.is(back.config.base, 'gpt2');
});

t('readAdapter refuses what it cannot apply, in one line that names the file and what to do; parseAdapter on the bytes (the page) says the same', () => {
  const good = path('good');
  const sites = checkLora(CFG, SETTINGS);
  const arrays = randomAdapter(CFG, SETTINGS, 3);
  saveAdapter(good, SETTINGS, sites, base, arrays);
  const variant = (name: string, edit: (d: string) => void) => {
    const d = path(name);
    saveAdapter(d, SETTINGS, sites, base, arrays);
    edit(d);
    return d;
  };
  const json = (d: string) => JSON.parse(readFileSync(join(d, ADAPTER_CONFIG), 'utf8'));
  const setJson = (d: string, over: object) => writeFileSync(join(d, ADAPTER_CONFIG), JSON.stringify({ ...json(d), ...over }));
  const tensors = (over: (k: string) => { name: string; shape: number[]; data: Float32Array } | null) => (d: string) => {
    const f = readSafetensors(join(d, ADAPTER_WEIGHTS));
    const list = f.names.map(over).filter((x) => x !== null);
    writeSafetensors(join(d, ADAPTER_WEIGHTS), list as { name: string; shape: number[]; data: Float32Array }[]);
  };
  const same = (d: string) => (k: string) => ({ name: k, shape: readSafetensors(join(d, ADAPTER_WEIGHTS)).info(k).shape, data: readSafetensors(join(d, ADAPTER_WEIGHTS)).get(k) });

  // trained on another base: wider (gpt2-medium on gpt2), or deeper
  assert.match(errorOf(() => readAdapter(good, { ...CFG, n_embd: 64, n_head: 4 })),
    /h\.0\.attn\.c_attn\.lora_A\.weight' has shape \[4, 32\], but this base's attn\.c_attn needs \[4, 64\] \(n_embd 64\): the adapter was trained on another base model; pass '.*base' \(adapter_config.json's base_model_name_or_path\) with --init/);
  assert.match(errorOf(() => readAdapter(good, { ...CFG, n_layer: 1 })), /is for layer 1, but this base model has 1 layers: the adapter was trained on another base model/);
  const noConfig = variant('no-config', (d) => rmSync(join(d, ADAPTER_CONFIG)));
  assert.match(errorOf(() => readAdapter(noConfig, CFG)), /no-config\/adapter_config\.json: no such file \(a LoRA adapter directory holds adapter_config\.json and adapter_model\.safetensors/);
  const noWeights = variant('no-weights', (d) => rmSync(join(d, ADAPTER_WEIGHTS)));
  assert.match(errorOf(() => readAdapter(noWeights, CFG)), /adapter_model\.safetensors: no such file/);
  assert.match(errorOf(() => readAdapter(path('nowhere'), CFG)), /nowhere: no such directory/);
  const ia3 = variant('ia3', (d) => setJson(d, { peft_type: 'IA3' }));
  assert.match(errorOf(() => readAdapter(ia3, CFG)), /peft_type "IA3" is not supported \(only "LORA"/);
  const dora = variant('dora', (d) => setJson(d, { use_dora: true }));
  assert.match(errorOf(() => readAdapter(dora, CFG)), /use_dora true is not supported/);
  const biased = variant('bias', (d) => setJson(d, { bias: 'all' }));
  assert.match(errorOf(() => readAdapter(biased, CFG)), /bias "all" is not supported/);
  const rank = variant('rank', (d) => setJson(d, { r: 8 }));
  assert.match(errorOf(() => readAdapter(rank, CFG)), /has shape \[4, 32\], but adapter_config\.json says r = 8/);
  const embed = variant('embed', (d) => {
    const f = readSafetensors(join(d, ADAPTER_WEIGHTS));
    writeSafetensors(join(d, ADAPTER_WEIGHTS), [...f.names.map(same(d)), { name: 'base_model.model.transformer.wte.lora_embedding_A', shape: [4, 50257], data: new Float32Array(4 * 50257) }]);
  });
  assert.match(errorOf(() => readAdapter(embed, CFG)), /tensor 'base_model\.model\.transformer\.wte\.lora_embedding_A' is not a LoRA weight of GPT-2's c_attn, attn\.c_proj, mlp\.c_fc or mlp\.c_proj/);
  const halfB = variant('half', (d) => tensors((k) => (k.endsWith('h.1.mlp.c_proj.lora_B.weight') ? null : same(d)(k)))(d));
  assert.match(errorOf(() => readAdapter(halfB, CFG)), /h\.1\.mlp\.c_proj has lora_A but no lora_B/);
  // target_modules must cover the file's tensors: PEFT would drop the others (this engine would apply them)
  const narrow = variant('narrow', (d) => setJson(d, { target_modules: ['c_attn'] }));
  assert.match(errorOf(() => readAdapter(narrow, CFG)),
    /narrow\/adapter_model\.safetensors: holds LoRA weights for h\.0\.mlp\.c_proj, h\.1\.mlp\.c_proj, which adapter_config\.json's target_modules \["c_attn"\] does not name: PEFT would ignore them, this engine would apply them; add the modules to target_modules/);
  const layer0 = variant('layer0', (d) => setJson(d, { layers_to_transform: [0] }));
  assert.match(errorOf(() => readAdapter(layer0, CFG)), /holds LoRA weights for h\.1\.attn\.c_attn, h\.1\.mlp\.c_proj, which .* \(layers_to_transform \[0\]\) does not name/);
  const regexOff = variant('regex-off', (d) => setJson(d, { target_modules: 'c_attn' })); // a string is a regex on the whole name: matches nothing
  assert.match(errorOf(() => readAdapter(regexOff, CFG)), /holds LoRA weights for h\.0\.attn\.c_attn, .* target_modules "c_attn" does not name/);
  // targeted modules the file lacks stay unchanged, with a warning (PEFT's 'missing adapter keys')
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (m: string) => warnings.push(m);
  try {
    readAdapter(variant('regex', (d) => setJson(d, { target_modules: '.*\\.(c_attn|mlp\\.c_proj)' })), CFG);
    // layers_to_transform [] restricts nothing in PEFT (it refused every tensor here)
    readAdapter(variant('layers-none', (d) => setJson(d, { layers_to_transform: [] })), CFG);
    assert.equal(warnings, [], 'a regex that names the same modules');
    readAdapter(variant('wide', (d) => setJson(d, { target_modules: ['c_attn', 'mlp.c_proj', 'c_fc'] })), CFG);
    readAdapter(variant('all-linear', (d) => setJson(d, { target_modules: 'all-linear' })), CFG);
    readAdapter(variant('regex-python', (d) => setJson(d, { target_modules: '.*(?P<m>c_attn|c_proj)' })), CFG); // a Python named group
  } finally {
    console.warn = warn;
  }
  assert.is(warnings.length, 3, warnings.join('\n'));
  assert.match(warnings[2], /^warning: .*regex-python\/adapter_config\.json: target_modules ".*" is a regex JavaScript cannot read \(Python-only syntax\): the file's LoRA weights are applied as they are, not checked against it$/);
  assert.match(warnings[0], /^warning: .*wide\/adapter_config\.json: target_modules \["c_attn","mlp\.c_proj","c_fc"\] names h\.0\.mlp\.c_fc, h\.1\.mlp\.c_fc, but .*adapter_model\.safetensors holds no weights for them: they stay unchanged/);
  assert.match(warnings[1], /target_modules "all-linear" names h\.0\.attn\.c_proj, h\.0\.mlp\.c_fc, h\.1\.attn\.c_proj, h\.1\.mlp\.c_fc, but/);
  // the load path says the same for --adapter, and for an adapter directory given as --init
  assert.ok(existsSync(join(good, ADAPTER_CONFIG)));

  // the page parses the files' fetched bytes with parseAdapter (no files, no Node): readAdapter's adapter, readAdapter's errors
  const fromBytes = (d: string, c: GPT2Config) => parseAdapter(
    readFileSync(join(d, ADAPTER_CONFIG), 'utf8'), parseSafetensors(bytesSource(new Uint8Array(readFileSync(join(d, ADAPTER_WEIGHTS)))), join(d, ADAPTER_WEIGHTS)),
    c, { config: join(d, ADAPTER_CONFIG), weights: join(d, ADAPTER_WEIGHTS) },
  );
  const parsed = fromBytes(good, CFG), read = readAdapter(good, CFG);
  assert.equal(parsed.config, read.config);
  assert.equal(parsed.sites, read.sites);
  assert.equal([...parsed.arrays.keys()], [...read.arrays.keys()]);
  for (const [k, v] of parsed.arrays) assert.equal([...v], [...arrays.get(k)!], k);
  const wideBase = { ...CFG, n_embd: 64, n_head: 4 };
  for (const [d, c] of [[good, wideBase], [good, { ...CFG, n_layer: 1 }], [rank, CFG], [ia3, CFG], [embed, CFG], [halfB, CFG], [narrow, CFG]] as const) {
    const e = errorOf(() => fromBytes(d, c));
    assert.is(e, errorOf(() => readAdapter(d, c)), d);
  }
  assert.match(errorOf(() => fromBytes(good, wideBase)), /but this base's attn\.c_attn needs \[4, 64\] \(n_embd 64\): the adapter was trained on another base model/);
});

t('loadWeights merges an adapter given with --adapter, or an adapter directory given as --init (its base from adapter_config.json)', async () => {
  const d = path('merge');
  const sites = checkLora(CFG, SETTINGS);
  const arrays = randomAdapter(CFG, SETTINGS, 4);
  saveAdapter(d, SETTINGS, sites, base, arrays);
  const explicit = await loadWeights(base, { adapter: d });
  const implicit = await loadWeights(d);
  assert.match(implicit.source, /\+ LoRA adapter .*merge \(r 4, 4 projections, merged\)/);
  for (const [k, v] of explicit.arrays) {
    assert.equal(v, implicit.arrays.get(k), k);
    const changed = v.some((x, i) => x !== baseArrays.get(k)![i]);
    assert.is(changed, sites.some((s) => k === `${s.name}.weight`), `${k}: merged where the adapter is`);
  }
  const wrongBase = path('wrong-base');
  saveGPT2Weights(wrongBase, { ...CFG, n_embd: 64, n_head: 4 }, tinyArrays({ ...CFG, n_embd: 64, n_head: 4 }, 2));
  try {
    await loadWeights(wrongBase, { adapter: d });
    assert.unreachable('a base of another width');
  } catch (e) {
    assert.match((e as Error).message, /trained on another base model; pass '.*base' .* with --init/);
  }
});

/** generation from the unmerged adapted model on the tape: every token recomputes the whole sequence (no cache) */
class TapeGenerator implements Generator {
  private tokens: number[] = [];
  constructor(readonly model: GPT2) {}
  get contextLength() {
    return this.model.config.n_positions;
  }
  get vocabSize() {
    return this.model.config.vocab_size;
  }
  get cached() {
    return this.tokens.length;
  }
  reset() {
    this.tokens = [];
  }
  truncate(n: number) {
    this.tokens = this.tokens.slice(0, n);
  }
  async append(tokens: number[]): Promise<Float32Array> {
    this.tokens.push(...tokens);
    const n = this.tokens.length, V = this.vocabSize;
    const lg = fullLogits(this.model, Uint32Array.from(this.tokens), 1, n);
    const all = await lg.read();
    lg.release();
    return all.slice((n - 1) * V, n * V);
  }
}

const TRAIN = ['--data', chat, '--block-size', '32', '--batch-size', '2', '--order', 'sequential', '--eval-interval', '0'];

t('train.js --lora: a PEFT adapter checkpoint; chat.js --adapter replies as the unmerged model in this process; --merge-adapter makes a model that replies the same', async () => {
  const out = path('run');
  const r = await run('train', ['--init', base, '--lora', '4', '--lora-alpha', '16', '--lora-targets', 'c_attn,mlp.c_proj', '--lora-targets', 'c_fc', '--steps', '3', '--lr', '0.03', ...TRAIN, '--out', out]);
  assertOk(r, 'train.js --lora');
  assert.match(r.stdout, /lora: r 4, alpha 16, dropout 0, targets c_attn,mlp\.c_proj,c_fc \(6 projections\): 3,584 trainable parameters/);
  for (const f of [ADAPTER_WEIGHTS, ADAPTER_CONFIG, 'optimizer.safetensors', 'train_state.json', 'loss.svg']) assert.ok(existsSync(join(out, f)), f);
  for (const f of ['model.safetensors', 'config.json']) assert.not.ok(existsSync(join(out, f)), `no ${f}: the base is not copied`);
  assert.ok(statSync(join(out, ADAPTER_WEIGHTS)).size < 20_000, 'the adapter is small');
  const cfg = JSON.parse(readFileSync(join(out, ADAPTER_CONFIG), 'utf8'));
  assert.is(cfg.base_model_name_or_path, base);
  assert.equal(cfg.target_modules, ['c_attn', 'mlp.c_proj', 'c_fc']);
  const opt = readSafetensors(join(out, 'optimizer.safetensors'));
  assert.equal(opt.names.filter((n) => n.startsWith('m.')).sort(), [...readAdapter(out, CFG).arrays.keys()].map((k) => `m.${k}`).sort(), 'AdamW moments for the adapter alone');

  // in this process: the base with the saved adapter beside it, unmerged, on the tape
  const g = await gpu();
  const a = readAdapter(out, CFG);
  const settings: LoraSettings = { r: a.config.r, alpha: a.config.alpha, dropout: 0, targets: a.config.targets };
  const model = GPT2.fromArrays(g, CFG, loadGPT2Weights(base).params, { settings, arrays: a.arrays });
  const opts = { ...defaultChatOptions(), raw: true, quiet: true, maxNewTokens: 12 };
  opts.sampling.temperature = 0;
  const { reply } = await new ChatSession(new TapeGenerator(model), opts).say('Hello there');
  for (const p of [...model.params.values(), ...model.lora!.params.values()]) p.release();
  assert.ok(reply.tokens.length >= 4, `a reply of a few tokens: ${JSON.stringify(reply.text)} (${reply.reason})`);
  const unadapted = await new ChatSession(new TapeGenerator(GPT2.fromArrays(g, CFG, loadGPT2Weights(base).params)), opts).say('Hello there');
  assert.is.not(unadapted.reply.text, reply.text, 'the adapter changes the reply');

  const greedy = ['--raw', '--prompt', 'Hello there', '--temperature', '0', '--max-new-tokens', '12', '--quiet'];
  const merged = path('merged');
  const [viaAdapter, merge] = await Promise.all([run('chat', ['--init', base, '--adapter', out, ...greedy]), run('train', ['--merge-adapter', out, '--out', merged])]);
  assertOk(viaAdapter, 'chat.js --adapter');
  assert.is(viaAdapter.stdout, `${reply.text}\n`, 'chat.js --adapter: the in-process reply');
  assertOk(merge, 'train.js --merge-adapter');
  assert.ok(existsSync(join(merged, 'model.safetensors')) && existsSync(join(merged, 'config.json')));
  // the merged model, and the adapter directory given as --init (it stands for its base + itself), reply the same
  for (const init of [merged, out]) {
    const { generator } = await openGenerator(init, { gpu: g });
    const again = await new ChatSession(generator, opts).say('Hello there');
    assert.is(again.reply.text, reply.text, `--init ${init}`);
    for (const p of generator.model.params.values()) p.release();
  }
});

t("--merge-adapter of an adapter trained with other speaker tags records them in the merged config.json: chat.js without flags replies as the adapter does", async () => {
  const g = await gpu();
  const tagged = path('tagged.txt'), out = path('tagged-run'), merged = path('tagged-merged');
  writeFileSync(tagged, SMALL_CHAT.replace(/^Human:/gm, 'User:').replace(/^Bot:/gm, 'AI:'));
  await runTraining({ init: base, data: tagged, human: 'User', bot: 'AI', loraR: 4, steps: 3, lr: 0.03, batchSize: 2, blockSize: 32, evalInterval: 0, quiet: true, out }, g);
  const said: string[] = [];
  await saveMergedModel(out, undefined, merged, (s) => said.push(s));
  assert.match(said.join('\n'), /chat with it: node \S+ --init \S+tagged-merged \(its config\.json records the speaker tags User:\/AI:, which chat\.js, eval\.js and serve\.js prompt it with\)$/);
  assert.equal(JSON.parse(readFileSync(join(merged, 'config.json'), 'utf8')).chat_speakers, { human: 'User', bot: 'AI' });
  const greedy = ['--prompt', 'Hello there', '--temperature', '0', '--max-new-tokens', '12', '--quiet'];
  const chatWith = (args: string[]) => run('chat', [...args, ...greedy]);
  const [viaAdapter, viaMerged, untagged] = await Promise.all([chatWith(['--init', out]), chatWith(['--init', merged]), chatWith(['--init', merged, '--human', 'Human', '--bot', 'Bot'])]);
  assertOk(viaAdapter, 'chat.js --init ADAPTER');
  assertOk(viaMerged, 'chat.js on the merged model, without flags');
  assertOk(untagged, 'chat.js on the merged model as Human/Bot');
  assert.is(viaMerged.stdout, viaAdapter.stdout);
  assert.is.not(untagged.stdout, viaAdapter.stdout, 'prompted as Human:/Bot:, the merged model replies otherwise');
  // a run on it (LoRA or not) with other tags says that it teaches the model new ones; with its own, nothing
  const onIt = (args: string[], o: string) => run('train', ['--init', merged, ...args, '--steps', '1', '--batch-size', '1', '--block-size', '32', '--eval-interval', '0', '--out', path(o)]);
  const tokens = path('tokens.bin'); // a .bin of token ids has no tags written in it: the flags alone keep the model's
  writeFileSync(tokens, new Uint8Array(Uint16Array.from({ length: 400 }, (_, i) => (i * 7919) % 50000).buffer));
  const [newTags, ownTags, fromBin] = await Promise.all([onIt(['--lora', '2', '--data', chat], 'retagged'), onIt(['--data', tagged, '--human', 'User', '--bot', 'AI'], 'same-tags'), onIt(['--lora', '2', '--data', tokens], 'from-bin')]);
  assertOk(newTags, 'a LoRA run in Human:/Bot: on a User:/AI: model');
  assert.match(newTags.stdout, /^note: \S+tagged-merged was trained with User:\/AI: turns; this run trains it on Human:\/Bot: ones, and chat.js will prompt the result so \(to keep its tags, write the data's turns as User:\/AI: and pass --human User --bot AI\)$/m);
  assertOk(fromBin, 'a LoRA run on a .bin');
  assert.match(fromBin.stdout, /^note: \S+tagged-merged was trained with User:\/AI: turns; this run trains it on Human:\/Bot: ones, and chat.js will prompt the result so \(--human User --bot AI keeps its tags\)$/m);
  assertOk(ownTags, 'a run in its own tags');
  assert.not.match(ownTags.stdout, /was trained with/);
  // a full fine-tune of a model trained at another --lr gets both notes
  const uaScratch = path('ua-scratch');
  await runTraining({ init: 'scratch', nLayer: 1, nHead: 2, nEmbd: 32, data: tagged, human: 'User', bot: 'AI', steps: 1, batchSize: 2, blockSize: 32, evalInterval: 0, quiet: true, out: uaScratch }, g);
  const fineTuned = await run('train', ['--init', uaScratch, '--data', chat, '--steps', '1', '--batch-size', '1', '--block-size', '32', '--eval-interval', '0', '--out', path('ua-fine')]);
  assertOk(fineTuned, 'a full fine-tune in Human:/Bot: of a User:/AI: model trained at --lr 0.003');
  assert.match(fineTuned.stdout, /^note: \S+ua-scratch was trained at --lr 0\.003;/m);
  assert.match(fineTuned.stdout, /^note: \S+ua-scratch was trained with User:\/AI: turns;/m);
  // the default tags: nothing recorded, nothing said
  said.length = 0;
  await saveMergedModel(path('run'), undefined, path('untagged-merged'), (s) => said.push(s));
  assert.match(said.join('\n'), /chat with it: node \S+ --init \S+untagged-merged$/);
  assert.is(JSON.parse(readFileSync(join(path('untagged-merged'), 'config.json'), 'utf8')).chat_speakers, undefined);
});

const lora = (over: Partial<TrainOptions>): TrainOptions => ({
  init: base, data: chat, resume: false, steps: 6, batchSize: 2, blockSize: 32, lr: 0.02, warmup: 1, seed: 3, evalInterval: 3, evalSteps: 1,
  order: 'random', saveInterval: 0, quiet: true, loraR: 2, loraDropout: 0.2, loraTargets: ['c_attn', 'c_fc'], ...over,
});

t('a LoRA run (with dropout and evaluation) stopped and resumed gives the losses of an uninterrupted one; its settings and base come back', async () => {
  const g = await gpu();
  const full = await runTraining(lora({ out: path('whole') }), g);
  await runTraining(lora({ out: path('part'), stopAfter: 3 }), g);
  const state = JSON.parse(readFileSync(join(path('part'), 'train_state.json'), 'utf8'));
  assert.equal(state.options.lora, { r: 2, alpha: 4, dropout: 0.2, targets: ['c_attn', 'c_fc'] });
  assert.is(state.options.base, base);
  const rest = await runTraining({ out: path('part'), resume: true, quiet: true }, g);
  assert.equal(rest.losses, full.losses.slice(3), 'steps 4-6 as in the uninterrupted run');
  assert.equal(full.valLosses.map(([step]) => step), [0, 3, 6], 'evaluated before the first step and every 3 steps (else no validation loss is compared)');
  assert.equal(rest.valLosses, full.valLosses.slice(2), 'step 6 (a resumed run has no step 0)');
  assert.ok(full.losses[5] < full.losses[0], `it learns: ${full.losses.join(' ')}`);
  // a LoRA run saved over a whole-model checkpoint replaces it: no model.safetensors is left to be loaded instead of the adapter
  const was = path('was-whole');
  saveGPT2Weights(was, CFG, baseArrays);
  const refused = await runTraining(lora({ out: was, steps: 1, evalInterval: 0 }), g).then(() => 'trained', (e: Error) => e.message);
  assert.match(refused, /already holds a checkpoint \(a model\).*--overwrite/, 'only when asked to');
  assert.ok(existsSync(join(was, 'model.safetensors')));
  await runTraining(lora({ out: was, steps: 1, evalInterval: 0, overwrite: true }), g);
  assert.equal([existsSync(join(was, 'model.safetensors')), existsSync(join(was, 'config.json')), existsSync(join(was, ADAPTER_WEIGHTS))], [false, false, true]);
});

t('train.js --lora R --dtype f16: a base in f16 trains to the losses of an f32 base holding the same rounded weights, bit for bit; without --lora it is refused', async () => {
  const g = await gpu();
  const rounded = path('rounded-base');
  saveGPT2Weights(rounded, CFG, new Map([...baseArrays].map(([name, a]) => [name, isF16Weight(name) ? roundF16(a) : a])));
  const half = await runTraining(lora({ out: path('f16'), dtype: 'f16' }), g);
  const full = await runTraining(lora({ out: path('f16-ref'), init: rounded }), g);
  assert.equal(half.losses, full.losses, 'training losses');
  assert.equal(full.valLosses.map(([step]) => step), [0, 3, 6], 'evaluated before the first step and every 3 steps (else no validation loss is compared)');
  assert.equal(half.valLosses, full.valLosses, 'validation losses');
  const [r, refused] = await Promise.all([
    run('train', ['--init', base, '--lora', '2', '--lora-targets', 'h.1.attn.c_attn', '--dtype', 'f16', '--steps', '2', ...TRAIN, '--out', path('f16-cli')]),
    run('train', ['--init', base, '--dtype', 'f16', '--steps', '1', ...TRAIN, '--out', path('f16-full')]),
  ]);
  assertOk(r, 'train.js --lora 2 --dtype f16');
  assert.match(r.stdout, /targets h\.1\.attn\.c_attn \(1 projection\): .*trainable parameters.*; base weights in f16/);
  // --resume keeps the run's dtype (a base that fits only in f16 must not come back in f32); --dtype f32 changes it
  const resumed = await run('train', ['--resume', '--steps', '3', '--out', path('f16-cli')]);
  assertOk(resumed, 'train.js --resume of an f16 run');
  assert.match(resumed.stdout, /trainable parameters.*; base weights in f16/);
  const back = await run('train', ['--resume', '--dtype', 'f32', '--steps', '4', '--out', path('f16-cli')]);
  assertOk(back, 'train.js --resume --dtype f32');
  assert.not.match(back.stdout, /base weights in f16/);
  assertOneLineError(refused, [/--dtype f16 keeps the frozen base of a LoRA run in f16; training every weight needs them in f32: add --lora R/], '--dtype f16 without --lora');
});

t('an adapter whose base moved: one line that says to pass it, and --resume --init BASE continues on it; an adapter merged twice or a run into its base are refused', async () => {
  const g = await gpu();
  const was = path('base-was'), now = path('base-now');
  saveGPT2Weights(was, CFG, baseArrays);
  await runTraining(lora({ init: was, out: path('mv'), steps: 2, evalInterval: 0 }), g);
  renameSync(was, now);
  const loadError = (p: Promise<unknown>) => p.then(() => assert.unreachable('expected an error') as never, (e: Error) => (assert.instance(e, UserError), e.message));
  assert.match(await loadError(loadWeights(path('mv'))), /mv is a LoRA adapter of .*base-was, which is not there: if it moved, write its new place into .*mv\/adapter_config\.json's base_model_name_or_path \(chat\.js, eval\.js and serve\.js also take --init BASE --adapter .*mv\)$/);
  // --adapter without --init (chat.js, eval.js, serve.js) names the adapter's base, not an --init that was never given
  assert.match(errorOf(() => chooseInit(undefined, path('mv'), path('no-out'))), /mv is a LoRA adapter of .*base-was, which is not there: .* \(chat\.js, eval\.js and serve\.js also take --init BASE --adapter .*mv\)$/);
  assert.match(await loadError(saveMergedModel(path('mv'), undefined, path('merged-mv'), () => {})), /mv is a LoRA adapter of .*base-was, which is not there: .* \(or give it to the merge: node \S+ --merge-adapter .*mv --init BASE --out .*merged-mv\)$/);
  assert.match(await loadError(runTraining({ resume: true, out: path('mv'), steps: 3, quiet: true }, g)), /--resume: the run's base model .*base-was \(named in train_state\.json\) is not there; if it moved, pass it with --init DIR/);
  const r = await runTraining({ resume: true, out: path('mv'), init: now, steps: 3, quiet: true }, g);
  assert.is(r.steps, 3);
  assert.is(JSON.parse(readFileSync(join(path('mv'), 'train_state.json'), 'utf8')).options.base, now, 'train_state.json names the base it now has');
  assert.is(JSON.parse(readFileSync(join(path('mv'), ADAPTER_CONFIG), 'utf8')).base_model_name_or_path, now, 'and so does adapter_config.json');
  await loadWeights(path('mv')); // loads again as it is
  // --init on --resume only says where a base that is gone went: never another base beside it, never the adapter itself
  assert.match(await loadError(runTraining({ resume: true, out: path('mv'), init: base, steps: 4, quiet: true }, g)), /the run's adapter belongs to its base .*base-now, which is still there; --init .*base would be another base/);
  renameSync(now, `${now}-away`);
  assert.match(await loadError(runTraining({ resume: true, out: path('mv'), init: path('mv'), steps: 4, quiet: true }, g)), /--resume --init .*mv: that model reads .*mv, the run's own adapter/);
  renameSync(`${now}-away`, now);
  // two adapters that name each other as their base: a loop, said as one
  const sites = checkLora(CFG, SETTINGS), arrays = randomAdapter(CFG, SETTINGS, 7);
  saveAdapter(path('loop-a'), SETTINGS, sites, path('loop-b'), arrays);
  saveAdapter(path('loop-b'), SETTINGS, sites, path('loop-a'), arrays);
  assert.match(await loadError(loadWeights(path('loop-a'))), /loop-a: the adapters' base_model_name_or_path go round in a loop \(.*loop-a -> .*loop-b -> .*loop-a\)/);
  // the adapter as --init and again as --adapter: its change would be added twice
  assert.match(await loadError(loadWeights(path('mv'), { adapter: path('mv') })), /the LoRA adapter .*mv would be merged twice: --init already loads it/);
  // a run (LoRA or not, even with --overwrite) into the base that its --init adapter is merged into
  for (const loraR of [2, undefined]) {
    assert.match(await loadError(runTraining({ init: path('mv'), data: chat, loraR, out: now, overwrite: true, steps: 1, quiet: true }, g)), /--out .*base-now holds the base model of --init .*mv \(a LoRA adapter\): the run's saves would replace it/);
  }
  assert.ok(existsSync(join(now, 'model.safetensors')), 'the base is untouched');
  // a model's file given for its directory, a model given as --adapter
  assert.match(await loadError(loadWeights(join(now, 'model.safetensors'))), /--init .*model\.safetensors is a file: pass the directory that holds it/);
  assert.match(await loadError(loadWeights(base, { adapter: now })), /base-now holds a whole model \(model\.safetensors\), not a LoRA adapter \(adapter_config\.json \+ adapter_model\.safetensors\): a model is given as --init/);
});

t('--resume of a LoRA run whose base was retrained in place says so (and not when it is the same); so does loading the adapter onto it', async () => {
  const b = path('base-retrained'), out = path('on-retrained');
  saveGPT2Weights(b, CFG, baseArrays);
  assertOk(await run('train', ['--init', b, '--lora', '2', '--steps', '2', ...TRAIN, '--out', out]), 'the first part');
  const chatArgs = ['--prompt', 'hi', '--max-new-tokens', '2', '--quiet'];
  const otherBase = /^warning: .*base-retrained is not the base the LoRA adapter .*on-retrained was trained on \(its weight files differ: retrained or replaced since, or the adapter already merged into it\?\); the adapter is applied, but its replies will not be the ones it learned: pass the base it was trained on, or train it again on this one$/m;
  // the same weights elsewhere (a copy: base, saved from the same arrays) are the same base
  const [same, chatSame, chatCopy] = await Promise.all([run('train', ['--resume', '--steps', '3', '--out', out]), run('chat', ['--init', out, ...chatArgs]), run('chat', ['--init', base, '--adapter', out, ...chatArgs])]);
  assertOk(same, 'resumed on the same base');
  assert.not.match(same.stderr, /has changed/);
  for (const r of [chatSame, chatCopy]) {
    assertOk(r, 'chat.js on the base the adapter was trained on');
    assert.not.match(r.stderr, /is not the base/);
  }
  saveGPT2Weights(b, CFG, tinyArrays(CFG, 9));
  const [chatChanged, mergeChanged] = await Promise.all([run('chat', ['--init', out, ...chatArgs]), run('train', ['--merge-adapter', out, '--out', path('merged-retrained')])]);
  assertOk(chatChanged, 'chat.js on a changed base');
  assert.match(chatChanged.stderr, otherBase);
  assertOk(mergeChanged, '--merge-adapter onto a changed base');
  assert.match(mergeChanged.stderr, otherBase, '--merge-adapter warns as README says');
  const changed = await run('train', ['--resume', '--steps', '4', '--out', out]);
  assertOk(changed, 'resumed on a changed base');
  assert.match(changed.stderr, /^warning: the base model .*base-retrained has changed since this adapter's last save \(its weight files differ\); training goes on, on the new weights$/m);
  const again = await run('train', ['--resume', '--steps', '5', '--out', out]);
  assertOk(again, 'resumed again on the new base'); // a run that failed says nothing of the base either
  assert.not.match(again.stderr, /has changed/, 'said once: the adapter now trains on the new base');
});

t('an adapter loaded onto its own merged model (its change twice) is not on its base: a warning, though only the projections differ; a fingerprint saved before tensors were hashed still matches its base', async () => {
  const out = path('merge-twice'), merged = path('merge-twice-merged');
  assertOk(await run('train', ['--init', base, '--lora', '2', '--steps', '2', '--lr', '0.03', ...TRAIN, '--out', out]), 'train.js --lora');
  assertOk(await run('train', ['--merge-adapter', out, '--out', merged]), '--merge-adapter');
  const chatArgs = ['--prompt', 'hi', '--max-new-tokens', '2', '--quiet'];
  const twice = await run('chat', ['--init', merged, '--adapter', out, ...chatArgs]);
  assertOk(twice, 'chat.js on the merged model');
  assert.match(twice.stderr, /^warning: .*merge-twice-merged is not the base the LoRA adapter .*merge-twice was trained on \(.*or the adapter already merged into it\?\)/m);
  // train_state.json of a run saved before: the first half of the fingerprint alone
  const stateFile = join(out, 'train_state.json'), state = JSON.parse(readFileSync(stateFile, 'utf8'));
  assert.is(state.baseFingerprint.length, 32);
  writeFileSync(stateFile, JSON.stringify({ ...state, baseFingerprint: state.baseFingerprint.slice(0, 16) }));
  const onBase = await run('chat', ['--init', out, ...chatArgs]);
  assertOk(onBase, 'chat.js on its base');
  assert.not.match(onBase.stderr, /is not the base/);
  assert.ok(sameWeights(state.baseFingerprint.slice(0, 16), weightsFingerprint(base)!), '--resume compares so too');
});

t('bad LoRA input: one line each, saying what to do', async () => {
  const adapter = path('run'); // trained by the test above
  const wide = path('wide');
  saveGPT2Weights(wide, { ...CFG, n_embd: 64, n_head: 4 }, tinyArrays({ ...CFG, n_embd: 64, n_head: 4 }, 5));
  // the commands: one line on stderr, exit code 1
  const cases: [string, 'train' | 'chat', string[], RegExp[]][] = [
    ['rank over the width', 'train', ['--data', chat, '--init', base, '--lora', '33', '--out', path('r33')], [/--lora 33 is larger than the projection it adapts \(attn\.c_attn: 32 inputs, 96 outputs\); pick a rank of at most 32/]],
    ['adapter on a wider base', 'chat', ['--init', wide, '--adapter', adapter, '--prompt', 'hi'], [/lora_A\.weight' has shape \[4, 32\], but this base's attn\.c_attn needs \[4, 64\] \(n_embd 64\): the adapter was trained on another base model; pass '.*base' .* with --init/]],
    ['merge into the adapter', 'train', ['--merge-adapter', adapter, '--out', adapter], [/is the adapter's directory/]],
    // --adapter alone reads the base the adapter names first: a model, a file or a typo there is said as when --init is given
    ['a model as --adapter', 'chat', ['--adapter', base, '--prompt', 'hi'], [/base holds a whole model \(model\.safetensors\), not a LoRA adapter .*: a model is given as --init$/]],
    ['the adapter file as --adapter', 'chat', ['--adapter', join(adapter, ADAPTER_WEIGHTS), '--prompt', 'hi'], [/adapter_model\.safetensors is a file: a LoRA adapter is given as the directory that holds it/]],
    ['the adapter file, with --init', 'chat', ['--init', base, '--adapter', join(adapter, ADAPTER_WEIGHTS), '--prompt', 'hi'], [/adapter_model\.safetensors is a file: a LoRA adapter is given as the directory that holds it/]],
    ['no such adapter', 'chat', ['--adapter', path('no-adapter'), '--prompt', 'hi'], [/--adapter \S+no-adapter: no such directory \(a LoRA adapter is a directory holding adapter_config\.json and adapter_model\.safetensors\)$/]],
    ['a model to merge', 'train', ['--merge-adapter', base, '--out', path('merged-model')], [/--merge-adapter \S+base holds a whole model \(model\.safetensors\), not a LoRA adapter .*: there is nothing to merge: it is given as --init as it is$/]],
    ['no adapter to merge', 'train', ['--merge-adapter', path('no-adapter'), '--out', path('merged-none')], [/--merge-adapter \S+no-adapter: no such directory \(a LoRA adapter is/]],
  ];
  const results = await Promise.all(cases.map(([, cmd, args]) => run(cmd, args)));
  cases.forEach(([what, , , patterns], i) => assertOneLineError(results[i], patterns, what));
  // the rest in this process: the same UserErrors, which the commands print as one line
  const g = await gpu();
  const trainError = async (o: Partial<TrainOptions>) => {
    try {
      await runTraining({ init: base, data: chat, quiet: true, ...o }, g);
    } catch (e) {
      assert.instance(e, UserError);
      return (e as Error).message;
    }
    return assert.unreachable('expected an error') as never;
  };
  assert.match(await trainError({ loraR: 0, out: path('r0') }), /--lora must be a whole number of at least 1/);
  assert.match(await trainError({ loraR: 4, loraTargets: ['q_proj', 'c_attn'], out: path('qp') }), /--lora-targets: 'q_proj' names none of GPT-2's projections/);
  assert.match(await trainError({ loraR: 4, loraTargets: ['h.9.attn.c_attn'], out: path('h9') }), /--lora-targets: 'h\.9\.attn\.c_attn' names layer 9, but this model has 2 layers \(h\.0 to h\.1\)/);
  assert.match(await trainError({ loraAlpha: 8, out: path('na') }), /--lora-alpha goes with --lora R/);
  assert.match(await trainError({ init: 'scratch', loraR: 4, out: path('sc') }), /--lora adapts pretrained weights: pass --init gpt2 or --init DIR/);
  assert.match(await trainError({ loraR: 4, out: base }), /is the base model's directory: the adapter goes into a directory of its own/);
  assert.match(await trainError({ resume: true, out: adapter, loraR: 8 }), /--resume: the run's adapter has --lora 4; --lora 8 would be another adapter/);
  for (const o of ['r33', 'r0', 'qp', 'h9', 'na', 'sc']) assert.not.ok(existsSync(path(o)), `${o}: nothing left behind`);
  const noConfig = path('copied');
  mkdirSync(noConfig, { recursive: true });
  writeFileSync(join(noConfig, ADAPTER_WEIGHTS), readFileSync(join(adapter, ADAPTER_WEIGHTS)));
  for (const load of [() => loadWeights(base, { adapter: noConfig }), () => loadWeights(noConfig)]) {
    try {
      await load();
      assert.unreachable('no adapter_config.json');
    } catch (e) {
      assert.instance(e, UserError);
      assert.match((e as Error).message, /copied\/adapter_config\.json: no such file \(a LoRA adapter directory holds/);
    }
  }
});

t.run();
