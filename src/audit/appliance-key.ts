/**
 * The appliance's own Ed25519 key, which signs audit checkpoints. Made on first start; the private
 * half never leaves `<dataDir>/appliance.key` (PKCS#8 PEM, mode 0600), the public half is
 * `<dataDir>/appliance.pub` (SPKI PEM), the file an auditor takes away to verify exports.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CountersignError } from '../errors.ts';
import { ed25519NoteSigner, ed25519VerifierKeyString, rawEd25519PublicKey } from './checkpoint.ts';
import type { NoteSigner } from './checkpoint.ts';

export const APPLIANCE_KEY_FILE = 'appliance.key';
export const APPLIANCE_PUBLIC_KEY_FILE = 'appliance.pub';

export interface ApplianceKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly publicKeyPem: string;
  readonly keyPath: string;
  readonly publicKeyPath: string;
  /** True when this call generated the key (first start). */
  readonly created: boolean;
}

function isMissing(e: unknown): boolean {
  return e instanceof Error && 'code' in e && e.code === 'ENOENT';
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
  return { privateKey, publicKey, publicKeyPem, keyPath, publicKeyPath, created: false };
}

/**
 * Loads the appliance key from `dataDir`, generating it on first start. Generation uses exclusive
 * creation, so two processes starting at once cannot overwrite each other's key.
 */
export function loadOrCreateApplianceKey(dataDir: string): ApplianceKey {
  const keyPath = path.join(dataDir, APPLIANCE_KEY_FILE);
  const publicKeyPath = path.join(dataDir, APPLIANCE_PUBLIC_KEY_FILE);
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
  return { privateKey, publicKey, publicKeyPem, keyPath, publicKeyPath, created: true };
}

/** The checkpoint signer for the audit log `origin` (the key name is the origin). */
export function applianceNoteSigner(key: ApplianceKey, origin: string): NoteSigner {
  return ed25519NoteSigner(origin, key.privateKey);
}

/** The key in golang.org/x/mod/sumdb/note verifier form, for auditors using Go tooling. */
export function applianceVerifierKey(key: ApplianceKey, origin: string): string {
  return ed25519VerifierKeyString(origin, rawEd25519PublicKey(key.publicKey));
}
