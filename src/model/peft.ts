// A PEFT LoRA adapter's two files, parsed from their contents and checked against the base model
// they are applied to, then merged into its weights: host-neutral, so Node (src/node/adapter_dir.ts reads the
// files) and the chat page (it fetches them) apply an adapter with the same code.
import { UserError } from '../util/errors.ts';
import { countNonFinite } from '../util/finite.ts';
import type { GPT2Config } from './config.ts';
import { adapterTargets, canonicalLoraName, LORA_MODULES, MERGE_IN_PEFT, mergeLora, moduleShape, parseAdapterConfig, site, siteLora, type AdapterConfig, type LoraSite } from './lora.ts';
import { fmtShape, type SafetensorsFile } from './safetensors.ts';

/** the two files of a PEFT adapter directory, as save_pretrained names them */
export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

export interface ParsedAdapter {
  config: AdapterConfig;
  sites: LoraSite[];
  /** lora_A / lora_B of each site by canonical name */
  arrays: Map<string, Float32Array>;
  /** each site's rank, alpha and scale by site name: r and lora_alpha, or rank_pattern's and alpha_pattern's */
  ranks: Map<string, { r: number; alpha: number; scale: number }>;
}

/**
 * adapter_config.json's text and adapter_model.safetensors, parsed, for a base model of shape
 * `base`. Every tensor must be a LoRA weight of one of GPT-2's projections, of that base's layers
 * and widths, with both A and B and the config's rank; a UserError (starting with the file's
 * name in `where`) says which is not and what to do (an adapter trained on another base: pass that base).
 */
export function parseAdapter(configText: string, f: SafetensorsFile, base: GPT2Config, where: { config: string; weights: string }): ParsedAdapter {
  const config = parseAdapterConfig(configText, where.config);
  if (config.unknown.length) {
    // a newer PEFT's field may make the adapter more than plain LoRA: applying A and B alone would be wrong without a word
    const one = config.unknown.length === 1;
    const fields = config.unknown.map(([k, v]) => `${k} ${JSON.stringify(v).slice(0, 40)}`).join(', ');
    console.warn(`warning: ${where.config}: ${fields}: ${one ? 'a field' : 'fields'} this engine does not know (a newer PEFT's?), ignored: the adapter is applied as plain LoRA, W + scale·B·A; if ${one ? 'it changes' : 'they change'} that, ${MERGE_IN_PEFT}`);
  }
  const path = where.weights;
  const trainedOn = config.base ? `'${config.base}' (adapter_config.json's base_model_name_or_path)` : 'its base model';
  const otherBase = (what: string) =>
    new UserError(`${path}: ${what}: the adapter was trained on another base model; pass ${trainedOn} with --init`);
  const found = new Map<string, { layer: number; module: (typeof LORA_MODULES)[number]; A?: string; B?: string }>();
  for (const key of f.names) {
    const c = canonicalLoraName(key);
    if (!c) throw notLoraWeight(key, config, path);
    if (c.layer >= base.n_layer) throw otherBase(`'${key}' is for layer ${c.layer}, but this base model has ${base.n_layer} layers`);
    const [inF, outF] = moduleShape(base, c.module);
    const shape = f.info(key).shape;
    const r = siteLora(config, site(base, c.layer, c.module)).r;
    const want = c.which === 'A' ? [r, inF] : [outF, r];
    if (shape.length !== 2 || shape[0] !== want[0] || shape[1] !== want[1]) {
      const rankOk = shape.length === 2 && shape[c.which === 'A' ? 0 : 1] === r;
      const says = r === config.r ? `r = ${r}` : `r = ${r} for this module (rank_pattern)`;
      if (!rankOk) throw new UserError(`${path}: '${key}' has shape ${fmtShape(shape)}, but adapter_config.json says ${says}`);
      throw otherBase(`'${key}' has shape ${fmtShape(shape)}, but this base's ${c.module} needs ${fmtShape(want)} (n_embd ${base.n_embd})`);
    }
    const siteName = `h.${c.layer}.${c.module}`;
    const s = found.get(siteName) ?? { layer: c.layer, module: c.module };
    s[c.which] = key;
    found.set(siteName, s);
  }
  if (!found.size) throw new UserError(`${path}: holds no LoRA weights`);
  const sites: LoraSite[] = [];
  const arrays = new Map<string, Float32Array>();
  const ranks: ParsedAdapter['ranks'] = new Map();
  const ordered = [...found.entries()].sort(([, a], [, b]) => a.layer - b.layer || LORA_MODULES.indexOf(a.module) - LORA_MODULES.indexOf(b.module));
  for (const [name, s] of ordered) {
    if (!s.A || !s.B) throw new UserError(`${path}: ${name} has lora_${s.A ? 'A' : 'B'} but no lora_${s.A ? 'B' : 'A'} (an incomplete adapter)`);
    const at = site(base, s.layer, s.module);
    sites.push(at);
    ranks.set(name, siteLora(config, at));
    for (const [which, key] of [['A', s.A], ['B', s.B]] as const) {
      const a = f.get(key);
      if (countNonFinite(a)) throw new UserError(`${path}: '${key}' holds NaN or infinite values`);
      arrays.set(`${name}.lora_${which}.weight`, a);
    }
  }
  checkTargets(config, sites, base, where);
  return { config, sites, arrays, ranks };
}

/**
 * Why tensor `key` cannot be applied, and what to do. A module the adapter trained whole
 * (modules_to_save: PEFT saves it as the module's own key, e.g. base_model.model.lm_head.weight,
 * older writers with '.modules_to_save.default' in it) or any other tensor of GPT-2's modules
 * PEFT merges itself; a tensor of another architecture's modules is not GPT-2's.
 */
function notLoraWeight(key: string, config: AdapterConfig, path: string): UserError {
  const param = key.replace(/^base_model\.model\./, '').replace(/\.modules_to_save\.[^.]+(?=\.[^.]+$)/, '');
  const module = param.slice(0, param.lastIndexOf('.'));
  // PEFT's match of a modules_to_save entry: the module's name, or its end after a dot
  const saved = key.includes('.modules_to_save.') || config.modulesToSave.some((m) => module === m || module.endsWith(`.${m}`));
  if (saved) {
    return new UserError(`${path}: tensor '${key}' is a whole copy of ${module} (modules_to_save), trained beside the LoRA weights, which this engine cannot apply: ${MERGE_IN_PEFT}, or train the adapter again without modules_to_save`);
  }
  const what = `${path}: tensor '${key}' is not a LoRA weight of GPT-2's c_attn, attn.c_proj, mlp.c_fc or mlp.c_proj`;
  if (/^(transformer\.(wte|wpe)|lm_head)$/.test(module)) return new UserError(`${what} (an adapter of the embeddings or lm_head cannot be applied here): ${MERGE_IN_PEFT}`);
  if (/^(transformer|lm_head)\./.test(module)) return new UserError(`${what} (only their lora_A and lora_B weights can be applied here): ${MERGE_IN_PEFT}`);
  return new UserError(`${what} (an adapter of another architecture cannot be applied)`);
}

/**
 * The file's projections against the config's target_modules. PEFT adapts the modules the config
 * targets and loads the file's tensors into them: tensors of other modules are dropped without a
 * word (this engine would apply them, so the two would disagree: refused), targeted modules
 * without tensors stay unchanged with a warning of missing keys (as here: a warning).
 */
function checkTargets(config: AdapterConfig, sites: LoraSite[], base: GPT2Config, where: { config: string; weights: string }): void {
  const targeted = adapterTargets(config);
  if (!targeted) {
    console.warn(`warning: ${where.config}: target_modules ${JSON.stringify(config.targetPattern)} is a regex JavaScript cannot read (Python-only syntax): the file's LoRA weights are applied as they are, not checked against it`);
    return;
  }
  const also = [
    config.layers && `layers_to_transform ${JSON.stringify(config.layers)}`,
    config.exclude.length && `exclude_modules ${JSON.stringify(config.exclude)}`,
    config.modulesToSave.length && `modules_to_save ${JSON.stringify(config.modulesToSave)}`,
    config.layersPattern && `layers_pattern ${JSON.stringify(config.layersPattern)}`,
  ].filter(Boolean);
  const targets = JSON.stringify(config.targetPattern ?? config.targets) + (also.length ? ` (${also.join(', ')})` : '');
  const names = (list: LoraSite[]) => list.slice(0, 4).map((s) => s.name).join(', ') + (list.length > 4 ? `, and ${list.length - 4} more` : '');
  const extra = sites.filter((s) => !targeted(s));
  if (extra.length) {
    throw new UserError(
      `${where.weights}: holds LoRA weights for ${names(extra)}, which adapter_config.json's target_modules ${targets} does not name: ` +
        `PEFT would ignore them, this engine would apply them; ${also.length ? 'let the config pick the modules (target_modules and the fields beside it)' : 'add the modules to target_modules'}, or remove their tensors`,
    );
  }
  const have = new Set(sites.map((s) => s.name));
  const missing: LoraSite[] = [];
  for (let l = 0; l < base.n_layer; l++) {
    for (const m of LORA_MODULES) {
      const s = site(base, l, m);
      if (targeted(s) && !have.has(s.name)) missing.push(s);
    }
  }
  if (missing.length) {
    console.warn(`warning: ${where.config}: target_modules ${targets} names ${names(missing)}, but ${where.weights} holds no weights for them: they stay unchanged (PEFT warns of missing adapter keys and does the same)`);
  }
}

/** W += scale · Aᵀ·Bᵀ for every site of `a`, in place on the base model's arrays (each site's scale alpha/r, or alpha/√r with rslora) */
export function mergeAdapter(weights: Map<string, Float32Array>, a: ParsedAdapter): void {
  for (const s of a.sites) {
    const { r, scale } = a.ranks.get(s.name)!;
    mergeLora(weights, a.arrays, [s], r, scale);
  }
}

/** the adapter's rank as people read it: 'r 8', or 'r 4 to 16' where rank_pattern gives modules their own */
export function describeRank(a: ParsedAdapter): string {
  const rs = [...a.ranks.values()].map((x) => x.r);
  const lo = Math.min(...rs), hi = Math.max(...rs);
  return lo === hi ? `r ${lo}` : `r ${lo} to ${hi}`;
}

