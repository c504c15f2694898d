/**
 * `countersign verify IMAGE ...`: resolve, discover, check, decide, explain.
 * Exit codes: 0 allowed, 1 denied, 2 usage or configuration error, 3 source unreachable.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CountersignError, exitCodeFor, isCountersignError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';
import { loadDockerConfig, openImageSource } from '../oci/index.ts';
import type { RegistryOptions } from '../oci/index.ts';
import { parseReference } from '../oci/reference.ts';
import { discoverSignatures } from '../signature/discover.ts';
import { trustAnchorsFromCaPem, trustAnchorsFromFile } from '../verify/anchors.ts';
import { checkSignature } from '../verify/check-signature.ts';
import { parsePublicKeyPem } from '../verify/keys.ts';
import { resolveImage } from '../verify/resolve.ts';
import type { IdentityMatcher, SignerTrust, TrustAnchors } from '../verify/types.ts';
import { identityKey } from '../verify/types.ts';
import type { CliIO } from './io.ts';

const OPTIONS = {
  key: { type: 'string', multiple: true },
  threshold: { type: 'string' },
  annotations: { type: 'string', short: 'a', multiple: true },
  'trusted-root': { type: 'string' },
  'ca-roots': { type: 'string' },
  'ca-intermediates': { type: 'string' },
  'require-tlog': { type: 'boolean' },
  'certificate-identity': { type: 'string' },
  'certificate-identity-regexp': { type: 'string' },
  'certificate-oidc-issuer': { type: 'string' },
  'certificate-oidc-issuer-regexp': { type: 'string' },
  'certificate-github-workflow-repository': { type: 'string' },
  'certificate-github-workflow-ref': { type: 'string' },
  'certificate-github-workflow-name': { type: 'string' },
  'certificate-github-workflow-trigger': { type: 'string' },
  'certificate-github-workflow-sha': { type: 'string' },
  'registry-config': { type: 'string' },
  'ca-file': { type: 'string' },
  'insecure-registry': { type: 'string', multiple: true },
  'max-signature-bytes': { type: 'string' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const;

const HELP = `usage: countersign verify IMAGE [options]

IMAGE is host/repo:tag, host/repo@sha256:..., or oci:DIR[:tag|@sha256:...].

trust (at least one):
  --key FILE                       PEM public key; repeat for several keys
  --certificate-identity ID        exact certificate SAN (or --certificate-identity-regexp RE, anchored)
  --certificate-oidc-issuer URL    exact OIDC issuer (or --certificate-oidc-issuer-regexp RE, anchored)
  --certificate-github-workflow-{repository,ref,name,trigger,sha} VALUE
  --trusted-root FILE              Sigstore trusted_root.json for certificates and Rekor SETs
  --ca-roots PEM [--ca-intermediates PEM]   a CA-only trust root (corporate PKI, no log)
decision:
  --threshold N                    distinct signers needed (default 1)
  -a, --annotations key=value      the signed payload must carry this annotation (repeatable)
  --require-tlog                   require a Rekor SET verified offline against --trusted-root
registry:
  --registry-config FILE           docker-style config.json with credentials (auths)
  --ca-file FILE                   CA bundle for the image's registry
  --insecure-registry HOST         allow plain HTTP to HOST (repeatable)
  --max-signature-bytes N          size limit per signature blob (default 1 MiB)
output:
  --output text|json

exit codes: 0 allowed, 1 denied, 2 usage or configuration error, 3 source unreachable`;

function readText(path: string, what: string, cwd: string): string {
  try {
    return readFileSync(new URL(path, `file://${cwd}/`), 'utf8');
  } catch (e: unknown) {
    throw new CountersignError(
      'USAGE',
      `${what} ${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

function positiveInt(text: string | undefined, what: string, dflt: number): number {
  if (text === undefined) return dflt;
  if (!/^[1-9][0-9]*$/.test(text))
    throw new CountersignError('USAGE', `${what} must be a positive integer, got "${text}"`);
  return Number(text);
}

interface SignatureReport {
  id: string;
  format: string;
  checks: { signer: string; ok: boolean; code?: ErrorCode; detail: string; identity?: string }[];
}

export interface VerifyReport {
  allowed: boolean;
  code?: ErrorCode;
  image: string;
  digest?: string;
  pinned?: string;
  threshold: number;
  satisfiedSigners: string[];
  signatures: SignatureReport[];
  rejected: { id: string; code: ErrorCode; detail: string }[];
  attestations: { id: string; predicateType: string }[];
  explanation: string;
  notes: string[];
}

export async function run(args: string[], io: CliIO): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e: unknown) {
    io.stderr(`countersign verify: ${(e as Error).message} [USAGE]\n${HELP}\n`);
    return 2;
  }
  const v = parsed.values;
  if (v.help === true) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  const output = v.output ?? 'text';
  if (output !== 'text' && output !== 'json')
    throw new CountersignError('USAGE', `--output must be text or json`);
  if (parsed.positionals.length !== 1)
    throw new CountersignError('USAGE', `expected exactly one IMAGE, got ${parsed.positionals.length}`);
  const image = parsed.positionals[0] ?? '';
  const reference = parseReference(image);

  // Trust material, loaded before any I/O on the image.
  const annotations: Record<string, string> = {};
  for (const a of v.annotations ?? []) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new CountersignError('USAGE', `-a expects key=value, got "${a}"`);
    annotations[a.slice(0, eq)] = a.slice(eq + 1);
  }
  const requireTlog = v['require-tlog'] === true;
  let root: TrustAnchors | undefined;
  if (v['trusted-root'] !== undefined)
    root = trustAnchorsFromFile(v['trusted-root'], readText(v['trusted-root'], '--trusted-root', io.cwd));
  if (v['ca-roots'] !== undefined) {
    if (root !== undefined)
      throw new CountersignError('USAGE', '--ca-roots and --trusted-root are exclusive');
    const inter =
      v['ca-intermediates'] === undefined
        ? ''
        : readText(v['ca-intermediates'], '--ca-intermediates', io.cwd);
    root = trustAnchorsFromCaPem('ca-roots', readText(v['ca-roots'], '--ca-roots', io.cwd), inter);
  }
  if (requireTlog && root === undefined)
    throw new CountersignError('USAGE', '--require-tlog needs --trusted-root');

  const signers: { name: string; trust: SignerTrust }[] = [];
  const seen = new Set<string>();
  for (const file of v.key ?? []) {
    const key = parsePublicKeyPem(readText(file, '--key', io.cwd), file);
    if (seen.has(key.fingerprint)) continue; // the same key twice is one signer
    seen.add(key.fingerprint);
    signers.push({
      name: file,
      trust: {
        kind: 'key',
        key,
        requireTlog,
        ...(root === undefined ? {} : { trustedRoot: root }),
        annotations,
      },
    });
  }
  const identity = identityFromFlags(v);
  if (identity !== undefined) {
    if (root === undefined)
      throw new CountersignError('USAGE', 'certificate identities need --trusted-root or --ca-roots');
    signers.push({
      name: 'certificate',
      trust: { kind: 'certificate', trustedRoot: root, identity, requireTlog, annotations },
    });
  } else if (root !== undefined && signers.length === 0) {
    throw new CountersignError(
      'USAGE',
      '--certificate-identity (or -regexp) is required to verify certificate signatures',
    );
  }
  if (signers.length === 0)
    throw new CountersignError('USAGE', 'no trust given: use --key or --certificate-identity');
  const threshold = positiveInt(v.threshold, '--threshold', 1);
  if (threshold > signers.length) {
    throw new CountersignError(
      'USAGE',
      `--threshold ${threshold} exceeds the ${signers.length} distinct signers given`,
    );
  }

  const registryOptions: RegistryOptions = {
    ...(v['registry-config'] === undefined
      ? {}
      : { dockerConfig: await loadDockerConfig(v['registry-config']) }),
    ...(v['ca-file'] === undefined || reference.kind !== 'registry'
      ? {}
      : { caBundles: { [reference.registry]: readText(v['ca-file'], '--ca-file', io.cwd) } }),
    insecureRegistries: v['insecure-registry'] ?? [],
  };
  const maxSignatureBlobBytes = positiveInt(v['max-signature-bytes'], '--max-signature-bytes', 1024 * 1024);

  const report: VerifyReport = {
    allowed: false,
    image,
    threshold,
    satisfiedSigners: [],
    signatures: [],
    rejected: [],
    attestations: [],
    explanation: '',
    notes: [],
  };
  let sourceToClose: { close(): Promise<void> } | undefined;
  try {
    const source = await openImageSource(reference, registryOptions);
    sourceToClose = source;
    const resolved = await resolveImage(source, reference);
    report.digest = resolved.digest;
    report.pinned = resolved.pinned;
    const found = await discoverSignatures(source, resolved.digest, {
      maxSignatureBlobBytes,
      maxAttachments: 64,
    });
    report.rejected = [...found.rejected];
    report.attestations = [...found.attestations];
    const now = new Date();
    // Each identity counts once, for at most one signer (keys are distinct signers by construction).
    const byIdentity = new Map<string, string>();
    for (const c of found.candidates) {
      const sr: SignatureReport = { id: c.id, format: c.format, checks: [] };
      for (const s of signers) {
        const r = checkSignature(c, s.trust, { digest: resolved.digest, repository: resolved.name }, { now });
        if (r.ok) {
          const k = identityKey(r.identity);
          if (!byIdentity.has(k) && ![...byIdentity.values()].includes(s.name)) byIdentity.set(k, s.name);
          sr.checks.push({ signer: s.name, ok: true, detail: r.detail, identity: k });
        } else {
          sr.checks.push({ signer: s.name, ok: false, code: r.code, detail: r.detail });
        }
      }
      report.signatures.push(sr);
    }
    report.satisfiedSigners = [...new Set(byIdentity.values())];
    if (root?.caOnly === true)
      report.notes.push(
        'certificates checked at the current time: the trust root has no log or timestamp authority',
      );
    const n = report.satisfiedSigners.length;
    if (n >= threshold) {
      report.allowed = true;
      report.explanation = `allowed: ${n} of ${threshold} required signers verified (${report.satisfiedSigners.join(', ')})`;
    } else {
      report.code = denialCode(report);
      report.explanation = `denied: ${n} of ${threshold} required signers verified [${report.code}]`;
    }
  } catch (e: unknown) {
    if (!isCountersignError(e) || exitCodeFor(e.code) === 2) throw e;
    report.code = e.code;
    report.explanation = `denied: ${e.message} [${e.code}]`;
  } finally {
    await sourceToClose?.close();
  }
  io.stdout(output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderText(report));
  if (report.allowed) return 0;
  return exitCodeFor(report.code ?? 'THRESHOLD_NOT_MET');
}

/** The most telling reason: the first failure of the most advanced kind seen. */
function denialCode(r: VerifyReport): ErrorCode {
  const codes = r.signatures.flatMap((s) =>
    s.checks.filter((c) => !c.ok).map((c) => c.code ?? 'SIGNATURE_INVALID'),
  );
  if (r.signatures.length === 0) return r.rejected[0]?.code ?? 'NO_SIGNATURES';
  if (r.satisfiedSigners.length > 0) return 'THRESHOLD_NOT_MET';
  const order: ErrorCode[] = [
    'PAYLOAD_DIGEST_MISMATCH',
    'ANNOTATION_MISMATCH',
    'TLOG_MISSING',
    'TLOG_INVALID',
    'IDENTITY_MISMATCH',
    'ISSUER_MISMATCH',
  ];
  for (const c of order) if (codes.includes(c)) return c;
  const first = codes.find((c) => c !== 'NOT_APPLICABLE');
  return first ?? 'SIGNATURE_INVALID';
}

function renderText(r: VerifyReport): string {
  const lines = [`${r.allowed ? 'ALLOWED' : 'DENIED'} ${r.image}`];
  if (r.pinned !== undefined) lines.push(`  run: ${r.pinned}`);
  lines.push(`  ${r.explanation}`);
  for (const s of r.signatures) {
    lines.push(`  signature ${s.id} (${s.format})`);
    for (const c of s.checks)
      lines.push(`    ${c.ok ? 'ok  ' : 'FAIL'} ${c.signer}: ${c.detail}${c.ok ? '' : ` [${c.code ?? ''}]`}`);
  }
  for (const x of r.rejected) lines.push(`  not a usable signature: ${x.detail} [${x.code}]`);
  for (const a of r.attestations)
    lines.push(`  attestation (not counted as a signature): ${a.id} ${a.predicateType}`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  return `${lines.join('\n')}\n`;
}

function identityFromFlags(v: Record<string, unknown>): IdentityMatcher | undefined {
  const pick = (k: string): string | undefined => (typeof v[k] === 'string' ? v[k] : undefined);
  const m: Record<string, string> = {};
  const map: [string, keyof IdentityMatcher][] = [
    ['certificate-identity', 'subject'],
    ['certificate-identity-regexp', 'subjectRegExp'],
    ['certificate-oidc-issuer', 'issuer'],
    ['certificate-oidc-issuer-regexp', 'issuerRegExp'],
    ['certificate-github-workflow-repository', 'githubWorkflowRepository'],
    ['certificate-github-workflow-ref', 'githubWorkflowRef'],
    ['certificate-github-workflow-name', 'githubWorkflowName'],
    ['certificate-github-workflow-trigger', 'githubWorkflowTrigger'],
    ['certificate-github-workflow-sha', 'githubWorkflowSha'],
  ];
  for (const [flag, field] of map) {
    const val = pick(flag);
    if (val !== undefined) m[field] = val;
  }
  if (Object.keys(m).length === 0) return undefined;
  if (m['subject'] !== undefined && m['subjectRegExp'] !== undefined) {
    throw new CountersignError(
      'USAGE',
      '--certificate-identity and --certificate-identity-regexp are exclusive',
    );
  }
  if (m['issuer'] !== undefined && m['issuerRegExp'] !== undefined) {
    throw new CountersignError(
      'USAGE',
      '--certificate-oidc-issuer and --certificate-oidc-issuer-regexp are exclusive',
    );
  }
  if (m['subject'] === undefined && m['subjectRegExp'] === undefined) {
    throw new CountersignError(
      'USAGE',
      'a certificate identity (--certificate-identity or -regexp) is always required',
    );
  }
  return m;
}
