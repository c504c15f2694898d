/**
 * The appliance's export signing key (edge: reads and writes the data directory): ECDSA P-256,
 * `<dataDir>/export-signing.key` (PKCS#8 PEM, mode 0600) and `export-signing.pub` (SPKI PEM), made
 * on first use. A detached signature is base64 of the ASN.1 DER ECDSA signature over SHA-256 of the
 * file, exactly what `cosign sign-blob` writes and `cosign verify-blob --key` checks.
 *
 * Why not the Ed25519 appliance key that signs checkpoints (cosign 2.5 does verify pure Ed25519
 * blob signatures):
 * - Pure Ed25519 hashes the message twice (RFC 8032 §5.1.6), so the signer must hold the whole
 *   file; a million-entry JSONL export is gigabytes. ECDSA over SHA-256 signs a stream.
 * - Key separation: the checkpoint key signs C2SP note texts only. If it also signed arbitrary
 *   files, a file whose bytes happened to parse as a note text would carry a valid checkpoint
 *   signature.
 */
import {
  createPrivateKey,
  createPublicKey,
  createSign,
  createVerify,
  generateKeyPairSync,
} from 'node:crypto';
import type { KeyObject, Sign } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CountersignError } from '../../errors.ts';

export const EXPORT_SIGNING_KEY_FILE = 'export-signing.key';
export const EXPORT_SIGNING_PUBLIC_KEY_FILE = 'export-signing.pub';

export interface ExportSigningKey {
  readonly privateKey: KeyObject;
  readonly publicKeyPem: string;
  readonly keyPath: string;
  readonly publicKeyPath: string;
  readonly created: boolean;
}

function isErrno(e: unknown, code: string): boolean {
  return e instanceof Error && 'code' in e && e.code === code;
}

function isP256(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
}

/** Parses an export signing public key (SPKI PEM, ECDSA P-256). */
export function parseExportPublicKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (e: unknown) {
    throw new CountersignError('KEY_INVALID', 'export signing key is not a PEM public key', { cause: e });
  }
  if (!isP256(key)) {
    throw new CountersignError(
      'KEY_INVALID',
      `export signatures are ECDSA P-256, this is a ${String(key.asymmetricKeyType)} key: give ${EXPORT_SIGNING_PUBLIC_KEY_FILE}`,
    );
  }
  return key;
}

function loadExisting(keyPath: string, publicKeyPath: string): ExportSigningKey {
  const mode = statSync(keyPath).mode & 0o777;
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
  if (!isP256(privateKey)) throw new CountersignError('KEY_INVALID', `${keyPath} is not an ECDSA P-256 key`);
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  let stored: string | undefined;
  try {
    stored = readFileSync(publicKeyPath, 'utf8');
  } catch (e: unknown) {
    if (!isErrno(e, 'ENOENT')) throw e;
  }
  if (stored === undefined) {
    writeFileSync(publicKeyPath, publicKeyPem, { mode: 0o644 });
  } else if (
    parseExportPublicKey(stored)
      .export({ type: 'spki', format: 'der' })
      .compare(createPublicKey(privateKey).export({ type: 'spki', format: 'der' })) !== 0
  ) {
    throw new CountersignError('CONFIG_INVALID', `${publicKeyPath} does not belong to ${keyPath}`);
  }
  return { privateKey, publicKeyPem, keyPath, publicKeyPath, created: false };
}

/** Loads the export signing key from `dataDir`, creating it (exclusively) on first use. */
export function loadOrCreateExportSigningKey(dataDir: string): ExportSigningKey {
  const keyPath = path.join(dataDir, EXPORT_SIGNING_KEY_FILE);
  const publicKeyPath = path.join(dataDir, EXPORT_SIGNING_PUBLIC_KEY_FILE);
  try {
    return loadExisting(keyPath, publicKeyPath);
  } catch (e: unknown) {
    if (!isErrno(e, 'ENOENT')) throw e;
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  try {
    writeFileSync(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), {
      mode: 0o600,
      flag: 'wx',
    });
  } catch (e: unknown) {
    if (isErrno(e, 'EEXIST')) return loadExisting(keyPath, publicKeyPath);
    throw e;
  }
  chmodSync(keyPath, 0o600);
  writeFileSync(publicKeyPath, publicKeyPem, { mode: 0o644 });
  return { privateKey, publicKeyPem, keyPath, publicKeyPath, created: true };
}

/** A streaming signer: feed every byte written, then take the base64 signature. */
export interface StreamSigner {
  update(chunk: Uint8Array): void;
  /** base64 of the DER signature (no newline), as `cosign sign-blob` prints it. */
  finish(): string;
}

export function exportSigner(privateKey: KeyObject): StreamSigner {
  const signer: Sign = createSign('sha256');
  return {
    update: (chunk) => {
      signer.update(chunk);
    },
    finish: () => signer.sign(privateKey).toString('base64'),
  };
}

/** Decodes a `.sig` file: base64, surrounding whitespace ignored. */
export function decodeSignatureFile(text: string): Uint8Array | undefined {
  const t = text.trim();
  if (t.length === 0 || t.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(t)) return undefined;
  return new Uint8Array(Buffer.from(t, 'base64'));
}

/** Verifies a detached export signature over the file at `file`, reading it as a stream. */
export async function verifyFileSignature(
  file: string,
  signature: Uint8Array,
  publicKey: KeyObject,
): Promise<boolean> {
  const verifier = createVerify('sha256');
  for await (const chunk of createReadStream(file)) verifier.update(chunk as Buffer);
  return verifier.verify(publicKey, signature);
}
