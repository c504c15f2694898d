/**
 * An in-process TUF repository for tests, laid out as a Sigstore TUF mirror serves it:
 * `N.root.json`, `timestamp.json`, `N.snapshot.json`, `N.targets.json` (consistent snapshots) and
 * `targets/<sha256>.<name>`. Keys are ECDSA P-256 with PEM key values, the shape of Sigstore's
 * own root (TUF specification v1.0, section 4). Every `publish` is a new timestamp/snapshot/targets
 * version, so older and newer snapshots of one repository can be written side by side.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalize } from '@tufjs/canonical-json';
import {
  Key,
  Metadata,
  MetaFile,
  Root,
  Signature,
  Snapshot,
  TargetFile,
  Targets,
  Timestamp,
} from '@tufjs/models';

const DAY = 24 * 60 * 60 * 1000;
const TOP_LEVEL_ROLES = ['root', 'timestamp', 'snapshot', 'targets'] as const;
type TopLevelRole = (typeof TOP_LEVEL_ROLES)[number];

export interface TufKey {
  readonly key: Key;
  readonly privateKey: KeyObject;
}

/** A fresh ECDSA P-256 TUF key; its key id is sha256 over the canonical JSON of the key (4.2). */
export function generateTufKey(): TufKey {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const fields = {
    keytype: 'ecdsa',
    scheme: 'ecdsa-sha2-nistp256',
    keyval: { public: publicKey.export({ format: 'pem', type: 'spki' }).toString() },
  };
  const keyID = createHash('sha256').update(canonicalize(fields)).digest('hex');
  return {
    key: new Key({ keyID, keyType: fields.keytype, scheme: fields.scheme, keyVal: fields.keyval }),
    privateKey,
  };
}

function signerFor(k: TufKey): (data: Buffer) => Signature {
  return (data) =>
    new Signature({ keyID: k.key.keyID, sig: sign('sha256', data, k.privateKey).toString('hex') });
}

function iso(d: Date): string {
  // TUF metadata writes expiry without fractional seconds.
  return `${d.toISOString().slice(0, 19)}Z`;
}

function serialize(md: Metadata<Root | Timestamp | Snapshot | Targets>): Buffer {
  return Buffer.from(`${JSON.stringify(md.toJSON(), null, 2)}\n`);
}

export interface RotateRootOptions {
  /** Sign the new root with the previous root keys too (TUF 5.3.4 requires it). Default true. */
  readonly signWithPreviousKeys?: boolean;
  /** Replace the online keys (timestamp, snapshot, targets) as well. Default false. */
  readonly rotateOnlineKeys?: boolean;
}

export interface PublishOptions {
  /** Expiry per role (default: 30 days from now). */
  readonly expires?: { readonly timestamp?: Date; readonly snapshot?: Date; readonly targets?: Date };
  /** Sign targets metadata with this key instead of the targets key the root lists. */
  readonly targetsSignedBy?: TufKey;
  /** Write these bytes as the named target's file while the metadata lists the real ones. */
  readonly targetFileOverride?: { readonly name: string; readonly bytes: Buffer };
}

export interface Published {
  readonly dir: string;
  /** The timestamp, snapshot and targets version of this publication. */
  readonly version: number;
  /** Path of each target file written, by target name. */
  readonly targetFiles: ReadonlyMap<string, string>;
}

export class TufRepository {
  private readonly roots: Buffer[] = [];
  private readonly keys = new Map<TopLevelRole, TufKey>();
  private readonly targets = new Map<string, Buffer>();
  private version = 0;
  /** Version-prefixed metadata and hash-prefixed targets (TUF 5.5.1, 5.6.1, 5.7.3); Sigstore's layout. */
  readonly consistentSnapshot: boolean;

  constructor(opts: { readonly consistentSnapshot?: boolean } = {}) {
    this.consistentSnapshot = opts.consistentSnapshot ?? true;
    for (const role of TOP_LEVEL_ROLES) this.keys.set(role, generateTufKey());
    this.roots.push(serialize(this.buildRoot(1, [this.key('root')])));
  }

  /** `1.root.json`: what an operator pins. */
  get pinnedRoot(): Buffer {
    return this.root(1);
  }

  get rootVersion(): number {
    return this.roots.length;
  }

  root(version: number): Buffer {
    const bytes = this.roots[version - 1];
    if (bytes === undefined) throw new Error(`no root version ${version}`);
    return bytes;
  }

  /** Root N+1 with a new root key, signed by the new key and (by default) the previous one. */
  rotateRoot(opts: RotateRootOptions = {}): void {
    const previous = this.key('root');
    this.keys.set('root', generateTufKey());
    if (opts.rotateOnlineKeys === true) {
      for (const role of ['timestamp', 'snapshot', 'targets'] as const) this.keys.set(role, generateTufKey());
    }
    const signers = opts.signWithPreviousKeys === false ? [this.key('root')] : [previous, this.key('root')];
    this.roots.push(serialize(this.buildRoot(this.roots.length + 1, signers)));
  }

  setTarget(name: string, bytes: Buffer): void {
    this.targets.set(name, bytes);
  }

  /** Writes a new version of the repository into `dir` (created if needed). */
  publish(dir: string, opts: PublishOptions = {}): Published {
    this.version += 1;
    const version = this.version;
    const expires = (d: Date | undefined): string => iso(d ?? new Date(Date.now() + 30 * DAY));
    mkdirSync(join(dir, 'targets'), { recursive: true });
    this.roots.forEach((bytes, i) => {
      writeFileSync(join(dir, `${i + 1}.root.json`), bytes);
    });

    const targetFiles = new Map<string, string>();
    const targets = new Targets({ version, specVersion: '1.0.31', expires: expires(opts.expires?.targets) });
    for (const [name, bytes] of this.targets) {
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      targets.addTarget(new TargetFile({ path: name, length: bytes.length, hashes: { sha256 } }));
      const file = join(dir, 'targets', this.consistentSnapshot ? `${sha256}.${name}` : name);
      const override = opts.targetFileOverride?.name === name ? opts.targetFileOverride.bytes : undefined;
      writeFileSync(file, override ?? bytes);
      targetFiles.set(name, file);
    }
    const targetsMd = new Metadata(targets);
    targetsMd.sign(signerFor(opts.targetsSignedBy ?? this.key('targets')));
    const targetsBytes = serialize(targetsMd);
    writeFileSync(
      join(dir, this.consistentSnapshot ? `${version}.targets.json` : 'targets.json'),
      targetsBytes,
    );

    const snapshotMd = new Metadata(
      new Snapshot({
        version,
        specVersion: '1.0.31',
        expires: expires(opts.expires?.snapshot),
        meta: { 'targets.json': new MetaFile({ version }) },
      }),
    );
    snapshotMd.sign(signerFor(this.key('snapshot')));
    const snapshotBytes = serialize(snapshotMd);
    writeFileSync(
      join(dir, this.consistentSnapshot ? `${version}.snapshot.json` : 'snapshot.json'),
      snapshotBytes,
    );

    const timestampMd = new Metadata(
      new Timestamp({
        version,
        specVersion: '1.0.31',
        expires: expires(opts.expires?.timestamp),
        snapshotMeta: new MetaFile({
          version,
          length: snapshotBytes.length,
          hashes: { sha256: createHash('sha256').update(snapshotBytes).digest('hex') },
        }),
      }),
    );
    timestampMd.sign(signerFor(this.key('timestamp')));
    writeFileSync(join(dir, 'timestamp.json'), serialize(timestampMd));
    return { dir, version, targetFiles };
  }

  private key(role: TopLevelRole): TufKey {
    const k = this.keys.get(role);
    if (k === undefined) throw new Error(`no ${role} key`);
    return k;
  }

  private buildRoot(version: number, signers: readonly TufKey[]): Metadata<Root> {
    const root = new Root({
      version,
      specVersion: '1.0.31',
      expires: iso(new Date(Date.now() + 365 * DAY)),
      consistentSnapshot: this.consistentSnapshot,
    });
    for (const role of TOP_LEVEL_ROLES) root.addKey(this.key(role).key, role);
    const md = new Metadata(root);
    for (const s of signers) md.sign(signerFor(s));
    return md;
  }
}
