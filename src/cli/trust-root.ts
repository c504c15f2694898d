/**
 * `countersign trust-root`: assemble and check Sigstore trust roots.
 *   trust-root create --ca-chain PEM [--rekor-key PEM] [--ctlog-key PEM] [--tsa-chain PEM]
 *                     [--valid-from ISO] --out FILE
 *   trust-root check FILE        validate a trusted_root.json and print what it holds
 *   trust-root import-tuf DIR --root PINNED_ROOT_JSON --out FILE [--cache DIR]
 *                                verify a TUF repository snapshot on disk and import its
 *                                trusted_root.json (never fetches anything)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CountersignError, exitCodeFor } from '../errors.ts';
import { createTrustedRoot, loadTrustRootFile } from '../trust/index.ts';
import { importTrustedRootFromTuf } from '../trust/tuf-import.ts';
import type { CliIO } from './io.ts';

const USAGE = `usage: countersign trust-root create --ca-chain PEM [--rekor-key PEM] [--ctlog-key PEM]
                                     [--tsa-chain PEM] [--valid-from ISO] --out FILE
       countersign trust-root check FILE
       countersign trust-root import-tuf DIR --root PINNED_ROOT_JSON --out FILE [--cache DIR]
`;

export async function run(args: string[], io: CliIO): Promise<number> {
  await Promise.resolve();
  const [sub, ...rest] = args;
  try {
    switch (sub) {
      case 'create':
        return create(rest, io);
      case 'check':
        return check(rest, io);
      case 'import-tuf':
        return await importTuf(rest, io);
      case '--help':
      case '-h':
        io.stdout(USAGE);
        return 0;
      default:
        return usageError(io, sub === undefined ? 'a subcommand is required' : `unknown subcommand "${sub}"`);
    }
  } catch (e: unknown) {
    if (e instanceof CountersignError) {
      io.stderr(`countersign trust-root: ${e.message} [${e.code}]\n`);
      return exitCodeFor(e.code);
    }
    throw e;
  }
}

function create(args: string[], io: CliIO): number {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      options: {
        'ca-chain': { type: 'string' },
        'rekor-key': { type: 'string' },
        'ctlog-key': { type: 'string' },
        'tsa-chain': { type: 'string' },
        'valid-from': { type: 'string' },
        out: { type: 'string' },
      },
    }));
  } catch (e: unknown) {
    return usageError(io, e instanceof Error ? e.message : String(e));
  }
  const caChain = values['ca-chain'];
  const out = values.out;
  if (caChain === undefined || out === undefined) return usageError(io, '--ca-chain and --out are required');
  let validFrom: Date | undefined;
  if (values['valid-from'] !== undefined) {
    validFrom = new Date(values['valid-from']);
    if (Number.isNaN(validFrom.getTime())) return usageError(io, '--valid-from is not an ISO 8601 time');
  }
  const read = (p: string | undefined): string | undefined => (p === undefined ? undefined : readText(io, p));
  const rekorKeyPem = read(values['rekor-key']);
  const ctlogKeyPem = read(values['ctlog-key']);
  const tsaChainPem = read(values['tsa-chain']);
  const root = createTrustedRoot({
    caChainPem: readText(io, caChain),
    ...(rekorKeyPem !== undefined ? { rekorKeyPem } : {}),
    ...(ctlogKeyPem !== undefined ? { ctlogKeyPem } : {}),
    ...(tsaChainPem !== undefined ? { tsaChainPem } : {}),
    ...(validFrom !== undefined ? { validFrom } : {}),
  });
  writeFileSync(resolve(io.cwd, out), `${JSON.stringify(root, null, 2)}\n`, { mode: 0o644 });
  io.stdout(`wrote ${out}\n`);
  return 0;
}

function check(args: string[], io: CliIO): number {
  const [file, ...extra] = args;
  if (file === undefined || extra.length > 0) return usageError(io, 'check takes exactly one FILE');
  const root = loadTrustRootFile(resolve(io.cwd, file), file);
  io.stdout(
    `${file}: valid trusted root, sha256 ${root.fingerprint}\n` +
      `  certificate authorities: ${root.hasCertificateAuthorities ? 'yes' : 'no'}, tlogs: ${root.hasTlogs ? 'yes' : 'no'}, ` +
      `ctlogs: ${root.hasCtlogs ? 'yes' : 'no'}, timestamp authorities: ${root.hasTimestampAuthorities ? 'yes' : 'no'}` +
      `${root.caOnly ? ' (CA only: certificates checked at the current time)' : ''}\n`,
  );
  return 0;
}

async function importTuf(args: string[], io: CliIO): Promise<number> {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        root: { type: 'string' },
        out: { type: 'string' },
        cache: { type: 'string' },
      },
    }));
  } catch (e: unknown) {
    return usageError(io, e instanceof Error ? e.message : String(e));
  }
  const [dir, ...extra] = positionals;
  if (dir === undefined || extra.length > 0) return usageError(io, 'import-tuf takes exactly one DIR');
  if (values.root === undefined || values.out === undefined)
    return usageError(io, '--root and --out are required');
  const result = await importTrustedRootFromTuf({
    repositoryDir: resolve(io.cwd, dir),
    pinnedRootPath: resolve(io.cwd, values.root),
    outPath: resolve(io.cwd, values.out),
    ...(values.cache !== undefined ? { cacheDir: resolve(io.cwd, values.cache) } : {}),
  });
  const c = result.counts;
  io.stdout(
    `imported trusted_root.json from TUF repository ${dir}\n` +
      `  TUF root version ${result.rootVersion}, timestamp version ${result.timestampVersion}, ` +
      `snapshot version ${result.snapshotVersion}, targets version ${result.targetsVersion}\n` +
      `  trusted_root.json sha256 ${result.sha256} (${result.length} bytes)\n` +
      `  certificate authorities: ${c.certificateAuthorities}, tlogs: ${c.tlogs}, ctlogs: ${c.ctlogs}, ` +
      `timestamp authorities: ${c.timestampAuthorities}\n` +
      `wrote ${values.out}\n`,
  );
  return 0;
}

function readText(io: CliIO, path: string): string {
  try {
    return readFileSync(resolve(io.cwd, path), 'utf8');
  } catch {
    throw new CountersignError('USAGE', `cannot read ${path}`);
  }
}

function usageError(io: CliIO, message: string): number {
  io.stderr(`countersign trust-root: ${message} [USAGE]\n${USAGE}`);
  return exitCodeFor('USAGE');
}
