/**
 * `countersign verify IMAGE ...`: resolve, discover, check, decide, explain.
 * Exit codes: 0 allowed, 1 denied, 2 usage or configuration error, 3 source unreachable.
 */
import { GITHUB_WORKFLOW_CLAIMS } from '../verify/types.ts';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { parseArgs } from 'node:util';
import {
  bindPolicy,
  loadConfiguration,
  policyResolver,
  registryOptionsFromSettings,
} from '../config/load.ts';
import { verifyImage } from '../decision/verify-image.ts';
import type { VerificationOutcome } from '../decision/verify-image.ts';
import { CountersignError, exitCodeFor } from '../errors.ts';
import { loadDockerConfig } from '../oci/index.ts';
import type { RegistryOptions } from '../oci/index.ts';
import { parseReference } from '../oci/reference.ts';
import { adHocPolicy, loadPolicySet } from '../policy/index.ts';
import type { AdHocKeyless, BoundPolicy } from '../policy/index.ts';
import { trustAnchorsFromCaPem, trustAnchorsFromFile } from '../verify/anchors.ts';
import { parsePublicKeyPem } from '../verify/keys.ts';
import type { IdentityMatcher, PublicKeyMaterial, TrustAnchors } from '../verify/types.ts';
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
  timeout: { type: 'string' },
  policy: { type: 'string' },
  policies: { type: 'string' },
  config: { type: 'string' },
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
  --timeout SECONDS                total time limit per registry request (default 30)
policies (instead of ad-hoc trust):
  --policy FILE_OR_NAME            evaluate this policy (a file, or a policy name under --config)
  --policies DIR                   evaluate every policy in DIR whose images match
  --config DIR                     configuration directory with keys/ and trust-root/ (default .)
output:
  --output text|json

exit codes: 0 allowed, 1 denied, 2 usage or configuration error, 3 source unreachable`;

function readText(path: string, what: string, cwd: string): string {
  try {
    return readFileSync(resolvePath(cwd, path), 'utf8');
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

  const keys = new Map<string, PublicKeyMaterial>();
  for (const file of v.key ?? []) {
    const key = parsePublicKeyPem(readText(file, '--key', io.cwd), file);
    // The same key given twice is one signer, whatever its file names.
    if (![...keys.values()].some((k) => k.fingerprint === key.fingerprint)) keys.set(file, key);
  }
  const identity = identityFromFlags(v);
  if (identity === undefined && root !== undefined && keys.size === 0) {
    throw new CountersignError(
      'USAGE',
      '--certificate-identity (or -regexp) is required to verify certificate signatures',
    );
  }
  if (identity !== undefined && root === undefined) {
    throw new CountersignError('USAGE', 'certificate identities need --trusted-root or --ca-roots');
  }
  if (
    identity !== undefined &&
    root !== undefined &&
    !root.caOnly &&
    identity.issuer === undefined &&
    identity.issuerRegExp === undefined
  ) {
    throw new CountersignError(
      'USAGE',
      '--certificate-oidc-issuer (or -regexp) is required with a Fulcio-style trust root',
    );
  }
  const policyFlags = v.policy !== undefined || v.policies !== undefined;
  if (policyFlags && (keys.size > 0 || identity !== undefined)) {
    throw new CountersignError(
      'USAGE',
      '--policy/--policies and ad-hoc trust flags (--key, --certificate-*) are exclusive',
    );
  }
  let policies: readonly BoundPolicy[];
  let settingsRegistry: RegistryOptions = {};
  if (policyFlags) {
    const loaded = await loadPoliciesForCli(v, io.cwd);
    policies = loaded.policies;
    settingsRegistry = loaded.registry;
  } else {
    if (keys.size === 0 && identity === undefined)
      throw new CountersignError('USAGE', 'no trust given: use --key, --certificate-identity or --policy');
    const anchors = new Map<string, TrustAnchors>(root === undefined ? [] : [[CLI_ROOT, root]]);
    const policy = adHocPolicy({
      keys: [...keys].map(([name, k]) => ({ name, fingerprint: k.fingerprint })),
      certificates: identity === undefined ? [] : [adHocCertificate(identity)],
      threshold: positiveInt(v.threshold, '--threshold', 1),
      annotations,
      tlog: requireTlog ? 'required' : 'optional',
      ...(root === undefined ? {} : { keyTrustRoot: CLI_ROOT }),
      trustRoot: (name) =>
        name === CLI_ROOT && root !== undefined
          ? { caOnly: root.caOnly, hasTlogs: root.hasTlogs }
          : undefined,
    });
    policies = [bindPolicy(policy, keys, anchors)];
  }

  const registry: RegistryOptions = {
    ...settingsRegistry,
    ...(v['registry-config'] === undefined
      ? {}
      : { dockerConfig: await loadDockerConfig(resolvePath(io.cwd, v['registry-config'])) }),
    ...(v['ca-file'] === undefined || reference.kind !== 'registry'
      ? {}
      : {
          caBundles: {
            ...settingsRegistry.caBundles,
            [reference.registry]: readText(v['ca-file'], '--ca-file', io.cwd),
          },
        }),
    insecureRegistries: [...(settingsRegistry.insecureRegistries ?? []), ...(v['insecure-registry'] ?? [])],
    ...(v.timeout === undefined ? {} : { totalTimeoutMs: positiveInt(v.timeout, '--timeout', 30) * 1000 }),
  };
  const maxSignatureBlobBytes = positiveInt(v['max-signature-bytes'], '--max-signature-bytes', 1024 * 1024);
  const outcome = await verifyImage({
    image,
    policies,
    registry,
    discovery: { maxSignatureBlobBytes, maxAttachments: 64 },
    // No layout roots: the CLI user may read any layout their own account can read.
  });
  io.stdout(output === 'json' ? `${JSON.stringify(outcome, null, 2)}\n` : renderText(outcome));
  if (outcome.allowed) return 0;
  return exitCodeFor(outcome.code ?? 'THRESHOLD_NOT_MET');
}

function renderText(r: VerificationOutcome): string {
  const lines = [`${r.allowed ? 'ALLOWED' : 'DENIED'} ${r.image}`];
  if (r.pinned !== undefined) lines.push(`  run: ${r.pinned}`);
  lines.push(`  ${r.explanation}`);
  for (const p of r.decision?.policies ?? []) {
    lines.push(
      `  policy ${p.name} (${p.source}, ${p.contentHash}, ${p.mode}): ${p.passed ? 'passed' : 'failed'}, ${p.satisfied} of ${p.threshold} signers`,
    );
    for (const s of p.signers) {
      const by = s.by === null ? '' : ` by ${s.by.signatureId} (${s.by.identityKey})`;
      lines.push(
        `    ${s.satisfied ? 'ok  ' : 'FAIL'} signer ${s.name}${s.required ? ' (required)' : ''}${by}`,
      );
      if (!s.satisfied)
        for (const reason of s.reasons) lines.push(`         ${reason.detail} [${reason.code}]`);
    }
  }
  for (const x of r.rejected) lines.push(`  not a usable signature: ${x.detail} [${x.code}]`);
  for (const a of r.attestations)
    lines.push(`  attestation (not counted as a signature): ${a.id} ${a.predicateType}`);
  for (const w of r.decision?.warnings ?? []) lines.push(`  warning: ${w}`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  return `${lines.join('\n')}\n`;
}

const CLI_ROOT = 'cli';

function adHocCertificate(m: IdentityMatcher): AdHocKeyless {
  const github: Record<string, string> = {};
  for (const k of GITHUB_WORKFLOW_CLAIMS) {
    const value = m[k];
    if (value !== undefined) github[k] = value;
  }
  const identity = m.subject !== undefined ? { exact: m.subject } : { regexp: m.subjectRegExp ?? '' };
  const issuer =
    m.issuer !== undefined
      ? { exact: m.issuer }
      : m.issuerRegExp !== undefined
        ? { regexp: m.issuerRegExp }
        : undefined;
  return {
    name: 'certificate',
    trustRoot: CLI_ROOT,
    identity,
    ...(issuer === undefined ? {} : { issuer }),
    github,
  };
}

/** --policy FILE_OR_NAME / --policies DIR, with keys/ and trust-root/ from --config (default: the current directory). */
async function loadPoliciesForCli(
  v: { policy?: string | undefined; policies?: string | undefined; config?: string | undefined },
  cwd: string,
): Promise<{ policies: readonly BoundPolicy[]; registry: RegistryOptions }> {
  const configDir = resolvePath(cwd, v.config ?? '.');
  const config = loadConfiguration(configDir);
  let policies = config.policies;
  if (v.policies !== undefined) {
    const dir = resolvePath(cwd, v.policies);
    const files = readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort()
      .map((f) => ({ file: f, bytes: new Uint8Array(readFileSync(join(dir, f))) }));
    policies = loadPolicySet(files, policyResolver(config.keys, config.trustRoots)).map((p) =>
      bindPolicy(p, config.keys, config.anchors),
    );
  }
  if (v.policy !== undefined) {
    const wanted = v.policy;
    const byName = policies.find((p) => p.policy.name === wanted);
    if (byName !== undefined) {
      policies = [{ policy: { ...byName.policy, images: ['**'] }, trust: byName.trust }];
    } else {
      const path = resolvePath(cwd, wanted);
      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(readFileSync(path));
      } catch {
        throw new CountersignError(
          'USAGE',
          `--policy ${wanted}: no policy of that name under the configuration, and no such file`,
        );
      }
      const [p] = loadPolicySet([{ file: wanted, bytes }], policyResolver(config.keys, config.trustRoots));
      if (p === undefined) throw new CountersignError('POLICY_INVALID', `${wanted}: no policy`);
      // A policy named explicitly applies to the image whatever its patterns say.
      policies = [bindPolicy({ ...p, images: ['**'] }, config.keys, config.anchors)];
    }
  }
  return { policies, registry: await registryOptionsFromSettings(config) };
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
