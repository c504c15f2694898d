/**
 * `countersign policy lint DIR [--config DIR]`: checks every policy file of a directory the way the
 * appliance loads them, prints every problem (`file:line: field: problem`) and exits 2 on any.
 * `countersign policy explain IMAGE --policies DIR [--config DIR]`: which policies the image falls
 * under and what each needs, from files alone (the reference is parsed, never looked up).
 * The only file-system code of policies lives here and in src/config: it reads the files and
 * answers the parser's questions about keys/ and trust-root/.
 */
import { GITHUB_WORKFLOW_CLAIMS } from '../verify/types.ts';
import { createHash, createPublicKey } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfiguration, policyResolver } from '../config/load.ts';
import { CountersignError } from '../errors.ts';
import { normalisedName, parseReference } from '../oci/index.ts';
import type {
  Policy,
  PolicyFile,
  PolicyProblem,
  PolicyResolver,
  PolicySigner,
  StringMatcher,
  TrustRootInfo,
} from '../policy/index.ts';
import {
  MAX_POLICY_BYTES,
  formatProblem,
  lintPolicySet,
  loadPolicySet,
  selectPolicies,
} from '../policy/index.ts';
import type { TrustRoot } from '../trust/index.ts';
import type { PublicKeyMaterial } from '../verify/types.ts';
import type { CliIO } from './io.ts';

const USAGE = `usage: countersign policy lint DIR [--config DIR]
       countersign policy explain IMAGE --policies DIR [--config DIR] [--output text|json]

  lint     Checks every *.yaml / *.yml policy in DIR, with keys from <config>/keys and trust roots
           from <config>/trust-root/<name>/trusted_root.json. Exit codes: 0 all policies valid,
           2 any problem.
  explain  Shows which policies of DIR match IMAGE's normalised name (or that the default policy
           applies, or that none does) and what each needs: threshold, required signers, and per
           signer its key and fingerprint or trust root and identity, tlog and annotations. Reads
           files only; the image is never looked up. Exit codes: 0 a policy applies, 1 none does
           (verify would deny with NO_MATCHING_POLICY), 2 usage or configuration error.
  --config defaults to DIR's parent directory.
`;

export function run(args: string[], io: CliIO): Promise<number> {
  // The command interface is asynchronous; linting is not, so errors become rejections here.
  try {
    return Promise.resolve(runSync(args, io));
  } catch (e: unknown) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
}

function runSync(args: string[], io: CliIO): number {
  const [sub, ...rest] = args;
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    io.stdout(USAGE);
    return 0;
  }
  if (sub === 'explain') return explain(rest, io);
  if (sub !== 'lint') {
    io.stderr(
      `countersign policy: ${sub === undefined ? 'missing subcommand' : `unknown subcommand "${sub}"`} [USAGE]\n${USAGE}`,
    );
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (e: unknown) {
    io.stderr(`countersign policy lint: ${e instanceof Error ? e.message : String(e)} [USAGE]\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help === true) {
    io.stdout(USAGE);
    return 0;
  }
  const [dirArg, ...extra] = parsed.positionals;
  if (dirArg === undefined || extra.length > 0) {
    io.stderr(`countersign policy lint: expected exactly one policy directory [USAGE]\n${USAGE}`);
    return 2;
  }
  const dir = path.resolve(io.cwd, dirArg);
  const config = path.resolve(io.cwd, parsed.values.config ?? path.join(dirArg, '..'));

  const files = readPolicyFiles(dir, dirArg);
  const resolver = directoryResolver(config);
  const { policies, problems } = lintPolicySet(files, resolver.resolver);
  // Surface unreadable key files even where no overlap check needed their fingerprint.
  for (const p of policies)
    for (const s of p.signers) if (s.kind === 'key') resolver.resolver.keyFingerprint?.(s.key);
  const all: PolicyProblem[] = [...problems, ...resolver.notes()];
  if (files.length === 0) all.push({ file: dirArg, field: '', message: 'no policy files (*.yaml, *.yml)' });
  if (all.length > 0) {
    for (const p of all) io.stdout(`${formatProblem(p)}\n`);
    io.stdout(`${all.length} problem${all.length === 1 ? '' : 's'} in ${dirArg}\n`);
    return 2;
  }
  for (const p of policies) {
    const flags = [
      `${p.threshold} of ${p.signers.length} signers`,
      p.mode,
      ...(p.isDefault ? ['default'] : []),
    ];
    io.stdout(`ok  ${p.name}  ${p.source}  ${p.contentHash}  (${flags.join(', ')})\n`);
  }
  io.stdout(`OK: ${policies.length} polic${policies.length === 1 ? 'y' : 'ies'} in ${dirArg}\n`);
  return 0;
}

/** The policy files of a directory (not recursive, hidden files skipped), each read up to the limit. */
function readPolicyFiles(dir: string, shown: string): PolicyFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e: unknown) {
    throw new CountersignError('CONFIG_INVALID', `cannot read policy directory ${shown}`, { cause: e });
  }
  return names
    .filter((n) => !n.startsWith('.') && (n.endsWith('.yaml') || n.endsWith('.yml')))
    .filter((n) => statSync(path.join(dir, n)).isFile())
    .sort()
    .map((n) => ({ file: path.join(shown, n), bytes: readBounded(path.join(dir, n), MAX_POLICY_BYTES + 1) }));
}

/** At most `limit` bytes: enough for the parser to see that a file is too large. */
function readBounded(file: string, limit: number): Uint8Array {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(limit);
    let total = 0;
    for (;;) {
      const n = readSync(fd, buf, total, limit - total, null);
      if (n === 0 || total + n >= limit) {
        total += n;
        break;
      }
      total += n;
    }
    return buf.subarray(0, total);
  } finally {
    closeSync(fd);
  }
}

/** Plain file names only: the parser already insists, this keeps the resolver safe on its own. */
function plainName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\\');
}

/**
 * Answers about `<config>/keys/<name>` and `<config>/trust-root/<name>/trusted_root.json`.
 * Files present but unreadable are reported as notes (problems of their own).
 */
function directoryResolver(config: string): { resolver: PolicyResolver; notes: () => PolicyProblem[] } {
  const notes = new Map<string, PolicyProblem>();
  const note = (file: string, message: string): void => {
    notes.set(file, { file, field: '', message });
  };
  const isFile = (file: string): boolean => {
    try {
      return statSync(file).isFile();
    } catch {
      return false;
    }
  };
  const fingerprints = new Map<string, string | undefined>();
  const roots = new Map<string, TrustRootInfo | undefined>();
  const resolver: PolicyResolver = {
    keyExists: (name) => plainName(name) && isFile(path.join(config, 'keys', name)),
    keyFingerprint: (name) => {
      if (fingerprints.has(name)) return fingerprints.get(name);
      let fp: string | undefined;
      const file = path.join(config, 'keys', name);
      if (plainName(name) && isFile(file)) {
        try {
          const der = createPublicKey(readFileSync(file)).export({ type: 'spki', format: 'der' });
          fp = createHash('sha256').update(der).digest('hex');
        } catch {
          note(path.join('keys', name), 'not a readable PEM public key');
        }
      }
      fingerprints.set(name, fp);
      return fp;
    },
    trustRoot: (name) => {
      if (roots.has(name)) return roots.get(name);
      let info: TrustRootInfo | undefined;
      const file = path.join(config, 'trust-root', name, 'trusted_root.json');
      if (plainName(name) && isFile(file)) {
        info = trustRootInfo(readFileSync(file, 'utf8'));
        if (info === undefined)
          note(path.join('trust-root', name, 'trusted_root.json'), 'not a valid trusted_root.json');
      }
      roots.set(name, info);
      return info;
    },
  };
  return { resolver, notes: () => [...notes.values()] };
}

/** What a trusted_root.json offers; only the presence of each kind of authority matters here. */
function trustRootInfo(text: string): TrustRootInfo | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
  const count = (field: string): number => {
    const v: unknown = (doc as Record<string, unknown>)[field];
    return Array.isArray(v) ? v.length : 0;
  };
  const tlogs = count('tlogs');
  return {
    hasTlogs: tlogs > 0,
    caOnly: tlogs === 0 && count('ctlogs') === 0 && count('timestampAuthorities') === 0,
  };
}

const EXPLAIN_OPTIONS = {
  policies: { type: 'string' },
  config: { type: 'string' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface TrustRootNeeds {
  readonly name: string;
  /** `sha256:<hex>` over the trusted root's canonical JSON: the trust version. */
  readonly fingerprint: string;
  readonly caOnly: boolean;
  readonly hasTlogs: boolean;
}

/** What one signer needs, as `policy explain` reports it. */
export interface SignerNeeds {
  readonly name: string;
  readonly kind: PolicySigner['kind'];
  readonly required: boolean;
  /** Key signers: the file in keys/ and `sha256:<hex>` over its SubjectPublicKeyInfo. */
  readonly key?: { readonly file: string; readonly fingerprint: string; readonly algorithm: string };
  /** The trust root (keyless and certificate signers; key signers only for Rekor entries). */
  readonly trustRoot?: TrustRootNeeds;
  /** `= value` (exact) or `~ ^(?:regexp)$` (anchored, RE2). */
  readonly identity?: string;
  readonly issuer?: string;
  readonly githubClaims?: Readonly<Record<string, string>>;
  readonly tlog: 'required' | 'optional';
  readonly annotations: Readonly<Record<string, string>>;
}

export interface PolicyNeeds {
  readonly name: string;
  readonly source: string;
  readonly contentHash: string;
  readonly mode: Policy['mode'];
  readonly isDefault: boolean;
  readonly images: readonly string[];
  readonly threshold: number;
  readonly signerCount: number;
  readonly required: readonly string[];
  readonly matchDockerReference: Policy['matchDockerReference'];
  readonly allowUnsafeOverlappingSigners: boolean;
  readonly signers: readonly SignerNeeds[];
}

export interface Explanation {
  readonly image: string;
  /** The normalised `registry/repository` (or `oci:<dir>`) the patterns are matched against. */
  readonly name: string;
  /** `policies` (patterns matched), `default` (the default policy applies) or `none`. */
  readonly selection: 'policies' | 'default' | 'none';
  /** NO_MATCHING_POLICY when no policy applies: what verify would answer. */
  readonly code: 'NO_MATCHING_POLICY' | null;
  readonly summary: string;
  readonly policies: readonly PolicyNeeds[];
  /** Names of the loaded policies that do not apply to the image. */
  readonly notMatching: readonly string[];
}

function explain(args: string[], io: CliIO): number {
  let parsed;
  try {
    parsed = parseArgs({ args, options: EXPLAIN_OPTIONS, allowPositionals: true, strict: true });
  } catch (e: unknown) {
    io.stderr(`countersign policy explain: ${e instanceof Error ? e.message : String(e)} [USAGE]\n${USAGE}`);
    return 2;
  }
  const v = parsed.values;
  if (v.help === true) {
    io.stdout(USAGE);
    return 0;
  }
  const output = v.output ?? 'text';
  const [image, ...extra] = parsed.positionals;
  const problem =
    image === undefined || extra.length > 0
      ? 'expected exactly one IMAGE'
      : v.policies === undefined
        ? '--policies DIR is required'
        : output !== 'text' && output !== 'json'
          ? '--output must be text or json'
          : undefined;
  if (problem !== undefined || image === undefined || v.policies === undefined) {
    io.stderr(`countersign policy explain: ${problem ?? 'bad arguments'} [USAGE]\n${USAGE}`);
    return 2;
  }
  // Parsed, never resolved: explaining contacts nothing.
  const name = normalisedName(parseReference(image));
  const dir = path.resolve(io.cwd, v.policies);
  const config = loadConfiguration(path.resolve(io.cwd, v.config ?? path.join(v.policies, '..')));
  const policies = loadPolicySet(
    readPolicyFiles(dir, v.policies),
    policyResolver(config.keys, config.trustRoots),
  );
  const result = explainSelection(image, name, policies, config.keys, config.trustRoots);
  io.stdout(output === 'json' ? `${JSON.stringify(result, null, 2)}\n` : renderExplanation(result));
  return result.selection === 'none' ? 1 : 0;
}

/** The policies an image falls under and what each needs. Pure over loaded configuration. */
export function explainSelection(
  image: string,
  name: string,
  policies: readonly Policy[],
  keys: ReadonlyMap<string, PublicKeyMaterial>,
  roots: ReadonlyMap<string, TrustRoot>,
): Explanation {
  const { selected, usedDefault } = selectPolicies(name, policies);
  const ordered = [...selected].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const chosen = new Set(ordered);
  const notMatching = policies.filter((p) => !chosen.has(p)).map((p) => p.name);
  const selection = ordered.length === 0 ? 'none' : usedDefault ? 'default' : 'policies';
  const summary =
    selection === 'none'
      ? `no policy matches ${name} and there is no default policy: verify would deny it [NO_MATCHING_POLICY]`
      : selection === 'default'
        ? `no policy matches ${name}: the default policy ${ordered[0]?.name ?? ''} applies`
        : `${ordered.length} polic${ordered.length === 1 ? 'y matches' : 'ies match'} ${name}; every one must pass`;
  return {
    image,
    name,
    selection,
    code: selection === 'none' ? 'NO_MATCHING_POLICY' : null,
    summary,
    policies: ordered.map((p) => policyNeeds(p, keys, roots)),
    notMatching,
  };
}

function matcherText(m: StringMatcher): string {
  return 'exact' in m ? `= ${m.exact}` : `~ ^(?:${m.regexp})$`;
}

function rootNeeds(name: string, roots: ReadonlyMap<string, TrustRoot>): TrustRootNeeds {
  const r = roots.get(name);
  // loadPolicySet already refused unknown trust roots; the fallback only keeps this total.
  return {
    name,
    fingerprint: r === undefined ? '' : `sha256:${r.fingerprint}`,
    caOnly: r?.caOnly ?? false,
    hasTlogs: r?.hasTlogs ?? false,
  };
}

function policyNeeds(
  p: Policy,
  keys: ReadonlyMap<string, PublicKeyMaterial>,
  roots: ReadonlyMap<string, TrustRoot>,
): PolicyNeeds {
  const required = new Set(p.required);
  const signers = p.signers.map((s): SignerNeeds => {
    const base = {
      name: s.name,
      kind: s.kind,
      required: required.has(s.name),
      tlog: s.tlog,
      annotations: s.annotations,
    };
    switch (s.kind) {
      case 'key': {
        const k = keys.get(s.key);
        return {
          ...base,
          key: {
            file: `keys/${s.key}`,
            fingerprint: k === undefined ? '' : `sha256:${k.fingerprint}`,
            algorithm: k?.algorithm ?? 'unknown',
          },
          ...(s.trustRoot === undefined ? {} : { trustRoot: rootNeeds(s.trustRoot, roots) }),
        };
      }
      case 'keyless': {
        const claims: Record<string, string> = {};
        for (const c of GITHUB_WORKFLOW_CLAIMS) {
          const value = s[c];
          if (value !== undefined) claims[c] = value;
        }
        return {
          ...base,
          trustRoot: rootNeeds(s.trustRoot, roots),
          identity: matcherText(s.identity),
          issuer: matcherText(s.issuer),
          ...(Object.keys(claims).length === 0 ? {} : { githubClaims: claims }),
        };
      }
      case 'certificate':
        return { ...base, trustRoot: rootNeeds(s.trustRoot, roots), identity: matcherText(s.identity) };
    }
  });
  return {
    name: p.name,
    source: p.source,
    contentHash: p.contentHash,
    mode: p.mode,
    isDefault: p.isDefault,
    images: p.images,
    threshold: p.threshold,
    signerCount: p.signers.length,
    required: p.required,
    matchDockerReference: p.matchDockerReference,
    allowUnsafeOverlappingSigners: p.allowUnsafeOverlappingSigners,
    signers,
  };
}

function renderExplanation(e: Explanation): string {
  const lines = [`image ${e.name}`, `  ${e.summary}`];
  for (const p of e.policies) {
    lines.push('');
    lines.push(`policy ${p.name} (${p.source})`);
    lines.push(`  content hash: ${p.contentHash}`);
    lines.push(
      `  mode: ${p.mode}${p.mode === 'warn' ? ' (a failure is reported, the image is still allowed)' : ''}`,
    );
    lines.push(
      `  images: ${p.isDefault && p.images.length === 0 ? '(default policy)' : p.images.join(', ')}${p.isDefault && p.images.length > 0 ? ' (also the default policy)' : ''}`,
    );
    lines.push(`  threshold: ${p.threshold} of ${p.signerCount} signers (distinct signing identities)`);
    lines.push(`  required: ${p.required.length === 0 ? 'none' : p.required.join(', ')}`);
    if (p.matchDockerReference === 'repository')
      lines.push('  the signed docker-reference must name the image repository');
    if (p.allowUnsafeOverlappingSigners)
      lines.push('  UNSAFE: overlapping signers allowed (one identity still counts for one signer only)');
    for (const s of p.signers) {
      lines.push(`  signer ${s.name}${s.required ? ' (required)' : ''}: ${s.kind}`);
      if (s.key !== undefined) lines.push(`    key ${s.key.file} ${s.key.fingerprint} (${s.key.algorithm})`);
      if (s.trustRoot !== undefined) {
        const offers = s.trustRoot.caOnly
          ? 'CA only'
          : s.trustRoot.hasTlogs
            ? 'with transparency log'
            : 'no transparency log';
        lines.push(`    trust root ${s.trustRoot.name} ${s.trustRoot.fingerprint} (${offers})`);
      }
      if (s.identity !== undefined) lines.push(`    identity ${s.identity}`);
      if (s.issuer !== undefined) lines.push(`    issuer ${s.issuer}`);
      for (const [claim, value] of Object.entries(s.githubClaims ?? {}))
        lines.push(`    ${claim} = ${value}`);
      lines.push(`    tlog ${s.tlog}`);
      const annotations = Object.entries(s.annotations);
      if (annotations.length > 0)
        lines.push(`    annotations ${annotations.map(([k, val]) => `${k}=${val}`).join(', ')}`);
    }
  }
  if (e.notMatching.length > 0) lines.push('', `not matching: ${e.notMatching.join(', ')}`);
  return `${lines.join('\n')}\n`;
}
