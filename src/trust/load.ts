/**
 * The disk edge of trust roots: reads `trusted_root.json` files and hands the text to the pure
 * parser. Layout for several roots side by side: `<dir>/<name>/trusted_root.json`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CountersignError } from '../errors.ts';
import type { TrustRoot } from './trusted-root.ts';
import { parseTrustedRoot } from './trusted-root.ts';

/** A trust root file is small; anything larger is not one. */
const MAX_TRUSTED_ROOT_BYTES = 4 * 1024 * 1024;
const ROOT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Parses trusted_root.json text (JSON syntax errors become TRUST_ROOT_INVALID). */
export function parseTrustedRootText(text: string, sourceName: string): TrustRoot {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e: unknown) {
    const detail = e instanceof Error ? e.message : String(e);
    throw new CountersignError('TRUST_ROOT_INVALID', `trusted root "${sourceName}": not JSON: ${detail}`);
  }
  return parseTrustedRoot(json, sourceName);
}

/** Reads and validates one trusted_root.json file. */
export function loadTrustRootFile(path: string, name: string): TrustRoot {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (e: unknown) {
    throw new CountersignError('TRUST_ROOT_INVALID', `trusted root "${name}": cannot read ${path}`, {
      cause: e,
    });
  }
  if (size > MAX_TRUSTED_ROOT_BYTES) {
    throw new CountersignError(
      'TRUST_ROOT_INVALID',
      `trusted root "${name}": larger than ${MAX_TRUSTED_ROOT_BYTES} bytes`,
    );
  }
  return parseTrustedRootText(readFileSync(path, 'utf8'), name);
}

/**
 * Loads every `<dir>/<name>/trusted_root.json`. One bad root fails the whole load: a trust
 * configuration is all valid or not used.
 */
export function loadTrustRootDir(dir: string): ReadonlyMap<string, TrustRoot> {
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch (e: unknown) {
    throw new CountersignError('TRUST_ROOT_INVALID', `cannot read trust root directory ${dir}`, { cause: e });
  }
  const roots = new Map<string, TrustRoot>();
  for (const name of names) {
    if (!ROOT_NAME.test(name)) {
      throw new CountersignError(
        'TRUST_ROOT_INVALID',
        `trust root directory name ${JSON.stringify(name)} is not allowed`,
      );
    }
    roots.set(name, loadTrustRootFile(join(dir, name, 'trusted_root.json'), name));
  }
  return roots;
}
