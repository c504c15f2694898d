/**
 * The appliance's own Ed25519 key, which signs audit checkpoints. Made on first start; the private
 * half never leaves `<dataDir>/appliance.key` (PKCS#8 PEM, mode 0600), the public half is
 * `<dataDir>/appliance.pub` (SPKI PEM), the file an auditor takes away to verify exports.
 *
 * After a key rotation (key-rotation.ts) `appliance.key` is the newest key, earlier ones are kept
 * in `retired/`, and `appliance-keys.json` lists the chain. The log's origin stays the one derived
 * from the first key, so one trail keeps one identity whatever key signs it now.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { CountersignError } from '../errors.ts';
import { ed25519NoteSigner, ed25519VerifierKeyString, rawEd25519PublicKey } from './checkpoint.ts';
import type { NoteSigner } from './checkpoint.ts';

export const APPLIANCE_KEY_FILE = 'appliance.key';
export const APPLIANCE_PUBLIC_KEY_FILE = 'appliance.pub';
/** The key chain after rotations: a convenience for auditors; the trail's rotation entries are the authority. */
export const APPLIANCE_KEY_CHAIN_FILE = 'appliance-keys.json';
/** Where rotated-out keys are kept, `appliance-<fingerprint prefix>.key` and `.pub`. */
export const RETIRED_KEYS_DIR = 'retired';
/** The suffix of a rotation's new key files until they are installed (`appliance.key.new`). */
export const PENDING_KEY_SUFFIX = '.new';

export interface ApplianceKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly publicKeyPem: string;
  readonly keyPath: string;
  readonly publicKeyPath: string;
  /**
   * The trail's first key, from which its origin is derived: `publicKey` itself until the key has
   * been rotated, then the first key of `appliance-keys.json`.
   */
  readonly originPublicKey: KeyObject;
  /** True when this call generated the key (first start). */
  readonly created: boolean;
}

/** One key of the chain, as `appliance-keys.json` and `audit verify` list it. */
export interface ApplianceKeyRecord {
  /** `sha256:<hex>` of the SPKI DER encoding. */
  readonly fingerprint: string;
  readonly publicKeyPem: string;
  /** golang.org/x/mod/sumdb/note verifier key, under the log's origin. */
  readonly verifierKey: string;
  /** The rotation entry that announced the key; null for the trail's first key. */
  readonly rotationEntry: number | null;
  /** The size of the first checkpoint the key signs (the one covering its rotation entry, co-signed). */
  readonly fromCheckpointSize: number;
}

function isMissing(e: unknown): boolean {
  return e instanceof Error && 'code' in e && e.code === 'ENOENT';
}

/** `sha256:<hex>` of the key's SPKI DER encoding. */
export function appliancePublicKeyFingerprint(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/**
 * The log origin (tlog-checkpoint §origin) of a trail whose first key is `firstKey`: unique per
 * appliance, and kept across key rotations so that checkpoints of one trail keep one name.
 */
export function applianceOrigin(firstKey: KeyObject): string {
  return `countersign.local/audit/${appliancePublicKeyFingerprint(firstKey).slice('sha256:'.length, 'sha256:'.length + 16)}`;
}

/** Parses an Ed25519 public key PEM (SPKI), as `appliance.pub` holds it. */
export function parseAppliancePublicKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (e: unknown) {
    throw new CountersignError('KEY_INVALID', 'appliance public key is not a PEM public key', { cause: e });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new CountersignError('KEY_INVALID', 'appliance public key is not an Ed25519 key');
  }
  return key;
}

export function readAppliancePublicKey(file: string): KeyObject {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (e: unknown) {
    throw new CountersignError('CONFIG_INVALID', `cannot read appliance public key ${file}`, { cause: e });
  }
  return parseAppliancePublicKey(pem);
}

function invalidChain(file: string, why: string): CountersignError {
  return new CountersignError('CONFIG_INVALID', `${file}: ${why}`);
}

/** Parses `appliance-keys.json` (shape only; the keys are checked against the trail by `audit verify`). */
export function parseApplianceKeyChain(text: string, file = APPLIANCE_KEY_CHAIN_FILE): ApplianceKeyRecord[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e: unknown) {
    throw new CountersignError('CONFIG_INVALID', `${file}: not JSON`, { cause: e });
  }
  const keys = typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>)['keys'] : undefined;
  if (!Array.isArray(keys) || keys.length === 0) throw invalidChain(file, 'no "keys" list');
  return keys.map((k: unknown, i) => {
    const r = typeof k === 'object' && k !== null ? (k as Record<string, unknown>) : {};
    const { fingerprint, publicKeyPem, verifierKey, rotationEntry, fromCheckpointSize } = r;
    if (
      typeof fingerprint !== 'string' ||
      typeof publicKeyPem !== 'string' ||
      typeof verifierKey !== 'string' ||
      !(rotationEntry === null || (Number.isSafeInteger(rotationEntry) && Number(rotationEntry) >= 0)) ||
      !(Number.isSafeInteger(fromCheckpointSize) && Number(fromCheckpointSize) >= 0)
    ) {
      throw invalidChain(file, `keys[${i}] is malformed`);
    }
    if (appliancePublicKeyFingerprint(parseAppliancePublicKey(publicKeyPem)) !== fingerprint) {
      throw invalidChain(file, `keys[${i}] fingerprint is not that of its key`);
    }
    return {
      fingerprint,
      publicKeyPem,
      verifierKey,
      rotationEntry: rotationEntry === null ? null : Number(rotationEntry),
      fromCheckpointSize: Number(fromCheckpointSize),
    };
  });
}

export function formatApplianceKeyChain(origin: string, keys: readonly ApplianceKeyRecord[]): string {
  return `${JSON.stringify(
    {
      format: 'countersign-appliance-keys',
      version: 1,
      origin,
      note: 'A convenience copy: the key rotation entries in the audit trail are the authority.',
      keys,
    },
    null,
    2,
  )}\n`;
}

/** The chain in `dataDir`, or undefined when the key was never rotated (no file). */
export function readApplianceKeyChain(dataDir: string): ApplianceKeyRecord[] | undefined {
  const file = path.join(dataDir, APPLIANCE_KEY_CHAIN_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e: unknown) {
    if (isMissing(e)) return undefined;
    throw new CountersignError('CONFIG_INVALID', `cannot read ${file}`, { cause: e });
  }
  return parseApplianceKeyChain(text, file);
}

/** The trail's first key: the chain's first, which must end with the key in use. */
function originKeyOf(dataDir: string, publicKey: KeyObject): KeyObject {
  const chain = readApplianceKeyChain(dataDir);
  if (chain === undefined) {
    const retired = path.join(dataDir, RETIRED_KEYS_DIR);
    if (existsSync(retired) && readdirSync(retired).some((f) => f.endsWith('.pub'))) {
      // Without the chain the origin would silently become the new key's: refuse instead.
      throw new CountersignError(
        'CONFIG_INVALID',
        `${APPLIANCE_KEY_CHAIN_FILE} is missing in ${dataDir} although the key was rotated: restore it from a backup`,
      );
    }
    return publicKey;
  }
  const last = chain.at(-1);
  const first = chain[0];
  if (first === undefined || last?.fingerprint !== appliancePublicKeyFingerprint(publicKey)) {
    throw new CountersignError(
      'CONFIG_INVALID',
      `${APPLIANCE_KEY_CHAIN_FILE} does not end with the key in ${APPLIANCE_KEY_FILE}`,
    );
  }
  return parseAppliancePublicKey(first.publicKeyPem);
}

function loadExisting(keyPath: string, publicKeyPath: string): ApplianceKey {
  const mode = statSync(keyPath).mode & 0o777;
  // A key others can read could sign checkpoints over a rewritten trail: refuse to use it.
  if ((mode & 0o077) !== 0) {
    throw new CountersignError(
      'CONFIG_INVALID',
      `${keyPath} is readable by others (mode ${mode.toString(8)}): chmod 600`,
    );
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: readFileSync(keyPath, 'utf8'), format: 'pem' });
  } catch (e: unknown) {
    throw new CountersignError('KEY_INVALID', `${keyPath} is not a PEM private key`, { cause: e });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new CountersignError('KEY_INVALID', `${keyPath} is not an Ed25519 key`);
  }
  const publicKey = createPublicKey(privateKey);
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  let stored: string | undefined;
  try {
    stored = readFileSync(publicKeyPath, 'utf8');
  } catch (e: unknown) {
    if (!isMissing(e)) throw e;
  }
  if (stored === undefined) {
    // The public half is derived data: restore it rather than fail.
    writeFileSync(publicKeyPath, publicKeyPem, { mode: 0o644 });
  } else {
    const storedRaw = rawEd25519PublicKey(parseAppliancePublicKey(stored));
    if (!Buffer.from(storedRaw).equals(Buffer.from(rawEd25519PublicKey(publicKey)))) {
      throw new CountersignError('CONFIG_INVALID', `${publicKeyPath} does not belong to ${keyPath}`);
    }
  }
  const originPublicKey = originKeyOf(path.dirname(keyPath), publicKey);
  return { privateKey, publicKey, publicKeyPem, keyPath, publicKeyPath, originPublicKey, created: false };
}

/**
 * Refuses to go on while a rotation's new key waits to be installed: starting with the old key
 * would sign checkpoints the trail says belong to the new one.
 */
function assertNoPendingRotation(keyPath: string): void {
  if (existsSync(`${keyPath}${PENDING_KEY_SUFFIX}`)) {
    throw new CountersignError(
      'CONFIG_INVALID',
      `${keyPath}${PENDING_KEY_SUFFIX} exists: a key rotation was interrupted; finish it with \`countersign audit rotate-key --config DIR --reason TEXT\``,
    );
  }
}

/** Loads the existing appliance key from `dataDir` (CONFIG_INVALID when there is none). */
export function loadApplianceKey(dataDir: string): ApplianceKey {
  const keyPath = path.join(dataDir, APPLIANCE_KEY_FILE);
  assertNoPendingRotation(keyPath);
  try {
    return loadExisting(keyPath, path.join(dataDir, APPLIANCE_PUBLIC_KEY_FILE));
  } catch (e: unknown) {
    if (isMissing(e))
      throw new CountersignError('CONFIG_INVALID', `no appliance key ${keyPath}`, { cause: e });
    throw e;
  }
}

/**
 * Loads the appliance key from `dataDir`, generating it on first start. Generation uses exclusive
 * creation, so two processes starting at once cannot overwrite each other's key.
 */
export function loadOrCreateApplianceKey(dataDir: string): ApplianceKey {
  const keyPath = path.join(dataDir, APPLIANCE_KEY_FILE);
  const publicKeyPath = path.join(dataDir, APPLIANCE_PUBLIC_KEY_FILE);
  assertNoPendingRotation(keyPath);
  try {
    return loadExisting(keyPath, publicKeyPath);
  } catch (e: unknown) {
    if (!isMissing(e)) throw e;
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  try {
    writeFileSync(keyPath, privatePem, { mode: 0o600, flag: 'wx' });
  } catch (e: unknown) {
    if (e instanceof Error && 'code' in e && e.code === 'EEXIST') return loadExisting(keyPath, publicKeyPath);
    throw e;
  }
  // The umask may have narrowed the mode further, never widened it; make it exactly 0600.
  chmodSync(keyPath, 0o600);
  writeFileSync(publicKeyPath, publicKeyPem, { mode: 0o644 });
  return {
    privateKey,
    publicKey,
    publicKeyPem,
    keyPath,
    publicKeyPath,
    originPublicKey: originKeyOf(dataDir, publicKey),
    created: true,
  };
}

/** The checkpoint signer for the audit log `origin` (the key name is the origin). */
export function applianceNoteSigner(key: ApplianceKey, origin: string): NoteSigner {
  return ed25519NoteSigner(origin, key.privateKey);
}

/** The key in golang.org/x/mod/sumdb/note verifier form, for auditors using Go tooling. */
export function applianceVerifierKey(key: ApplianceKey, origin: string): string {
  return ed25519VerifierKeyString(origin, rawEd25519PublicKey(key.publicKey));
}
