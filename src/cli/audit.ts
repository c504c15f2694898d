/**
 * `countersign audit verify|checkpoint|export|verify-export`: offline checks of the audit trail
 * (Part 11 §11.10(a)) and signed exports for inspectors (§11.10(b)).
 *
 *   countersign audit verify --config DIR [--checkpoint FILE] [--json]
 *   countersign audit verify --db FILE --key PUB [--checkpoint FILE] [--json]
 *   countersign audit checkpoint --config DIR | --db FILE
 *   countersign audit export --config DIR --format csv|jsonl|pdf [--from T] [--to T] [--policy P]
 *       [--image I] [--out FILE] [--previous-checkpoint FILE] [--actor NAME] [--max-rows N] [--quiet]
 *   countersign audit verify-export FILE [--sig FILE] (--key PUB | --config DIR)
 *       [--appliance-key PUB] [--previous-checkpoint FILE] [--json]
 *   countersign audit rotate-key --config DIR --reason TEXT [--actor NAME] [--json]
 *
 * With --config the database is `<dataDir>/audit.db` and the key `<dataDir>/appliance.pub`, where
 * dataDir is countersign.yaml's `dataDir` (default `data`) relative to DIR.
 * `verify` exits 0 when the trail is intact and 1 naming the first bad entry; `verify-export`
 * exits 0 when the export is intact and 1 listing its problems. `verify` follows key rotations:
 * the key given may be any key of the chain. `rotate-key` (appliance stopped) hands the trail
 * over to a new appliance key; see src/audit/key-rotation.ts.
 */
import { parseCommandArgs } from './args.ts';
import { dataDirOf, readSettingsFile } from '../config/load.ts';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import path from 'node:path';
import { APPLIANCE_PUBLIC_KEY_FILE } from '../audit/appliance-key.ts';
import {
  DEFAULT_REPORT_LIMITS,
  EXPORT_SIGNING_PUBLIC_KEY_FILE,
  exportAudit,
  isExportFormat,
  verifyExport,
} from '../audit/export/index.ts';
import type { ExportFilter, ExportVerification } from '../audit/export/index.ts';
import { readLatestCheckpoint } from '../audit/store.ts';
import { rotateApplianceKey } from '../audit/key-rotation.ts';
import type { KeyRotationResult } from '../audit/key-rotation.ts';
import { verifyAuditDatabase } from '../audit/verify.ts';
import type { AuditVerification } from '../audit/verify.ts';
import { CountersignError } from '../errors.ts';
import type { CliIO } from './io.ts';

export const AUDIT_DB_FILE = 'audit.db';

const USAGE = `usage:
  countersign audit verify --config DIR [--checkpoint FILE] [--json]
  countersign audit verify --db FILE --key PUB [--checkpoint FILE] [--json]
  countersign audit checkpoint (--config DIR | --db FILE)
  countersign audit export --config DIR --format csv|jsonl|pdf [--from T] [--to T]
      [--policy P] [--image I] [--out FILE] [--previous-checkpoint FILE] [--actor NAME]
      [--max-rows N] [--quiet]
  countersign audit verify-export FILE [--sig FILE] (--key PUB | --config DIR)
      [--appliance-key PUB] [--previous-checkpoint FILE] [--json]
  countersign audit rotate-key --config DIR --reason TEXT [--actor NAME] [--json]
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
    const dataDir = dataDirOf(at(values.config));
    return { db: path.join(dataDir, AUDIT_DB_FILE), key: path.join(dataDir, APPLIANCE_PUBLIC_KEY_FILE) };
  }
  if (values.db === undefined) throw usage('give --config DIR or --db FILE');
  return { db: at(values.db), key: values.key === undefined ? undefined : at(values.key) };
}

function parse(args: string[]) {
  return parseCommandArgs(
    {
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
    },
    USAGE,
  ).values;
}

function formatReport(dbPath: string, result: AuditVerification): string {
  const lines = [`audit trail: ${dbPath}`, `entries: ${result.entries}, checkpoints: ${result.checkpoints}`];
  if (result.latestCheckpoint !== undefined) {
    const cp = result.latestCheckpoint;
    lines.push(
      `latest signed checkpoint: ${cp.origin}, size ${cp.size}, root ${Buffer.from(cp.root).toString('base64')}`,
    );
  }
  if (result.keys.length > 1) {
    lines.push(
      'appliance keys followed:',
      ...result.keys.map((k) =>
        k.rotationEntry === null
          ? `  ${k.fingerprint} from the start`
          : `  ${k.fingerprint} from rotation entry ${k.rotationEntry} (checkpoints from size ${k.fromCheckpointSize})`,
      ),
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
    case 'export':
      return await exportCommand(rest, io);
    case 'verify-export':
      return await verifyExportCommand(rest, io);
    case 'rotate-key':
      return rotateKeyCommand(rest, io);
    case '--help':
    case '-h':
    case 'help':
      io.stdout(USAGE);
      return 0;
    default:
      throw usage(sub === undefined ? 'audit needs a subcommand' : `unknown audit subcommand "${sub}"`);
  }
}

/** The appliance settings, for the site name and data directory (defaults when there is no file). */

/** The operating system user, the printed name of an export when --actor is not given. */
function osUser(io: CliIO): string {
  try {
    return userInfo().username;
  } catch {
    return io.env['USER'] ?? io.env['LOGNAME'] ?? 'unknown user';
  }
}

function parseExportArgs(args: string[]) {
  return parseCommandArgs(
    {
      args,
      allowPositionals: false,
      strict: true,
      options: {
        config: { type: 'string' },
        format: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        policy: { type: 'string' },
        image: { type: 'string' },
        out: { type: 'string' },
        'previous-checkpoint': { type: 'string' },
        actor: { type: 'string' },
        'max-rows': { type: 'string' },
        quiet: { type: 'boolean', default: false },
      },
    },
    USAGE,
  ).values;
}

/** Progress on stderr: a line per tenth of the log scanned, for logs of 10,000 entries or more. */
function progressReporter(io: CliIO): (scanned: number, total: number) => void {
  let shown = 0;
  return (scanned, total) => {
    if (total < 10_000) return;
    const tenth = Math.floor((scanned * 10) / total);
    if (tenth <= shown) return;
    shown = tenth;
    io.stderr(`countersign audit export: ${tenth * 10}% (${scanned} of ${total} entries scanned)\n`);
  };
}

async function exportCommand(args: string[], io: CliIO): Promise<number> {
  const values = parseExportArgs(args);
  if (values.config === undefined) throw usage('audit export needs --config DIR');
  const format = values.format;
  if (format === undefined || !isExportFormat(format))
    throw usage('audit export needs --format csv|jsonl|pdf');
  let maxRows = DEFAULT_REPORT_LIMITS.decisionRows;
  if (values['max-rows'] !== undefined) {
    if (!/^[1-9][0-9]{0,6}$/.test(values['max-rows'])) throw usage('--max-rows must be 1 to 9999999');
    maxRows = Number(values['max-rows']);
  }
  const configDir = path.resolve(io.cwd, values.config);
  const { settings } = readSettingsFile(configDir);
  const dataDir = path.resolve(configDir, settings.dataDir);
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const out = path.resolve(io.cwd, values.out ?? `countersign-audit-${stamp}.${format}`);
  const filter: ExportFilter = {
    ...(values.from === undefined ? {} : { from: values.from }),
    ...(values.to === undefined ? {} : { to: values.to }),
    ...(values.policy === undefined ? {} : { policy: values.policy }),
    ...(values.image === undefined ? {} : { image: values.image }),
  };
  const previous = values['previous-checkpoint'];
  const result = await exportAudit({
    dbPath: path.join(dataDir, AUDIT_DB_FILE),
    dataDir,
    configDir,
    format,
    out,
    filter,
    site: settings.site,
    appliance: hostname(),
    softwareVersion: io.version,
    generatedBy: values.actor ?? osUser(io),
    reportLimits: { ...DEFAULT_REPORT_LIMITS, decisionRows: maxRows },
    ...(previous === undefined
      ? {}
      : { previousCheckpoint: await readText(path.resolve(io.cwd, previous), 'previous checkpoint') }),
    ...(values.quiet ? {} : { onProgress: progressReporter(io) }),
  });
  const root = Buffer.from(result.checkpoint.root).toString('base64');
  io.stdout(
    [
      `export: ${result.file} (${result.format}, ${result.bytes} bytes${result.pages === undefined ? '' : `, ${result.pages} pages`})`,
      `signature: ${result.signatureFile} (verify with ${path.join(dataDir, EXPORT_SIGNING_PUBLIC_KEY_FILE)})`,
      `entries: ${result.entries}`,
      `checkpoint: ${result.checkpoint.origin}, size ${result.checkpoint.size}, root ${root}`,
      ...(result.consistencyFrom === undefined
        ? []
        : [`consistent with the previous checkpoint of size ${result.consistencyFrom}`]),
    ].join('\n') + '\n',
  );
  return 0;
}

function parseVerifyExportArgs(args: string[]) {
  return parseCommandArgs(
    {
      args,
      allowPositionals: true,
      strict: true,
      options: {
        sig: { type: 'string' },
        key: { type: 'string' },
        config: { type: 'string' },
        'appliance-key': { type: 'string' },
        'previous-checkpoint': { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    },
    USAGE,
  );
}

function formatExportReport(file: string, result: ExportVerification): string {
  const lines = [`export: ${file} (${result.format})`];
  lines.push(`signature: ${result.signatureValid ? 'valid' : 'INVALID'}`);
  if (result.entries !== undefined) lines.push(`entries: ${result.entries}`);
  if (result.checkpoint !== undefined) {
    const cp = result.checkpoint;
    lines.push(`checkpoint: ${cp.origin}, size ${cp.size}, root ${Buffer.from(cp.root).toString('base64')}`);
  }
  if (result.consistencyFrom !== undefined)
    lines.push(`consistency: proven from the checkpoint of size ${result.consistencyFrom}`);
  if (result.ok) {
    lines.push(
      result.format === 'jsonl'
        ? 'result: OK, signature, checkpoint, every entry hash and inclusion proof verified'
        : 'result: OK, the signature covers every byte of the file',
    );
  } else {
    lines.push(
      'result: FAILED',
      'problems:',
      ...result.problems.map(
        (p) => `  ${p.line === undefined ? '-' : `line ${p.line}`} ${p.code}: ${p.message}`,
      ),
    );
    if (result.problemsTruncated) lines.push('  ... more problems not listed');
  }
  return `${lines.join('\n')}\n`;
}

async function verifyExportCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseVerifyExportArgs(args);
  const [fileArg, ...extra] = positionals;
  if (fileArg === undefined || extra.length > 0) throw usage('audit verify-export takes one FILE');
  const at = (p: string): string => path.resolve(io.cwd, p);
  const file = at(fileArg);
  let keyFile: string;
  if (values.key !== undefined) {
    if (values.config !== undefined) throw usage('give --key or --config, not both');
    keyFile = at(values.key);
  } else if (values.config !== undefined) {
    const configDir = at(values.config);
    keyFile = path.join(dataDirOf(configDir), EXPORT_SIGNING_PUBLIC_KEY_FILE);
  } else {
    throw usage(
      `audit verify-export needs --key PUB (the appliance's ${EXPORT_SIGNING_PUBLIC_KEY_FILE}) or --config DIR`,
    );
  }
  if (!existsSync(file)) throw new CountersignError('NOT_FOUND', `no export ${file}`);
  const appliance = values['appliance-key'];
  const previous = values['previous-checkpoint'];
  const result = await verifyExport(file, {
    signature: await readText(values.sig === undefined ? `${file}.sig` : at(values.sig), 'signature'),
    publicKeyPem: await readText(keyFile, 'export signing public key'),
    ...(appliance === undefined
      ? {}
      : { appliancePublicKeyPem: await readText(at(appliance), 'appliance public key') }),
    ...(previous === undefined
      ? {}
      : { previousCheckpoint: await readText(at(previous), 'previous checkpoint') }),
  });
  io.stdout(
    values.json
      ? `${JSON.stringify(
          {
            ...result,
            checkpoint:
              result.checkpoint === undefined
                ? undefined
                : {
                    origin: result.checkpoint.origin,
                    size: result.checkpoint.size,
                    root: Buffer.from(result.checkpoint.root).toString('base64'),
                  },
          },
          null,
          2,
        )}\n`
      : formatExportReport(file, result),
  );
  return result.ok ? 0 : 1;
}

function parseRotateArgs(args: string[]) {
  return parseCommandArgs(
    {
      args,
      allowPositionals: false,
      strict: true,
      options: {
        config: { type: 'string' },
        reason: { type: 'string' },
        actor: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    },
    USAGE,
  ).values;
}

function formatRotation(r: KeyRotationResult, publicKeyPath: string): string {
  return [
    r.resumed
      ? `finished the interrupted rotation of the appliance key of ${r.origin}; audit entry ${r.index}`
      : `rotated the appliance key of ${r.origin}; audit entry ${r.index}`,
    `old key: ${r.oldKey.fingerprint} (kept in ${r.retiredKeyPath})`,
    `new key: ${r.newKey.fingerprint} (${publicKeyPath})`,
    `new verifier key: ${r.newKey.verifierKey}`,
    `key chain: ${r.chainPath}`,
    'checkpoint signed by both keys (archive it with the new public key):',
    r.checkpoint.trimEnd(),
    '',
  ].join('\n');
}

function rotateKeyCommand(args: string[], io: CliIO): number {
  const values = parseRotateArgs(args);
  if (values.config === undefined) throw usage('audit rotate-key needs --config DIR');
  if (values.reason === undefined || values.reason.trim() === '')
    throw usage('audit rotate-key needs --reason TEXT (recorded in the audit trail)');
  const dataDir = dataDirOf(path.resolve(io.cwd, values.config));
  const result = rotateApplianceKey({
    dataDir,
    dbPath: path.join(dataDir, AUDIT_DB_FILE),
    reason: values.reason,
    actor: values.actor ?? osUser(io),
    softwareVersion: io.version,
  });
  io.stdout(
    values.json
      ? `${JSON.stringify(result, null, 2)}\n`
      : formatRotation(result, path.join(dataDir, APPLIANCE_PUBLIC_KEY_FILE)),
  );
  return 0;
}
