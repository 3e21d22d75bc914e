// The values the OpenAI-compatible API takes for its sampling and length fields: one definition
// for serve.js's checks (src/server/api.ts) and the page's settings form (src/page/settings.ts),
// so that the page takes for either engine only what the server accepts. Host-neutral.
import { integerWanted } from '../util/args.ts';

interface ApiLimit {
  /** a whole number (a safe integer: JSON's numbers beyond 2^53 are not exact) */
  int: boolean;
  /** why an acceptable number is out of range, or null */
  check(v: number): string | null;
}

const penalty = (v: number) => (v >= -2 && v <= 2 ? null : 'is outside [-2, 2]');
const atLeastOne = (v: number) => (v >= 1 ? null : 'must be at least 1');

export const API_LIMITS = {
  temperature: { int: false, check: (v) => (v >= 0 && v <= 2 ? null : 'is outside [0, 2]') },
  top_p: { int: false, check: (v) => (v > 0 && v <= 1 ? null : 'is outside (0, 1]') },
  top_k: { int: true, check: (v) => (v >= 0 ? null : 'must be >= 0 (0 = off)') },
  repetition_penalty: { int: false, check: (v) => (v > 0 ? null : 'must be > 0 (1 = off)') },
  frequency_penalty: { int: false, check: penalty },
  presence_penalty: { int: false, check: penalty },
  max_tokens: { int: true, check: atLeastOne },
  max_completion_tokens: { int: true, check: atLeastOne },
  seed: { int: true, check: () => null },
} satisfies Record<string, ApiLimit>;

export type ApiLimitName = keyof typeof API_LIMITS;

/** why the API refuses `v` for `name` ("must be an integer", "is outside [0, 2]"), or null */
export function apiValueProblem(name: ApiLimitName, v: number): string | null {
  if (!Number.isFinite(v)) return 'must be a number';
  const l: ApiLimit = API_LIMITS[name];
  const want = l.int ? integerWanted(v) : null;
  if (want) return `must be ${want}`;
  return l.check(v);
}
