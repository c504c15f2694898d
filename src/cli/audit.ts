/**
 * `countersign audit verify|checkpoint`: offline checks of the audit trail (Part 11 §11.10(a)).
 *
 *   countersign audit verify --config DIR [--checkpoint FILE] [--json]
 *   countersign audit verify --db FILE --key PUB [--checkpoint FILE] [--json]
 *   countersign audit checkpoint --config DIR | --db FILE
 *
 * With --config the database is `<DIR>/data/audit.db` and the key `<DIR>/data/appliance.pub`.
 * `verify` exits 0 when the trail is intact and 1 naming the first bad entry.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { APPLIANCE_PUBLIC_KEY_FILE } from '../audit/appliance-key.ts';
import { readLatestCheckpoint } from '../audit/store.ts';
import { verifyAuditDatabase } from '../audit/verify.ts';
import type { AuditVerification } from '../audit/verify.ts';
import { CountersignError } from '../errors.ts';
import type { CliIO } from './io.ts';

export const AUDIT_DB_FILE = 'audit.db';

const USAGE = `usage:
  countersign audit verify --config DIR [--checkpoint FILE] [--json]
  countersign audit verify --db FILE --key PUB [--checkpoint FILE] [--json]
  countersign audit checkpoint (--config DIR | --db FILE)
`;

function usage(message: string): CountersignError {
  return new CountersignError('USAGE', `${message}\n${USAGE}`);
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e: unknown) {
    throw new CountersignError('CONFIG_INVALID', `cannot read ${what} ${file}`, { cause: e });
  }
}

interface Paths {
  readonly db: string;
  readonly key: string | undefined;
}

function resolvePaths(io: CliIO, values: { config?: string; db?: string; key?: string }): Paths {
  const at = (p: string): string => path.resolve(io.cwd, p);
  if (values.config !== undefined) {
    if (values.db !== undefined || values.key !== undefined)
      throw usage('give --config, or --db and --key, not both');
    const dataDir = path.join(at(values.config), 'data');
    return { db: path.join(dataDir, AUDIT_DB_FILE), key: path.join(dataDir, APPLIANCE_PUBLIC_KEY_FILE) };
  }
  if (values.db === undefined) throw usage('give --config DIR or --db FILE');
  return { db: at(values.db), key: values.key === undefined ? undefined : at(values.key) };
}

function parse(args: string[]) {
  try {
    return parseArgs({
      args,
      allowPositionals: false,
      strict: true,
      options: {
        config: { type: 'string' },
        db: { type: 'string' },
        key: { type: 'string' },
        checkpoint: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    }).values;
  } catch (e: unknown) {
    throw usage(e instanceof Error ? e.message : String(e));
  }
}

function formatReport(dbPath: string, result: AuditVerification): string {
  const lines = [`audit trail: ${dbPath}`, `entries: ${result.entries}, checkpoints: ${result.checkpoints}`];
  if (result.latestCheckpoint !== undefined) {
    const cp = result.latestCheckpoint;
    lines.push(
      `latest signed checkpoint: ${cp.origin}, size ${cp.size}, root ${Buffer.from(cp.root).toString('base64')}`,
    );
  }
  if (result.ok) {
    lines.push(
      'result: OK, every entry hash, Merkle root, checkpoint signature and consistency proof verified',
    );
  } else {
    lines.push(
      result.firstBadIndex === undefined
        ? 'result: FAILED'
        : `result: FAILED, first bad entry: ${result.firstBadIndex}`,
      'problems:',
      ...result.problems.map(
        (p) => `  ${p.index === undefined ? '-' : `[${p.index}]`} ${p.code}: ${p.message}`,
      ),
    );
    if (result.problemsTruncated) lines.push('  ... more problems not listed');
  }
  return `${lines.join('\n')}\n`;
}

function toJson(result: AuditVerification): string {
  const latest = result.latestCheckpoint;
  return `${JSON.stringify(
    {
      ...result,
      latestCheckpoint:
        latest === undefined
          ? undefined
          : {
              origin: latest.origin,
              size: latest.size,
              root: Buffer.from(latest.root).toString('base64'),
              extensions: latest.extensions,
            },
    },
    null,
    2,
  )}\n`;
}

async function verifyCommand(args: string[], io: CliIO): Promise<number> {
  const values = parse(args);
  const paths = resolvePaths(io, values);
  if (paths.key === undefined) throw usage('--db needs --key PUB (the appliance public key)');
  const publicKeyPem = await readText(paths.key, 'appliance public key');
  const options =
    values.checkpoint === undefined
      ? {}
      : { expectedCheckpoint: await readText(path.resolve(io.cwd, values.checkpoint), 'checkpoint') };
  const result = verifyAuditDatabase(paths.db, publicKeyPem, options);
  io.stdout(values.json ? toJson(result) : formatReport(paths.db, result));
  return result.ok ? 0 : 1;
}

function checkpointCommand(args: string[], io: CliIO): number {
  const values = parse(args);
  if (values.checkpoint !== undefined || values.json)
    throw usage('audit checkpoint takes --config or --db only');
  const paths = resolvePaths(io, values);
  io.stdout(readLatestCheckpoint(paths.db).note);
  return 0;
}

export async function run(args: string[], io: CliIO): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'verify':
      return await verifyCommand(rest, io);
    case 'checkpoint':
      return checkpointCommand(rest, io);
    case '--help':
    case '-h':
    case 'help':
      io.stdout(USAGE);
      return 0;
    default:
      throw usage(sub === undefined ? 'audit needs a subcommand' : `unknown audit subcommand "${sub}"`);
  }
}
