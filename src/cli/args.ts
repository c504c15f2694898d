/** Strict command-line parsing shared by the commands: any parse failure is a USAGE error with help. */
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { CountersignError } from '../errors.ts';

export function parseCommandArgs<const C extends ParseArgsConfig>(
  config: C,
  usageText: string,
): ReturnType<typeof parseArgs<C>> {
  try {
    return parseArgs(config);
  } catch (e: unknown) {
    throw new CountersignError('USAGE', `${e instanceof Error ? e.message : String(e)}\n${usageText}`);
  }
}
