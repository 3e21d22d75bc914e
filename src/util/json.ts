// JSON text that must hold an object (config.json, adapter_config.json): parsed, or a UserError
// that starts with where the text came from.
import { UserError } from './errors.ts';

export function parseJsonObject(text: string, source: string): Record<string, unknown> {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${source}: bad JSON (${(e as Error).message})`);
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new UserError(`${source}: not a JSON object`);
  return j as Record<string, unknown>;
}
