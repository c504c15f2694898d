/**
 * The appliance as one service object: the configuration in force (swapped whole on reload, so a
 * request sees one version from start to end), the audit trail, the token table and the metrics.
 * Configuration changes are validated on a staged copy, recorded, then written atomically.
 */
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  rmdirSync,
} from 'node:fs';
import { openSync, closeSync, fsyncSync, writeSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AppendInput, AppendResult, ApplianceKey, AuditStore, JsonObject } from '../audit/index.ts';
import type { TokenStore } from '../auth/index.ts';
import { contentHash, loadConfiguration, registryOptionsFromSettings } from '../config/load.ts';
import type { Configuration } from '../config/load.ts';
import { DecisionCache } from '../decision/cache.ts';
import type { VerificationOutcome } from '../decision/verify-image.ts';
import { CountersignError } from '../errors.ts';
import { createRegistryClient } from '../oci/index.ts';
import type { RegistryClient, RegistryOptions } from '../oci/index.ts';
import { createGroupCommitter } from './group-commit.ts';
import { createMetrics } from './metrics.ts';
import type { Metrics } from './metrics.ts';

export interface PolicyText {
  readonly name: string;
  /** `policies/<file>` */
  readonly source: string;
  readonly text: string;
  readonly contentHash: string;
}

/** The decision cache of one configuration: allows keyed with its version as the trust version. */
export interface StateCache {
  readonly store: DecisionCache<VerificationOutcome>;
  readonly trustVersion: string;
}

/** One loaded configuration and everything derived from it. Immutable. */
export interface ConfigState {
  readonly config: Configuration;
  readonly registry: RegistryOptions;
  /**
   * The registry client of this configuration: connections and bearer tokens shared by every
   * request. Use it under a lease (Appliance.lease): it is closed once a newer configuration is
   * in force and the last request using it has finished.
   */
  readonly client: RegistryClient;
  /**
   * Cached allows, keyed on (digest, policy content hashes, configuration version): the version
   * hashes every key, trust root and policy, so any change misses. Absent when cache.ttlSeconds is 0.
   */
  readonly cache?: StateCache;
  readonly policyTexts: ReadonlyMap<string, PolicyText>;
  /** Directories `oci:` references may be read from (settings plus --layout-root), absolute. */
  readonly layoutRoots: readonly string[];
  readonly loadedAt: string;
}

export type ConfigTarget = 'policy' | 'key' | 'trust-root';

export interface ChangeRequest {
  readonly target: ConfigTarget;
  readonly name: string;
  /** New file content, or null to remove. */
  readonly content: string | null;
  readonly actor: string;
  readonly reason: string;
}

export interface ChangeResult {
  readonly changed: boolean;
  readonly target: ConfigTarget;
  readonly name: string;
  readonly oldHash: string | null;
  readonly newHash: string | null;
  readonly configVersion: string;
  /** Audit entry index; absent when nothing changed. */
  readonly index?: number;
}

export interface ReloadResult {
  readonly changed: boolean;
  readonly previousVersion: string;
  readonly configVersion: string;
  readonly index?: number;
}

/** A configuration state in use by one request; release it when the request is done with it. */
export interface StateLease {
  readonly state: ConfigState;
  release(): void;
}

export interface DecisionTicket {
  record(input: AppendInput): Promise<AppendResult>;
  abandon(): void;
}

export interface Appliance {
  readonly audit: AuditStore;
  readonly tokens: TokenStore;
  readonly key: ApplianceKey | undefined;
  readonly metrics: Metrics;
  readonly softwareVersion: string;
  readonly configDir: string;
  readonly readOnlyConfig: boolean;
  current(): ConfigState;
  /** The current state, kept open (its registry client) until released. */
  lease(): StateLease;
  /** Appends an audit entry, counting it; throws AUDIT_UNAVAILABLE when it cannot. */
  record(input: AppendInput): AppendResult;
  /**
   * Appends a decision entry through group commit: resolves once the transaction holding it has
   * committed durably, rejects (AUDIT_UNAVAILABLE) when it could not be.
   */
  recordDecision(input: AppendInput): Promise<AppendResult>;
  /**
   * Announces a decision about to be made, so that group commit waits (briefly) for its entry
   * instead of committing without it. Record through the ticket, or abandon it when the request
   * ends without an entry; abandoning after recording does nothing.
   */
  beginDecision(): DecisionTicket;
  reload(actor: string, reason: string): Promise<ReloadResult>;
  change(request: ChangeRequest): Promise<ChangeResult>;
  /** Throws unless the configuration is loaded and the database takes writes. */
  checkReady(): void;
  /** Commits waiting entries and closes registry connections; call before closing the database. */
  close(): Promise<void>;
}

export interface ApplianceOptions {
  readonly configDir: string;
  readonly audit: AuditStore;
  readonly tokens: TokenStore;
  readonly key?: ApplianceKey;
  readonly softwareVersion: string;
  /** Extra layout roots (from --layout-root), resolved by the caller. */
  readonly layoutRoots?: readonly string[];
  /** The embedded demo configuration: admin changes are refused. */
  readonly readOnlyConfig?: boolean;
  readonly metrics?: Metrics;
}

function cacheFor(config: Configuration, previous: ConfigState | undefined): StateCache | undefined {
  const { ttlSeconds, maxEntries } = config.settings.cache;
  if (ttlSeconds === 0) return undefined;
  // Same version, same trust: the allows already cached stay valid (a no-op reload keeps them).
  if (previous?.cache !== undefined && previous.config.version === config.version) return previous.cache;
  return {
    store: new DecisionCache<VerificationOutcome>({ ttlMs: ttlSeconds * 1000, maxEntries }),
    trustVersion: config.version,
  };
}

async function loadState(
  dir: string,
  extraRoots: readonly string[],
  metrics: Metrics,
  previous?: ConfigState,
): Promise<ConfigState> {
  const config = loadConfiguration(dir);
  const registry = await registryOptionsFromSettings(config);
  const policyTexts = new Map<string, PolicyText>();
  for (const { policy } of config.policies) {
    const bytes = readFileSync(path.join(config.dir, policy.source));
    // The text served must be the version in force, not a later edit nobody has reloaded.
    if (contentHash(bytes) !== policy.contentHash) {
      throw new CountersignError('CONFIG_INVALID', `${policy.source} changed while loading: reload again`);
    }
    policyTexts.set(policy.name, {
      name: policy.name,
      source: policy.source,
      text: bytes.toString('utf8'),
      contentHash: policy.contentHash,
    });
  }
  const options: RegistryOptions = {
    ...registry,
    onRequest: (event) => {
      metrics.registryRequest(event);
    },
  };
  const cache = cacheFor(config, previous);
  return {
    config,
    registry: options,
    // Last, once nothing else can fail: a client is never created for a state that is thrown away.
    client: createRegistryClient(options),
    ...(cache === undefined ? {} : { cache }),
    policyTexts,
    layoutRoots: [...config.settings.layoutRoots.map((r) => path.resolve(config.dir, r)), ...extraRoots],
    loadedAt: new Date().toISOString(),
  };
}

/** Writes a file so that readers see the old bytes or the new ones, never a mix. */
function writeAtomically(file: string, content: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, file);
  } catch (e: unknown) {
    rmSync(tmp, { force: true });
    throw e;
  }
  syncDirectory(path.dirname(file));
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Copies what loadConfiguration reads into a scratch directory. */
function stageCopy(dir: string): string {
  const staging = mkdtempSync(path.join(tmpdir(), 'countersign-staging-'));
  for (const entry of ['countersign.yaml', 'keys', 'trust-root', 'policies']) {
    const from = path.join(dir, entry);
    if (existsSync(from)) cpSync(from, path.join(staging, entry), { recursive: true });
  }
  return staging;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.(pub|pem)$/;

/** The file a change writes, relative to the configuration directory. */
function targetPath(state: ConfigState, target: ConfigTarget, name: string): string {
  switch (target) {
    case 'policy': {
      if (!NAME.test(name)) throw new CountersignError('REQUEST_INVALID', `invalid policy name ${name}`);
      const existing = state.policyTexts.get(name);
      return existing?.source ?? `policies/${name}.yaml`;
    }
    case 'key':
      if (!KEY_NAME.test(name))
        throw new CountersignError('REQUEST_INVALID', `key names end in .pub or .pem: ${name}`);
      return `keys/${name}`;
    case 'trust-root':
      if (!NAME.test(name)) throw new CountersignError('REQUEST_INVALID', `invalid trust root name ${name}`);
      return `trust-root/${name}/trusted_root.json`;
  }
}

function describeError(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export async function createAppliance(options: ApplianceOptions): Promise<Appliance> {
  const metrics = options.metrics ?? createMetrics();
  const configDir = path.resolve(options.configDir);
  const extraRoots = (options.layoutRoots ?? []).map((r) => path.resolve(r));
  let state = await loadState(configDir, extraRoots, metrics);
  // Requests using each state; a replaced state's client closes when its last request is done.
  const inUse = new Map<ConfigState, number>();
  const retired = new Set<ConfigState>();
  const closing: Promise<void>[] = [];
  const closeClient = (s: ConfigState): void => {
    closing.push(s.client.close().catch(() => undefined));
  };
  const replaceState = (next: ConfigState): void => {
    const old = state;
    state = next;
    if (old === next || old.client === next.client) return;
    if ((inUse.get(old) ?? 0) === 0) closeClient(old);
    else retired.add(old);
  };
  const lease = (): StateLease => {
    const leased = state;
    inUse.set(leased, (inUse.get(leased) ?? 0) + 1);
    let released = false;
    return {
      state: leased,
      release() {
        if (released) return;
        released = true;
        const n = (inUse.get(leased) ?? 1) - 1;
        if (n > 0) {
          inUse.set(leased, n);
          return;
        }
        inUse.delete(leased);
        if (retired.delete(leased)) closeClient(leased);
      },
    };
  };
  let decisionsOnTheirWay = 0;
  const committer = createGroupCommitter(options.audit, {
    onTheirWay: () => decisionsOnTheirWay,
    onCommit: (entries, ok, seconds) => {
      metrics.auditCommit(entries, ok, seconds);
    },
  });
  let closed = false;
  let clientClosed = false;
  // Configuration changes one at a time: each is validated against the state it replaces.
  let queue: Promise<unknown> = Promise.resolve();
  const serialised = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next;
  };

  function record(input: AppendInput): AppendResult {
    try {
      const result = options.audit.append(input);
      metrics.auditAppend(input.kind, true);
      return result;
    } catch (e: unknown) {
      metrics.auditAppend(input.kind, false);
      throw e;
    }
  }

  async function recordDecision(input: AppendInput): Promise<AppendResult> {
    if (closed) {
      metrics.auditAppend(input.kind, false);
      throw new CountersignError('AUDIT_UNAVAILABLE', 'the appliance is shutting down');
    }
    try {
      const result = await committer.append(input);
      metrics.auditAppend(input.kind, true);
      return result;
    } catch (e: unknown) {
      metrics.auditAppend(input.kind, false);
      throw e;
    }
  }

  function beginDecision(): DecisionTicket {
    decisionsOnTheirWay++;
    let open = true;
    const settle = (): void => {
      if (!open) return;
      open = false;
      decisionsOnTheirWay--;
    };
    return {
      record(input) {
        settle();
        return recordDecision(input);
      },
      abandon() {
        if (!open) return;
        settle();
        committer.nudge();
      },
    };
  }

  function refuseReadOnly(): void {
    if (options.readOnlyConfig === true) {
      throw new CountersignError(
        'CONFIG_INVALID',
        'the embedded demo configuration cannot be changed: start with --config DIR',
      );
    }
  }

  async function change(req: ChangeRequest): Promise<ChangeResult> {
    refuseReadOnly();
    const before = state;
    const rel = targetPath(before, req.target, req.name);
    const oldHash = before.config.files.find((f) => f.path === rel)?.contentHash ?? null;
    if (req.content === null && oldHash === null) {
      throw new CountersignError('NOT_FOUND', `no ${req.target} named ${req.name}`);
    }
    const newHash = req.content === null ? null : contentHash(new TextEncoder().encode(req.content));
    // Trust roots are versioned by their canonical JSON; compare like with like.
    const base = { target: req.target, name: req.name, oldHash };
    if (req.content !== null && req.target !== 'trust-root' && oldHash === newHash) {
      return { ...base, changed: false, newHash, configVersion: before.config.version };
    }
    // Validate the whole configuration as it would be, on a staged copy: a policy that does not
    // lint, a key that does not parse, a trust root that does not validate or a key still in use
    // is refused here and nothing is written.
    const staging = stageCopy(configDir);
    let staged: Configuration;
    try {
      const file = path.join(staging, rel);
      if (req.content === null) {
        rmSync(file, { force: true });
        if (req.target === 'trust-root') rmSync(path.dirname(file), { recursive: true, force: true });
      } else {
        // A new policy must not overwrite a file that holds some other policy.
        if (req.target === 'policy' && !before.policyTexts.has(req.name) && existsSync(file)) {
          throw new CountersignError('POLICY_INVALID', `${rel} holds another policy`);
        }
        writeAtomically(file, req.content);
      }
      staged = loadConfiguration(staging);
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
    if (req.target === 'policy' && req.content !== null) {
      const named = staged.policies.find((p) => p.policy.source === rel);
      if (named?.policy.name !== req.name) {
        throw new CountersignError(
          'POLICY_INVALID',
          `${rel}: the policy's name must be ${req.name}, got ${named?.policy.name ?? 'none'}`,
        );
      }
    }
    const stagedHash = staged.files.find((f) => f.path === rel)?.contentHash ?? null;
    const effectiveNew = req.target === 'trust-root' ? stagedHash : newHash;
    if (req.content !== null && oldHash === effectiveNew) {
      return { ...base, changed: false, newHash: effectiveNew, configVersion: before.config.version };
    }
    // Record first (§11.10(e)): without a record nothing is written.
    const payload: JsonObject = {
      target: req.target,
      action: req.content === null ? 'delete' : oldHash === null ? 'create' : 'update',
      [req.target === 'policy' ? 'policy' : req.target === 'key' ? 'key' : 'trustRoot']: req.name,
      path: rel,
      reason: req.reason,
      oldHash,
      newHash: effectiveNew,
      oldConfigVersion: before.config.version,
      newConfigVersion: staged.version,
    };
    const entry = record({ kind: 'config-change', actor: req.actor, payload });
    const file = path.join(configDir, rel);
    try {
      if (req.content === null) {
        unlinkSync(file);
        if (req.target === 'trust-root') {
          rmdirSync(path.dirname(file));
          syncDirectory(path.dirname(path.dirname(file)));
        } else {
          syncDirectory(path.dirname(file));
        }
      } else {
        writeAtomically(file, req.content);
      }
      replaceState(await loadState(configDir, extraRoots, metrics, state));
    } catch (e: unknown) {
      // The record says what was intended; say too that it did not take effect.
      try {
        record({
          kind: 'config-change',
          actor: req.actor,
          payload: { ...payload, action: 'failed', failedEntry: entry.index, error: describeError(e) },
        });
      } catch {
        // AUDIT_UNAVAILABLE below says enough.
      }
      throw new CountersignError(
        'INTERNAL',
        `configuration change recorded but not applied: ${describeError(e)}`,
      );
    }
    return {
      ...base,
      changed: true,
      newHash: effectiveNew,
      configVersion: state.config.version,
      index: entry.index,
    };
  }

  async function reload(actor: string, reason: string): Promise<ReloadResult> {
    const before = state;
    // A failed load throws here and the old configuration stays in force.
    const next = await loadState(configDir, extraRoots, metrics, before);
    if (next.config.version === before.config.version) {
      replaceState(next);
      return { changed: false, previousVersion: before.config.version, configVersion: next.config.version };
    }
    const oldFiles = new Map(before.config.files.map((f) => [f.path, f.contentHash]));
    const newFiles = new Map(next.config.files.map((f) => [f.path, f.contentHash]));
    const files = [...new Set([...oldFiles.keys(), ...newFiles.keys()])]
      .sort()
      .filter((p) => oldFiles.get(p) !== newFiles.get(p))
      .map((p) => ({ path: p, oldHash: oldFiles.get(p) ?? null, newHash: newFiles.get(p) ?? null }));
    let entry: AppendResult;
    try {
      entry = record({
        kind: 'config-change',
        actor,
        payload: {
          target: 'configuration',
          action: 'reload',
          reason,
          oldConfigVersion: before.config.version,
          newConfigVersion: next.config.version,
          files,
          policies: next.config.policies.map((p) => p.policy.name),
        },
      });
    } catch (e: unknown) {
      // Not recorded, not in force: the new state's connections go with it.
      closeClient(next);
      throw e;
    }
    replaceState(next);
    return {
      changed: true,
      previousVersion: before.config.version,
      configVersion: next.config.version,
      index: entry.index,
    };
  }

  return {
    audit: options.audit,
    tokens: options.tokens,
    key: options.key,
    metrics,
    softwareVersion: options.softwareVersion,
    configDir,
    readOnlyConfig: options.readOnlyConfig === true,
    current: () => state,
    lease,
    record,
    recordDecision,
    beginDecision,
    reload: (actor, reason) => serialised(() => reload(actor, reason)),
    change: (req) => serialised(() => change(req)),
    checkReady() {
      options.audit.latestCheckpoint();
      options.tokens.probeWritable();
    },
    async close() {
      closed = true;
      // Entries already queued belong to requests being answered: commit them, do not drop them.
      committer.flush();
      if (!clientClosed) {
        clientClosed = true;
        if ((inUse.get(state) ?? 0) === 0) closeClient(state);
        else retired.add(state);
      }
      await Promise.all(closing);
    },
  };
}
