/**
 * `countersign verify-bundle`: verifies one Sigstore bundle against an artifact, following the
 * sigstore-conformance CLI protocol:
 *   verify-bundle --bundle FILE --certificate-identity ID --certificate-oidc-issuer URL
 *                 [--trusted-root FILE] FILE_OR_DIGEST
 *   verify-bundle --bundle FILE --key PATH [--trusted-root FILE] FILE_OR_DIGEST
 * countersign is offline: there is no default trust root to fetch, `--trusted-root` is required.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { verifyBundle } from '../bundle/index.ts';
import type { BundleArtifact } from '../bundle/index.ts';
import { CountersignError, exitCodeFor } from '../errors.ts';
import { loadTrustRootFile } from '../trust/index.ts';
import { parsePublicKeyPem } from '../verify/keys.ts';
import type { IdentityMatcher, PublicKeyMaterial } from '../verify/types.ts';
import type { CliIO } from './io.ts';

const USAGE = `usage: countersign verify-bundle --bundle FILE --trusted-root FILE
         (--certificate-identity ID | --certificate-identity-regexp RE)
         [--certificate-oidc-issuer URL | --certificate-oidc-issuer-regexp RE]
         FILE_OR_sha256:HEX
       countersign verify-bundle --bundle FILE --key PEM_FILE --trusted-root FILE FILE_OR_sha256:HEX
`;

/** Bundles and keys are small; refuse anything that is not. */
const MAX_INPUT_BYTES = 16 * 1024 * 1024;
/** Artifacts are hashed in memory here; the conformance artifacts are tiny. */
const MAX_ARTIFACT_BYTES = 512 * 1024 * 1024;
const DIGEST_ARG = /^sha256:[0-9a-f]{64}$/;

export async function run(args: string[], io: CliIO): Promise<number> {
  await Promise.resolve();
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        bundle: { type: 'string' },
        'certificate-identity': { type: 'string' },
        'certificate-identity-regexp': { type: 'string' },
        'certificate-oidc-issuer': { type: 'string' },
        'certificate-oidc-issuer-regexp': { type: 'string' },
        key: { type: 'string' },
        'trusted-root': { type: 'string' },
        staging: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e: unknown) {
    return usageError(io, e instanceof Error ? e.message : String(e));
  }
  if (values.help === true) {
    io.stdout(USAGE);
    return 0;
  }
  if (values.staging === true)
    return usageError(io, '--staging: countersign is offline, give --trusted-root');
  if (values.bundle === undefined) return usageError(io, '--bundle is required');
  if (values['trusted-root'] === undefined) {
    return usageError(io, '--trusted-root is required (countersign never fetches a trust root)');
  }
  if (positionals.length !== 1 || positionals[0] === undefined) {
    return usageError(io, 'exactly one FILE_OR_DIGEST is required');
  }
  const target = positionals[0];

  let identity: IdentityMatcher | undefined;
  const subject = values['certificate-identity'];
  const subjectRegExp = values['certificate-identity-regexp'];
  const issuer = values['certificate-oidc-issuer'];
  const issuerRegExp = values['certificate-oidc-issuer-regexp'];
  const anyIdentityFlag = [subject, subjectRegExp, issuer, issuerRegExp].some((v) => v !== undefined);
  if (values.key !== undefined && anyIdentityFlag) {
    return usageError(io, '--key and certificate identity flags are mutually exclusive');
  }
  if (values.key === undefined) {
    if ((subject === undefined) === (subjectRegExp === undefined)) {
      return usageError(io, 'give one of --certificate-identity or --certificate-identity-regexp (or --key)');
    }
    if (issuer !== undefined && issuerRegExp !== undefined) {
      return usageError(io, '--certificate-oidc-issuer and --certificate-oidc-issuer-regexp are exclusive');
    }
    if (issuer === undefined && issuerRegExp === undefined) {
      return usageError(io, 'give --certificate-oidc-issuer or --certificate-oidc-issuer-regexp');
    }
    identity = {
      ...(subject !== undefined ? { subject } : {}),
      ...(subjectRegExp !== undefined ? { subjectRegExp } : {}),
      ...(issuer !== undefined ? { issuer } : {}),
      ...(issuerRegExp !== undefined ? { issuerRegExp } : {}),
    };
  }

  try {
    const trustRootPath = resolve(io.cwd, values['trusted-root']);
    const trustRoot = loadTrustRootFile(trustRootPath, values['trusted-root']);
    let key: PublicKeyMaterial | undefined;
    if (values.key !== undefined) {
      key = parsePublicKeyPem(readSmallFile(io, values.key, 'KEY_INVALID').toString('utf8'), values.key);
    }
    const bundleJson = readSmallFile(io, values.bundle, 'BUNDLE_INVALID').toString('utf8');
    const artifact = readArtifact(io, target);
    const result = verifyBundle({
      bundleJson,
      artifact,
      trustRoot,
      ...(key !== undefined ? { key } : {}),
      ...(identity !== undefined ? { identity } : {}),
    });
    if (result.ok) {
      io.stdout(`verified: ${result.detail}\n`);
      return 0;
    }
    io.stderr(`countersign verify-bundle: ${result.detail} [${result.code}]\n`);
    return exitCodeFor(result.code);
  } catch (e: unknown) {
    if (e instanceof CountersignError) {
      io.stderr(`countersign verify-bundle: ${e.message} [${e.code}]\n`);
      return exitCodeFor(e.code);
    }
    throw e;
  }
}

function usageError(io: CliIO, message: string): number {
  io.stderr(`countersign verify-bundle: ${message} [USAGE]\n${USAGE}`);
  return exitCodeFor('USAGE');
}

/**
 * The protocol's FILE_OR_DIGEST: a digest is `sha256:` + 64 hex characters that is not also a
 * path on disk; anything else is a file.
 */
function readArtifact(io: CliIO, target: string): BundleArtifact {
  const path = resolve(io.cwd, target);
  if (DIGEST_ARG.test(target) && !existsSync(path)) {
    return { kind: 'digest', sha256Hex: target.slice('sha256:'.length) };
  }
  return { kind: 'bytes', data: readLimited(path, target, MAX_ARTIFACT_BYTES, 'USAGE') };
}

function readSmallFile(io: CliIO, name: string, code: 'KEY_INVALID' | 'BUNDLE_INVALID'): Buffer {
  return readLimited(resolve(io.cwd, name), name, MAX_INPUT_BYTES, code);
}

function readLimited(
  path: string,
  name: string,
  limit: number,
  code: 'KEY_INVALID' | 'BUNDLE_INVALID' | 'USAGE',
): Buffer {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    throw new CountersignError(code === 'BUNDLE_INVALID' ? 'USAGE' : code, `cannot read ${name}`);
  }
  if (size > limit)
    throw new CountersignError('SIZE_LIMIT_EXCEEDED', `${name} is larger than ${limit} bytes`);
  return readFileSync(path);
}
