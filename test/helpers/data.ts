import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/** The real development data (MovieLens-1M half, teacher outputs): `../shared/data` beside the clone. */
export const SHARED_DATA = resolve(process.env.R4EC_SHARED_DATA ?? resolve(__dirname, '..', '..', '..', 'shared', 'data'));

/**
 * For `test(name, { skip: skipWithoutShared('ml-1m') }, …)`: false when present, else the reason
 * printed by the runner.
 */
export function skipWithoutShared(sub: string): string | false {
  const p = resolve(SHARED_DATA, sub);
  return existsSync(p) ? false : `shared data not found at ${p} (set R4EC_SHARED_DATA to its folder)`;
}

export function sharedPath(...parts: string[]): string {
  return resolve(SHARED_DATA, ...parts);
}
