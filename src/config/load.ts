/**
 * The configuration directory (edge: reads files): keys/, trust-root/<name>/, policies/, and the
 * optional countersign.yaml. Everything is validated here, once, before any image is looked at;
 * what verification needs is then pure data.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import { CountersignError } from '../errors.ts';
import { loadDockerConfig } from '../oci/index.ts';
import type { RegistryOptions } from '../oci/index.ts';
import { loadPolicySet } from '../policy/index.ts';
import type { BoundPolicy, Policy, PolicyResolver } from '../policy/index.ts';
import { loadTrustRootDir } from '../trust/index.ts';
import type { TrustRoot } from '../trust/index.ts';
import { trustAnchorsFromRoot } from '../verify/anchors.ts';
import { parsePublicKeyPem } from '../verify/keys.ts';
import { GITHUB_WORKFLOW_CLAIMS } from '../verify/types.ts';
import type { PublicKeyMaterial, SignerTrust, TrustAnchors } from '../verify/types.ts';
import { parseSettings } from './settings.ts';
import type { Settings } from './settings.ts';

export interface LoadedFile {
  /** Path relative to the configuration directory: `keys/vendor.pub`. */
  readonly path: string;
  /** `sha256:<hex>` of the exact bytes: what the audit trail records as a version. */
  readonly contentHash: string;
}

export interface Configuration {
  readonly dir: string;
  readonly settings: Settings;
  readonly keys: ReadonlyMap<string, PublicKeyMaterial>;
  readonly trustRoots: ReadonlyMap<string, TrustRoot>;
  readonly anchors: ReadonlyMap<string, TrustAnchors>;
  readonly policies: readonly BoundPolicy[];
  /** Every file the configuration was built from, with its content hash. */
  readonly files: readonly LoadedFile[];
  /** sha256 over the sorted file list and hashes: one version string for the whole configuration. */
  readonly version: string;
}

export const SETTINGS_FILE = 'countersign.yaml';
const KEY_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.(pub|pem)$/;
const POLICY_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.ya?ml$/;
const MAX_FILE_BYTES = 1024 * 1024;

export function contentHash(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function readSmall(path: string, what: string): Buffer {
  const size = statSync(path).size;
  if (size > MAX_FILE_BYTES)
    throw new CountersignError('CONFIG_INVALID', `${what}: larger than ${MAX_FILE_BYTES} bytes`);
  return readFileSync(path);
}

function listFiles(dir: string, pattern: RegExp): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isFile() && pattern.test(d.name))
    .map((d) => d.name)
    .sort();
}

export function loadKeysDir(dir: string, files: LoadedFile[] = []): Map<string, PublicKeyMaterial> {
  const keys = new Map<string, PublicKeyMaterial>();
  for (const name of listFiles(dir, KEY_FILE)) {
    const bytes = readSmall(join(dir, name), `keys/${name}`);
    keys.set(name, parsePublicKeyPem(bytes.toString('utf8'), name));
    files.push({ path: `keys/${name}`, contentHash: contentHash(bytes) });
  }
  return keys;
}

export function policyResolver(
  keys: ReadonlyMap<string, PublicKeyMaterial>,
  roots: ReadonlyMap<string, TrustRoot>,
): PolicyResolver {
  return {
    keyExists: (name) => keys.has(name),
    keyFingerprint: (name) => keys.get(name)?.fingerprint,
    trustRoot: (name) => roots.get(name),
  };
}

/** Binds each signer of a policy to its loaded trust material. */
export function bindPolicy(
  policy: Policy,
  keys: ReadonlyMap<string, PublicKeyMaterial>,
  anchors: ReadonlyMap<string, TrustAnchors>,
): BoundPolicy {
  const trust = new Map<string, SignerTrust>();
  for (const s of policy.signers) {
    const requireTlog = s.tlog === 'required';
    const refMatch = policy.matchDockerReference === 'repository' ? { matchDockerReference: true } : {};
    switch (s.kind) {
      case 'key': {
        const key = keys.get(s.key);
        if (key === undefined)
          throw new CountersignError('POLICY_INVALID', `${policy.source}: unknown key ${s.key}`);
        const root = s.trustRoot === undefined ? undefined : anchors.get(s.trustRoot);
        trust.set(s.name, {
          kind: 'key',
          key,
          requireTlog,
          annotations: s.annotations,
          ...refMatch,
          ...(root === undefined ? {} : { trustedRoot: root }),
        });
        break;
      }
      case 'keyless':
      case 'certificate': {
        const root = anchors.get(s.trustRoot);
        if (root === undefined)
          throw new CountersignError('POLICY_INVALID', `${policy.source}: unknown trust root ${s.trustRoot}`);
        const m = s.identity;
        const identity = {
          ...('exact' in m ? { subject: m.exact } : { subjectRegExp: m.regexp }),
          ...(s.kind === 'keyless'
            ? {
                ...('exact' in s.issuer ? { issuer: s.issuer.exact } : { issuerRegExp: s.issuer.regexp }),
                ...pick(s, GITHUB_WORKFLOW_CLAIMS),
              }
            : {}),
        };
        trust.set(s.name, {
          kind: 'certificate',
          trustedRoot: root,
          identity,
          requireTlog,
          annotations: s.annotations,
          ...refMatch,
        });
        break;
      }
    }
  }
  return { policy, trust };
}

function pick<T extends object, K extends keyof T>(o: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/**
 * countersign.yaml of a configuration directory, validated (defaults when absent), with its bytes.
 * Reads only this file, so commands that need the data directory work while a policy is broken.
 */
export function readSettingsFile(dir: string): { settings: Settings; bytes?: Buffer } {
  const settingsPath = join(dir, SETTINGS_FILE);
  if (!existsSync(settingsPath)) return { settings: parseSettings(undefined, SETTINGS_FILE) };
  const bytes = readSmall(settingsPath, SETTINGS_FILE);
  let doc: unknown;
  try {
    doc = YAML.parse(bytes.toString('utf8'));
  } catch (e: unknown) {
    throw new CountersignError('CONFIG_INVALID', `${SETTINGS_FILE}: not YAML (${(e as Error).message})`);
  }
  return { settings: parseSettings(doc, SETTINGS_FILE), bytes };
}

/** The data directory of a configuration directory: countersign.yaml's `dataDir` (default `data`), relative to it. */
export function dataDirOf(configDir: string): string {
  return resolve(configDir, readSettingsFile(configDir).settings.dataDir);
}

/** Loads and validates a whole configuration directory. Any problem is a CONFIG/POLICY/KEY error. */
export function loadConfiguration(dirArg: string): Configuration {
  const dir = resolve(dirArg);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new CountersignError('CONFIG_INVALID', `configuration directory ${dirArg} does not exist`);
  }
  const files: LoadedFile[] = [];
  const read = readSettingsFile(dir);
  const settings = read.settings;
  if (read.bytes !== undefined) files.push({ path: SETTINGS_FILE, contentHash: contentHash(read.bytes) });
  const keys = loadKeysDir(join(dir, 'keys'), files);
  const trustDir = join(dir, 'trust-root');
  const trustRoots = existsSync(trustDir) ? loadTrustRootDir(trustDir) : new Map<string, TrustRoot>();
  for (const [name, root] of trustRoots)
    files.push({ path: `trust-root/${name}/trusted_root.json`, contentHash: `sha256:${root.fingerprint}` });
  const anchors = new Map([...trustRoots].map(([name, root]) => [name, trustAnchorsFromRoot(root)]));
  const policyDir = join(dir, 'policies');
  const policyFiles = listFiles(policyDir, POLICY_FILE).map((name) => {
    const bytes = readSmall(join(policyDir, name), `policies/${name}`);
    files.push({ path: `policies/${name}`, contentHash: contentHash(bytes) });
    return { file: `policies/${name}`, bytes: new Uint8Array(bytes) };
  });
  const policies = loadPolicySet(policyFiles, policyResolver(keys, trustRoots)).map((p) =>
    bindPolicy(p, keys, anchors),
  );
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const version = contentHash(
    new TextEncoder().encode(files.map((f) => `${f.path} ${f.contentHash}\n`).join('')),
  );
  return { dir, settings, keys, trustRoots, anchors, policies, files, version };
}

/** Registry access as the settings describe it: credentials file, CA bundles, insecure hosts, limits. */
export async function registryOptionsFromSettings(config: Configuration): Promise<RegistryOptions> {
  const s = config.settings;
  const caBundles: Record<string, string> = {};
  const insecureRegistries: string[] = [];
  for (const [host, r] of Object.entries(s.registries)) {
    if (r.caFile !== undefined) {
      try {
        caBundles[host] = readFileSync(resolve(config.dir, r.caFile), 'utf8');
      } catch {
        throw new CountersignError('CONFIG_INVALID', `registries.${host}.caFile: cannot read ${r.caFile}`);
      }
    }
    if (r.insecure) insecureRegistries.push(host);
  }
  return {
    caBundles,
    insecureRegistries,
    connectTimeoutMs: s.limits.connectTimeoutMs,
    totalTimeoutMs: s.limits.totalTimeoutMs,
    ...(s.registryAuthFile === undefined
      ? {}
      : { dockerConfig: await loadDockerConfig(resolve(config.dir, s.registryAuthFile)) }),
  };
}
