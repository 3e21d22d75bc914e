// LoRA (Hu et al. 2021) for GPT-2 as Hugging Face PEFT defines it: beside a frozen projection
// W [in, out] (HF Conv1D), A [r, in] and B [out, r] add scale · (x·Aᵀ)·Bᵀ to its output, with
// scale = lora_alpha / r; A starts Kaiming-uniform, B at zero, so training starts from the base
// model exactly. This file holds what does not touch files or the GPU: which modules a
// target list names, the tensors' names and shapes, their initialisation, PEFT's key names
// and adapter_config.json, and merging an adapter into the base weights (W += scale · Aᵀ·Bᵀ).
import { UserError } from '../util/errors.ts';
import { parseJsonObject } from '../util/json.ts';
import { Rng } from '../util/rng.ts';
import type { GPT2Config } from './config.ts';

/** GPT-2's projections, by their module names inside a block (transformer.h.N.*) */
export const LORA_MODULES = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'] as const;
export type LoraModule = (typeof LORA_MODULES)[number];

/** PEFT's default for GPT-2 (peft/utils/constants.py) */
export const DEFAULT_LORA_TARGETS = ['c_attn'];

/** What a run's adapter is; adapter_config.json holds the same (r, lora_alpha, lora_dropout, target_modules). */
export interface LoraSettings {
  r: number;
  alpha: number;
  /** dropout on the adapter's input during training (PEFT's lora_dropout) */
  dropout: number;
  /** PEFT's target_modules: module-name suffixes ('c_attn', 'attn.c_proj', ...) */
  targets: string[];
}

/** [in, out] features of a module: its Conv1D weight's shape */
export function moduleShape(c: GPT2Config, module: LoraModule): [number, number] {
  const C = c.n_embd;
  return { 'attn.c_attn': [C, 3 * C], 'attn.c_proj': [C, C], 'mlp.c_fc': [C, 4 * C], 'mlp.c_proj': [4 * C, C] }[module] as [number, number];
}

/** One adapted projection: 'h.3.attn.c_attn' is layer 3's c_attn. */
export interface LoraSite {
  /** 'h.{layer}.{module}': the base weight is `${name}.weight` */
  name: string;
  layer: number;
  module: LoraModule;
  in: number;
  out: number;
}

/** layer `layer`'s `module` as an adapter site, with the projection's shape in `c` */
export const site = (c: GPT2Config, layer: number, module: LoraModule): LoraSite => {
  const [i, o] = moduleShape(c, module);
  return { name: `h.${layer}.${module}`, layer, module, in: i, out: o };
};

/**
 * The projections that `targets` name, matched as PEFT matches target_modules against module
 * names (transformer.h.N.attn.c_attn, ...): a target is the whole name or a suffix after a dot.
 * So 'c_attn' is every layer's attention input projection, 'c_proj' both attn.c_proj and
 * mlp.c_proj, 'attn.c_proj' only the attention output, 'h.0.mlp.c_fc' one layer's. A target
 * that names no projection is a UserError.
 */
export function loraSites(c: GPT2Config, targets: readonly string[], what = '--lora-targets'): LoraSite[] {
  if (!targets.length) throw new UserError(`${what}: no target modules given`);
  const all: LoraSite[] = [];
  for (let l = 0; l < c.n_layer; l++) for (const m of LORA_MODULES) all.push(site(c, l, m));
  if (targets.some(isAllLinear)) {
    // PEFT takes 'all-linear' only as the whole target_modules (in a list it is a module name that matches nothing)
    if (targets.length > 1) throw new UserError(`${what}: 'all-linear' already names every projection; pass it alone, or list the modules without it`);
    return all;
  }
  for (const t of targets) {
    if (!all.some((s) => targetNames(s, t))) {
      const layer = /(?:^|\.)h\.(\d+)\./.exec(t);
      if (layer && Number(layer[1]) >= c.n_layer) throw new UserError(`${what}: '${t}' names layer ${layer[1]}, but this model has ${c.n_layer} layers (h.0 to h.${c.n_layer - 1})`);
      throw new UserError(
        `${what}: '${t}' names none of GPT-2's projections; LoRA adapts c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj ` +
          `('c_proj' means both c_proj, 'c_fc' = mlp.c_fc, 'all-linear' every one, as in PEFT's target_modules)`,
      );
    }
  }
  return all.filter((s) => targets.some((t) => targetNames(s, t)));
}

/** PEFT's shorthand for every Linear/Conv1D but the output layer: for GPT-2, every projection (lm_head excluded); case-insensitive, as PEFT reads it */
export const isAllLinear = (t: string) => t.toLowerCase() === 'all-linear';

/** the projection's module name in GPT2LMHeadModel, as PEFT matches target_modules and the patterns against it: 'transformer.h.0.attn.c_attn' */
const moduleName = (s: LoraSite) => `transformer.${s.name}`;

/** does target_modules entry `t` name the projection: its whole module name, or a suffix after a dot (PEFT's rule) */
const targetNames = (s: LoraSite, t: string) => {
  const full = moduleName(s);
  return full === t || full.endsWith(`.${t}`);
};

/**
 * Which projections PEFT adapts when it loads an adapter_config.json (check_target_module_exists):
 * none that exclude_modules or modules_to_save name; of a target_modules list, a module named in
 * full, or by a suffix within layers_to_transform (its layer number found after layers_pattern,
 * or after the first dotted name); a string full-matched as a regex against the module name
 * ('transformer.h.0.attn.c_attn'; 'all-linear' is every projection). null when that regex is not
 * one JavaScript reads (Python-only syntax): then it cannot be told.
 */
export function adapterTargets(a: AdapterConfig): ((s: LoraSite) => boolean) | null {
  const exclude = a.exclude;
  const excluded = (s: LoraSite) =>
    (typeof exclude === 'string' ? regexOf(`^(?:${exclude})$`)!.test(moduleName(s)) : exclude.some((e) => targetNames(s, e))) ||
    a.modulesToSave.some((m) => regexOf(`^(?:.*\\.)?(?:${m})(?:$|\\.)`)!.test(moduleName(s)));
  const layerPatterns = (a.layersPattern ?? ['[^.]*']).map((p) => regexOf(`^.*?\\.(?:${p})\\.(\\d+)\\.`)!);
  const inLayers = (s: LoraSite) => {
    if (a.layers === null) return true;
    const m = layerPatterns.map((re) => re.exec(moduleName(s))).find((x) => x);
    return !!m && a.layers.includes(Number(m[1]));
  };
  if (a.targetPattern === null) return (s) => !excluded(s) && (a.targets.includes(moduleName(s)) || (a.targets.some((t) => targetNames(s, t)) && inLayers(s)));
  if (isAllLinear(a.targetPattern)) return (s) => !excluded(s);
  const re = regexOf(`^(?:${a.targetPattern})$`);
  return re ? (s) => !excluded(s) && re.test(moduleName(s)) : null;
}

/** the regex, or null when JavaScript cannot read it (Python-only syntax) */
function regexOf(source: string): RegExp | null {
  try {
    return new RegExp(source);
  } catch {
    return null;
  }
}

/**
 * Checks the settings against the model and returns the sites they adapt; a UserError names the
 * flag (r must be a whole number from 1 to the narrowest side of every adapted projection).
 */
export function checkLora(c: GPT2Config, s: LoraSettings): LoraSite[] {
  const sites = loraSites(c, s.targets);
  checkLoraValues(s);
  const narrow = sites.reduce((a, b) => (Math.min(b.in, b.out) < Math.min(a.in, a.out) ? b : a));
  if (s.r > Math.min(narrow.in, narrow.out)) {
    throw new UserError(
      `--lora ${s.r} is larger than the projection it adapts (${narrow.module}: ${narrow.in} inputs, ${narrow.out} outputs); ` +
        `pick a rank of at most ${Math.min(narrow.in, narrow.out)} (LoRA's point is a rank far below that: 4 to 64)`,
    );
  }
  return sites;
}

/** The rank, alpha and dropout on their own (given ones only): what can be checked before the model is loaded. */
export function checkLoraValues(s: { r?: number; alpha?: number; dropout?: number }): void {
  if (s.r !== undefined && !(Number.isSafeInteger(s.r) && s.r >= 1)) throw new UserError(`--lora must be a whole number of at least 1 (the adapter's rank), got ${s.r}`);
  if (s.alpha !== undefined && !(s.alpha > 0 && Number.isFinite(Math.fround(s.alpha)))) throw new UserError(`--lora-alpha must be a positive number, got ${s.alpha}`);
  if (s.dropout !== undefined && !(s.dropout >= 0 && s.dropout < 1)) throw new UserError(`--lora-dropout must be in [0, 1), got ${s.dropout}`);
}

/** scale of the adapter's output: alpha / r (PEFT; alpha / sqrt(r) with use_rslora) */
export const loraScale = (s: { r: number; alpha: number; rslora?: boolean }) => (s.rslora ? s.alpha / Math.sqrt(s.r) : s.alpha / s.r);

/** The adapter's tensors by canonical name ('h.0.attn.c_attn.lora_A.weight' [r, in], '...lora_B.weight' [out, r]), in site order. */
/** trainable parameters of a rank-r adapter on `sites`: A [r, in] and B [out, r] each */
export const loraParameterCount = (sites: LoraSite[], r: number) => sites.reduce((s, x) => s + r * (x.in + x.out), 0);

export function loraShapes(sites: LoraSite[], r: number): { name: string; shape: number[] }[] {
  return sites.flatMap((s) => [
    { name: `${s.name}.lora_A.weight`, shape: [r, s.in] },
    { name: `${s.name}.lora_B.weight`, shape: [s.out, r] },
  ]);
}

/**
 * PEFT's initialisation (LoraLayer.reset_lora_parameters): A as nn.init.kaiming_uniform_(a=√5),
 * i.e. uniform in ±1/√in, and B = 0, so the adapted model starts equal to the base.
 */
export function initLoraArrays(sites: LoraSite[], r: number, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  for (const { name, shape } of loraShapes(sites, r)) {
    const a = new Float32Array(shape[0] * shape[1]);
    if (name.endsWith('lora_A.weight')) {
      const bound = 1 / Math.sqrt(shape[1]);
      for (let i = 0; i < a.length; i++) a[i] = (2 * rng.next() - 1) * bound;
    }
    out.set(name, a);
  }
  return out;
}

// ---- PEFT's file format ----

/** adapter_model.safetensors key of a canonical name: PEFT saves a CausalLM's adapter under base_model.model. (the adapter name stripped) */
export const peftKey = (name: string) => `base_model.model.transformer.${name}`;

const KEY_RE = /^base_model\.model\.(?:transformer\.)?h\.(\d+)\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.lora_([AB])\.weight$/;

/** canonical name for an adapter_model.safetensors key, or null when the key is not a GPT-2 LoRA weight this engine applies */
export function canonicalLoraName(key: string): { name: string; layer: number; module: LoraModule; which: 'A' | 'B' } | null {
  const m = KEY_RE.exec(key);
  if (!m) return null;
  const layer = Number(m[1]), module = m[2] as LoraModule, which = m[3] as 'A' | 'B';
  return { name: `h.${layer}.${module}.lora_${which}.weight`, layer, module, which };
}

/**
 * adapter_config.json as PEFT's LoraConfig.save_pretrained writes it for GPT-2 (Conv1D: fan_in_fan_out
 * true). 'all-linear' is written as PEFT (0.15 on) saves it: resolved to the full names of the
 * modules it adapted, `sites`.
 */
export function adapterConfigJson(s: LoraSettings, sites: LoraSite[], base: string): object {
  return {
    alpha_pattern: {},
    base_model_name_or_path: base,
    bias: 'none',
    fan_in_fan_out: true,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: s.alpha,
    lora_dropout: s.dropout,
    modules_to_save: null,
    peft_type: 'LORA',
    r: s.r,
    rank_pattern: {},
    revision: null,
    target_modules: s.targets.some(isAllLinear) ? sites.map(moduleName) : s.targets,
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: false,
  };
}

/** what an adapter_config.json says, as far as applying the adapter goes */
export interface AdapterConfig {
  r: number;
  alpha: number;
  dropout: number;
  rslora: boolean;
  /** target_modules when it is a list (a regex string is kept as [string]; PEFT's default for GPT-2 when absent) */
  targets: string[];
  /** target_modules when it is a string: a regex PEFT full-matches against module names */
  targetPattern: string | null;
  /** rank_pattern: [regex, r] in the file's order, for the modules whose r is not `r` (sitePattern) */
  rankPattern: [string, number][];
  /** alpha_pattern: [regex, alpha] in the file's order, for the modules whose alpha is not `alpha` */
  alphaPattern: [string, number][];
  /** exclude_modules: a list (names or suffixes) or a regex string; never adapted */
  exclude: string[] | string;
  /** modules_to_save: modules PEFT trains whole, so never adapted */
  modulesToSave: string[];
  /** layers_pattern: what precedes the layer number in a module name (regexes), or null for any name */
  layersPattern: string[] | null;
  /** layers_to_transform: the only layers adapted, or null for all */
  layers: number[] | null;
  /** base_model_name_or_path, or null */
  base: string | null;
  /** [field, value] of the fields this code does not know, set to something (not null, false, [] or {}): a newer PEFT's, which may change the math */
  unknown: [string, unknown][];
}

/** Parses adapter_config.json text; a UserError (starting with `source`) for anything this engine cannot apply. */
export function parseAdapterConfig(text: string, source: string): AdapterConfig {
  const fail = (what: string): never => {
    throw new UserError(`${source}: ${what}`);
  };
  const j = parseJsonObject(text, source);
  if (j.peft_type !== 'LORA') fail(`peft_type ${JSON.stringify(j.peft_type)} is not supported (only "LORA" adapters can be applied)`);
  const r = j.r;
  if (!Number.isSafeInteger(r) || (r as number) < 1) fail(`field 'r' must be a positive whole number, got ${JSON.stringify(r)}`);
  const alpha = j.lora_alpha ?? 8; // PEFT's default
  if (typeof alpha !== 'number' || !(alpha > 0) || !Number.isFinite(alpha)) fail(`field 'lora_alpha' must be a positive number, got ${JSON.stringify(alpha)}`);
  const dropout = typeof j.lora_dropout === 'number' ? j.lora_dropout : 0;
  refuseOtherMath(j, fail);
  const pattern = (k: string, valid: (v: number) => boolean, what: string): [string, number][] => {
    const v = j[k];
    if (v == null) return [];
    if (typeof v !== 'object' || Array.isArray(v)) fail(`field '${k}' must be an object of module names (regexes) to ${what}s, got ${JSON.stringify(v)}`);
    const entries = Object.entries(v as object);
    for (const [key, x] of entries) {
      if (typeof x !== 'number' || !valid(x)) fail(`${k}[${JSON.stringify(key)}] must be a ${what}, got ${JSON.stringify(x)}`);
      if (!patternRegex(key)) fail(`${k} key ${JSON.stringify(key)} is a regex JavaScript cannot read (Python-only syntax): write it in plain regex syntax`);
    }
    return entries as [string, number][];
  };
  const rankPattern = pattern('rank_pattern', (x) => Number.isSafeInteger(x) && x >= 1, 'positive whole number (a rank)');
  const alphaPattern = pattern('alpha_pattern', (x) => x > 0 && Number.isFinite(x), 'positive number (an alpha)');
  const t = j.target_modules;
  if (t != null && typeof t !== 'string' && !(Array.isArray(t) && t.every((x) => typeof x === 'string'))) fail(`field 'target_modules' must be a list of module names or a regex string, got ${JSON.stringify(t)}`);
  const targets = typeof t === 'string' ? [t] : ((t as string[] | null | undefined) ?? DEFAULT_LORA_TARGETS);
  const l = j.layers_to_transform;
  if (l != null && !(Number.isSafeInteger(l) || (Array.isArray(l) && l.every(Number.isSafeInteger)))) fail(`field 'layers_to_transform' must be a layer number or a list of them, got ${JSON.stringify(l)}`);
  // an empty list is no restriction, as PEFT reads it (is_using_layer_indexes), not no layer at all
  const layers = l == null || (Array.isArray(l) && l.length === 0) ? null : Array.isArray(l) ? (l as number[]) : [l as number];
  const names = (k: string, v: unknown, asRegex: (x: string) => string): string[] => {
    if (v == null) return [];
    const list = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) fail(`field '${k}' must be a module name, a list of them or a regex string, got ${JSON.stringify(v)}`);
    for (const x of list as string[]) if (!regexOf(asRegex(x))) fail(`${k} ${JSON.stringify(x)} is a regex JavaScript cannot read (Python-only syntax): write it in plain regex syntax`);
    return list as string[];
  };
  const exclude = typeof j.exclude_modules === 'string' ? names('exclude_modules', j.exclude_modules, (x) => x)[0] : names('exclude_modules', j.exclude_modules, () => '');
  const modulesToSave = names('modules_to_save', j.modules_to_save, (x) => x);
  // PEFT tests layers_pattern for truth: '' is no pattern (any name before the layer number)
  const lp = j.layers_pattern === '' ? [] : names('layers_pattern', j.layers_pattern, (x) => x);
  // PEFT's LoraConfig refuses these (a regex names its layers itself; a pattern needs the layers it finds)
  if (typeof t === 'string' && (l != null || j.layers_pattern != null)) fail(`layers_to_transform and layers_pattern go with a list of target_modules, not the regex string ${JSON.stringify(t)} (PEFT refuses the pair): list the modules, or name the layers in the regex`);
  if (lp.length && l == null) fail('layers_pattern needs layers_to_transform (PEFT refuses one without the other): add the layer numbers, or remove layers_pattern');
  // PEFT tests layers_to_transform for truth too: layer 0 alone must be a list, [0]
  if (lp.length && (l === 0 || (Array.isArray(l) && !l.length))) fail(`layers_to_transform ${JSON.stringify(l)} is no layers to PEFT, which then refuses layers_pattern: write ${l === 0 ? '[0] for layer 0' : 'the layer numbers'}, or remove layers_pattern`);
  const base = typeof j.base_model_name_or_path === 'string' && j.base_model_name_or_path ? j.base_model_name_or_path : null;
  return { r: r as number, alpha: alpha as number, dropout: dropout as number, rslora: j.use_rslora === true, targets, targetPattern: typeof t === 'string' ? t : null, rankPattern, alphaPattern, exclude, modulesToSave, layersPattern: lp.length ? lp : null, layers, base, unknown: Object.entries(j).filter(([k, v]) => !KNOWN_FIELDS.has(k) && isSet(v)) };
}

export const MERGE_IN_PEFT = 'merge it into its base with PEFT (PeftModel.from_pretrained(base, DIR).merge_and_unload().save_pretrained(OUT)) and pass OUT with --init';

/**
 * Every field PEFT's LoraConfig and PeftConfig have written, 0.1 to 0.20 and main: read above,
 * refused by refuseOtherMath, or changing nothing here (training only, other kinds of layer,
 * bookkeeping; merge_weights is 0.2's). Another field is a newer PEFT's, or 0.2's enable_lora
 * (LoRA on some of c_attn's q, k, v only): either may change the math, so parseAdapter warns of it.
 */
const KNOWN_FIELDS = new Set([
  'peft_type', 'task_type', 'auto_mapping', 'peft_version', 'base_model_name_or_path', 'revision', 'inference_mode',
  'r', 'target_modules', 'exclude_modules', 'lora_alpha', 'lora_dropout', 'fan_in_fan_out', 'bias', 'use_rslora', 'modules_to_save',
  'init_lora_weights', 'layers_to_transform', 'layers_pattern', 'rank_pattern', 'alpha_pattern', 'megatron_config', 'megatron_core',
  'trainable_token_indices', 'loftq_config', 'eva_config', 'corda_config', 'lora_ga_config', 'use_dora', 'velora_config',
  'alora_invocation_tokens', 'use_qalora', 'qalora_group_size', 'monteclora_config', 'layer_replication', 'runtime_config', 'lora_bias',
  'target_parameters', 'use_bdlora', 'arrow_config', 'kasa_config', 'ensure_weight_tying', 'merge_weights',
]);

/** set to something other than PEFT's default (null, false, an empty list or object) */
const isSet = (v: unknown) => v != null && v !== false && !(Array.isArray(v) && v.length === 0) && !(typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0);

/**
 * LoraConfig fields whose adapter is not plain W + scale·B·A on the base as it is: applying only
 * A and B would give another model, so each is refused, saying what to do. (Fields that change
 * training only, lora_dropout, velora_config, monteclora_config, or nothing for GPT-2's Conv1D,
 * fan_in_fan_out (PEFT sets it true), use_qalora (GPTQ layers only), megatron_config, are read
 * as PEFT reads them: not at all.)
 */
function refuseOtherMath(j: Record<string, unknown>, fail: (what: string) => never): void {
  if (j.bias != null && j.bias !== 'none') fail(`bias ${JSON.stringify(j.bias)} is not supported (the adapter trains the base's biases too; only bias "none"): ${MERGE_IN_PEFT}`);
  const unsupported: [string, string][] = [
    ['use_dora', 'a DoRA adapter also rescales every column of each weight'],
    ['lora_bias', 'a bias beside lora_B'],
    ['layer_replication', 'PEFT stacks copies of the base\'s layers into a deeper model'],
    ['target_parameters', 'LoRA on parameters rather than modules'],
    ['trainable_token_indices', 'the adapter trains rows of the token embedding too'],
    ['kasa_config', "KaSA truncates the base weights' smallest singular values"],
    ['use_bdlora', 'block-diagonal LoRA'],
  ];
  for (const [k, why] of unsupported) if (isSet(j[k])) fail(`${k} ${JSON.stringify(j[k])} is not supported (${why}; only plain LoRA): ${MERGE_IN_PEFT}`);
  // applied to some tokens only, or routed among adapters: no merged weights are the same model
  if (isSet(j.alora_invocation_tokens)) fail('alora_invocation_tokens is not supported (an activated LoRA acts only from its invocation tokens on, which no merge into the weights can do): use it with PEFT');
  if (isSet(j.arrow_config)) fail('arrow_config is not supported (Arrow routes each token among several adapters, which no merge into the weights can do): use it with PEFT');
  // the adapter was trained beside a base with its initial low-rank part taken out (or quantized): A and B alone on the base are another model
  const init = j.init_lora_weights;
  if (typeof init === 'string' && /^(pissa|olora|corda|loftq|lora_ga)/i.test(init)) {
    fail(`init_lora_weights ${JSON.stringify(init)} is not supported (PEFT changed the base's weights under this adapter when it was made): save it as a plain LoRA adapter (save_pretrained(..., path_initial_model_for_weight_conversion=...)), or ${MERGE_IN_PEFT}`);
  }
}

/** a rank_pattern / alpha_pattern key as PEFT's get_pattern_key matches it: the module's whole name, or its end after a dot; null when JavaScript cannot read it */
function patternRegex(key: string): RegExp | null {
  return regexOf(`^(?:.*\\.)?(?:${key})$`);
}

/** the first entry of `pattern` whose key matches the site's module name (PEFT's get_pattern_key), or `fallback` */
function patternValue(pattern: [string, number][], s: LoraSite, fallback: number): number {
  const name = moduleName(s);
  return pattern.find(([key]) => patternRegex(key)!.test(name))?.[1] ?? fallback;
}

/** the rank, alpha and scale PEFT gives the adapter of one module: rank_pattern and alpha_pattern over r and lora_alpha */
export function siteLora(a: AdapterConfig, s: LoraSite): { r: number; alpha: number; scale: number } {
  const r = patternValue(a.rankPattern, s, a.r), alpha = patternValue(a.alphaPattern, s, a.alpha);
  return { r, alpha, scale: loraScale({ r, alpha, rslora: a.rslora }) };
}

// ---- merging ----

/**
 * W += scale · Aᵀ·Bᵀ for every site, in place on the base arrays (HF Conv1D weights [in, out]:
 * W[i][o] += scale · Σ_k A[k][i] · B[o][k]), each sum in float64, then rounded once to f32.
 * `adapter` holds canonical names (lora_A [r, in], lora_B [out, r]) with checked shapes.
 */
export function mergeLora(base: Map<string, Float32Array>, adapter: Map<string, Float32Array>, sites: LoraSite[], r: number, scale: number): void {
  const a = new Float64Array(r);
  for (const s of sites) {
    const W = base.get(`${s.name}.weight`), A = adapter.get(`${s.name}.lora_A.weight`), B = adapter.get(`${s.name}.lora_B.weight`);
    if (!W || !A || !B) throw new Error(`mergeLora: ${s.name}: missing ${!W ? 'base weight' : !A ? 'lora_A' : 'lora_B'}`);
    if (W.length !== s.in * s.out || A.length !== r * s.in || B.length !== s.out * r) throw new Error(`mergeLora: ${s.name}: sizes do not match r=${r}`);
    for (let i = 0; i < s.in; i++) {
      for (let k = 0; k < r; k++) a[k] = A[k * s.in + i] * scale;
      const row = i * s.out;
      for (let o = 0; o < s.out; o++) {
        let sum = 0;
        for (let k = 0; k < r; k++) sum += a[k] * B[o * r + k];
        W[row + o] = W[row + o] + sum;
      }
    }
  }
}
