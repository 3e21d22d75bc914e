// Tiny flag parser shared by the CLIs: `--name value`, `--name=value`, boolean `--flag`,
// repeatable flags, durations (`90s`, `10m`, `1h30m`: seconds). Unknown flags and bad values are UserErrors (one readable line).
import { UserError } from './errors.ts';

export interface FlagSpec {
  name: string;
  type: 'string' | 'number' | 'int' | 'boolean' | 'list' | 'duration';
  help: string;
  default?: string | number | boolean | string[];
  choices?: string[];
  /** the value's name in --help (default by type: STR, N, TIME) */
  arg?: string;
}

export type Parsed = Record<string, string | number | boolean | string[] | undefined>;

/**
 * What an integer flag, setting or API field wants when `v` is not one it holds exactly, or null:
 * beyond ±2^53 a double is no longer the integer typed (two seeds typed apart would be one).
 * One check for the CLIs' flags, chat.js's /set, the page's settings and serve.js's fields.
 */
export function integerWanted(v: number): string | null {
  if (Number.isSafeInteger(v)) return null;
  return Number.isInteger(v) ? `an integer between ±${Number.MAX_SAFE_INTEGER}` : 'an integer';
}

/** whether `argv` gives flag --`name` (`--name V` or `--name=V`): parseFlags fills in defaults, so its result cannot say */
export const flagGiven = (argv: readonly string[], name: string) => argv.some((x) => x === `--${name}` || x.startsWith(`--${name}=`));

/** `positional`: what a word that is not a flag was likely meant as (chat.js: a message for --prompt) */
export function parseFlags(argv: string[], specs: FlagSpec[], positional?: string): Parsed {
  const out: Parsed = {};
  for (const s of specs) out[s.name] = Array.isArray(s.default) ? [...s.default] : s.default;
  const byName = new Map(specs.map((s) => [s.name, s]));
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] === '-h' && byName.has('help') ? '--help' : argv[i];
    if (!a.startsWith('--')) throw new UserError(`unexpected argument '${a}'${positional ? `: ${positional}` : ''} (see --help)`);
    let [name, val] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const spec = byName.get(name);
    if (!spec) {
      const near = nearestFlag(name, [...byName.keys()]);
      throw new UserError(`unknown flag --${name}${near ? `: did you mean --${near}?` : ''} (see --help)`);
    }
    if (spec.type === 'boolean') {
      out[name] = val === undefined ? true : !/^(0|false|no)$/i.test(val);
      continue;
    }
    if (val === undefined) {
      if (i + 1 >= argv.length) throw new UserError(`--${name} needs a value`);
      val = argv[++i];
    }
    if (spec.type === 'number' || spec.type === 'int') {
      const n = Number(val);
      if (val.trim() === '' || !Number.isFinite(n)) throw new UserError(`--${name} expects ${spec.type === 'int' ? 'an integer' : 'a number'}, got '${val}'`);
      const want = spec.type === 'int' ? integerWanted(n) : null;
      if (want) throw new UserError(`--${name} expects ${want}, got '${val}'`);
      out[name] = n;
    } else if (spec.type === 'duration') {
      const s = parseDuration(val);
      if (s === null) throw new UserError(`--${name} expects a duration such as 90s, 10m, 1h or 1h30m, got '${val}'`);
      out[name] = s;
    } else if (spec.type === 'list') {
      if (!seen.has(name)) out[name] = [];
      (out[name] as string[]).push(val);
    } else {
      if (spec.choices && !spec.choices.includes(val)) throw new UserError(`--${name} must be one of ${spec.choices.join('|')}, got '${val}'`);
      out[name] = val;
    }
    seen.add(name);
  }
  return out;
}

/**
 * The flag a mistyped `name` most likely meant: the same with '-' for '_' (`max_new_tokens`, as
 * chat.js's /set and Hugging Face spell it), else the only flag it begins (`temp`), else the only
 * one within two edits (`filer`; two letters swapped are one: `prot`); undefined when none or several fit.
 */
export function nearestFlag(name: string, names: string[]): string | undefined {
  const dashed = name.replace(/_/g, '-');
  if (names.includes(dashed)) return dashed;
  const only = (c: string[]) => (c.length === 1 ? c[0] : undefined);
  // the same words in another order (--lr-min for --min-lr)
  const words = (n: string) => n.split('-').sort().join('-');
  const reordered = only(names.filter((n) => n.includes('-') && words(n) === words(dashed)));
  if (reordered) return reordered;
  if (dashed.length >= 3) {
    const prefixed = only(names.filter((n) => n.startsWith(dashed)));
    if (prefixed) return prefixed;
  }
  return only(names.filter((n) => editDistance(n, dashed) <= 2 && editDistance(n, dashed) < n.length / 2));
}

/** edits from a to b, two neighbouring letters swapped counting as one (the commonest typo) */
function editDistance(a: string, b: string): number {
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j], before[j - 2] + 1);
    }
    before = prev;
    prev = row;
  }
  return prev[b.length];
}

/** '90s', '10m', '1h30m', '1.5h' (or a bare number of seconds) -> seconds; null when malformed */
export function parseDuration(text: string): number | null {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const m = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(t);
  if (!m || !(m[1] || m[2] || m[3])) return null;
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

export function helpText(usage: string, specs: FlagSpec[]): string {
  const rows = specs.map((s) => {
    const arg = s.arg ?? { list: 'STR', string: 'STR', duration: 'TIME', number: 'N', int: 'N', boolean: '' }[s.type];
    const flag = `--${s.name}${s.type === 'boolean' ? '' : s.choices ? ` ${s.choices.join('|')}` : ` ${arg}`}`;
    const def = s.default === undefined || s.default === false || (Array.isArray(s.default) && !s.default.length) ? '' : ` (default ${s.default})`;
    return `  ${flag.padEnd(30)} ${s.help}${def}`;
  });
  return `${usage}\n\n${rows.join('\n')}\n`;
}
