/**
 * C2SP signed notes (c2sp.org/signed-note) and tlog checkpoints (c2sp.org/tlog-checkpoint), with
 * Ed25519 signatures: the format golang.org/x/mod/sumdb/note and transparency-dev tooling read, so
 * an auditor can check countersign's checkpoints with tools countersign did not write. Pure.
 */
import { createHash, createPublicKey, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { CountersignError } from '../errors.ts';
import { HASH_SIZE } from './merkle.ts';

const EM_DASH = '\u2014';
/** signed-note §Signature types: 0x01 is Ed25519. */
const ED25519_SIGNATURE_TYPE = 0x01;
/** signed-note §Format: verifiers SHOULD bound the number of signatures, and MUST accept 16. */
const MAX_SIGNATURES = 64;
const MAX_NOTE_BYTES = 1 << 20;

export interface NoteSigner {
  readonly name: string;
  /** The 4-byte key ID put in front of each signature. */
  readonly keyId: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

export interface NoteVerifier {
  readonly name: string;
  readonly keyId: Uint8Array;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

export interface NoteSignature {
  readonly name: string;
  readonly keyId: Uint8Array;
  readonly signature: Uint8Array;
}

export interface OpenedNote {
  /** The note text, final newline included. */
  readonly text: string;
  /** The signatures that verified against a known key. */
  readonly verified: readonly NoteSignature[];
}

/** A tlog checkpoint body (tlog-checkpoint §Note text). */
export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly root: Uint8Array;
  readonly extensions: readonly string[];
}

/** signed-note §Format: key names are non-empty, without Unicode spaces or '+'. */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+]/u.test(name) && !hasForbiddenControl(name);
}

function hasForbiddenControl(text: string): boolean {
  // signed-note §Format: no ASCII control characters other than newline.
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) return true;
  }
  return false;
}

function assertKeyName(name: string): void {
  if (!isValidKeyName(name)) {
    throw new CountersignError(
      'KEY_INVALID',
      `note key name ${JSON.stringify(name)} is empty or has a space or '+'`,
    );
  }
}

/** Raw 32-byte Ed25519 public key of a KeyObject (RFC 8032 encoding). */
export function rawEd25519PublicKey(key: KeyObject): Uint8Array {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  if (publicKey.asymmetricKeyType !== 'ed25519') {
    throw new CountersignError(
      'KEY_INVALID',
      `expected an Ed25519 key, got ${String(publicKey.asymmetricKeyType)}`,
    );
  }
  const jwk = publicKey.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new CountersignError('KEY_INVALID', 'Ed25519 key has no public part');
  return new Uint8Array(Buffer.from(jwk.x, 'base64url'));
}

function ed25519PublicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new CountersignError('KEY_INVALID', 'an Ed25519 public key is 32 bytes');
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') },
    format: 'jwk',
  });
}

/** signed-note §Ed25519 signatures: key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4]. */
export function ed25519KeyId(name: string, rawPublicKey: Uint8Array): Uint8Array {
  const digest = createHash('sha256')
    .update(name, 'utf8')
    .update(new Uint8Array([0x0a, ED25519_SIGNATURE_TYPE]))
    .update(rawPublicKey)
    .digest();
  return new Uint8Array(digest.subarray(0, 4));
}

/**
 * The verifier key string of golang.org/x/mod/sumdb/note: `<name>+<hex key ID>+<base64(0x01 || key)>`,
 * so that the appliance's key can be handed to Go tooling as is.
 */
export function ed25519VerifierKeyString(name: string, rawPublicKey: Uint8Array): string {
  const id = Buffer.from(ed25519KeyId(name, rawPublicKey)).toString('hex');
  const material = Buffer.concat([Buffer.from([ED25519_SIGNATURE_TYPE]), rawPublicKey]).toString('base64');
  return `${name}+${id}+${material}`;
}

export function ed25519NoteSigner(name: string, privateKey: KeyObject): NoteSigner {
  assertKeyName(name);
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new CountersignError('KEY_INVALID', 'a note signer needs an Ed25519 private key');
  }
  const keyId = ed25519KeyId(name, rawEd25519PublicKey(privateKey));
  return {
    name,
    keyId,
    sign: (message) => new Uint8Array(cryptoSign(null, message, privateKey)),
  };
}

/** A verifier for `name` and an Ed25519 public key (a KeyObject or the raw 32 bytes). */
export function ed25519NoteVerifier(name: string, publicKey: KeyObject | Uint8Array): NoteVerifier {
  assertKeyName(name);
  const key = publicKey instanceof Uint8Array ? ed25519PublicKeyFromRaw(publicKey) : publicKey;
  const keyId = ed25519KeyId(name, rawEd25519PublicKey(key));
  return {
    name,
    keyId,
    verify: (message, signature) => signature.length === 64 && cryptoVerify(null, message, key, signature),
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

/** Strict standard base64 (RFC 4648 §4): the encoding must round-trip exactly. */
function decodeBase64Strict(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? new Uint8Array(bytes) : undefined;
}

function checkNoteText(text: string): void {
  if (!text.endsWith('\n'))
    throw new CountersignError('SIGNATURE_ENCODING_INVALID', 'note text must end in a newline');
  if (hasForbiddenControl(text)) {
    throw new CountersignError('SIGNATURE_ENCODING_INVALID', 'note text holds a control character');
  }
}

/** signed-note §Format: text, a blank line, then one `— <name> <base64(keyID || sig)>` line per signer. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  checkNoteText(text);
  if (signers.length === 0) throw new CountersignError('USAGE', 'a signed note needs at least one signer');
  const message = new TextEncoder().encode(text);
  const lines = signers.map((s) => {
    assertKeyName(s.name);
    const blob = Buffer.concat([s.keyId, s.sign(message)]).toString('base64');
    return `${EM_DASH} ${s.name} ${blob}\n`;
  });
  return `${text}\n${lines.join('')}`;
}

/** Splits a signed note into its text and signature lines, without verifying anything. */
export function parseNote(note: string): { text: string; signatures: NoteSignature[] } {
  if (Buffer.byteLength(note, 'utf8') > MAX_NOTE_BYTES) {
    throw new CountersignError('SIGNATURE_ENCODING_INVALID', 'signed note is too large');
  }
  if (hasForbiddenControl(note)) {
    throw new CountersignError('SIGNATURE_ENCODING_INVALID', 'signed note holds a control character');
  }
  // The text is separated from the signatures by the last blank line (signed-note §Format).
  const split = note.lastIndexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) {
    throw new CountersignError(
      'SIGNATURE_ENCODING_INVALID',
      'signed note has no blank line before its signatures',
    );
  }
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split('\n');
  if (lines.length > MAX_SIGNATURES)
    throw new CountersignError('SIGNATURE_ENCODING_INVALID', 'too many signatures');
  const signatures = lines.map((line) => {
    const match = /^\u2014 (\S+) (\S+)$/u.exec(line);
    const name = match?.[1];
    const blob = match?.[2] === undefined ? undefined : decodeBase64Strict(match[2]);
    if (name === undefined || blob === undefined || blob.length < 5 || !isValidKeyName(name)) {
      throw new CountersignError(
        'SIGNATURE_ENCODING_INVALID',
        `malformed signature line ${JSON.stringify(line)}`,
      );
    }
    return { name, keyId: blob.subarray(0, 4), signature: blob.subarray(4) };
  });
  return { text, signatures };
}

/**
 * Verifies a signed note (signed-note §Signatures): signatures from unknown keys are ignored, a
 * known key's bad signature rejects the whole note, and at least one known key must have signed.
 */
export function openNote(note: string, verifiers: readonly NoteVerifier[]): OpenedNote {
  const { text, signatures } = parseNote(note);
  const message = new TextEncoder().encode(text);
  const verified: NoteSignature[] = [];
  for (const sig of signatures) {
    const verifier = verifiers.find((v) => v.name === sig.name && sameBytes(v.keyId, sig.keyId));
    if (verifier === undefined) continue;
    if (!verifier.verify(message, sig.signature)) {
      throw new CountersignError('SIGNATURE_INVALID', `note signature by ${sig.name} does not verify`);
    }
    verified.push(sig);
  }
  if (verified.length === 0) {
    throw new CountersignError('SIGNATURE_INVALID', 'note carries no signature from a trusted key');
  }
  return { text, verified };
}

/** tlog-checkpoint §Note text: `<origin>\n<size>\n<base64 root>\n` then extension lines. */
export function formatCheckpoint(checkpoint: Checkpoint): string {
  if (checkpoint.origin.length === 0 || checkpoint.origin.includes('\n')) {
    throw new CountersignError('USAGE', 'checkpoint origin must be one non-empty line');
  }
  if (!Number.isSafeInteger(checkpoint.size) || checkpoint.size < 0) {
    throw new CountersignError('USAGE', 'checkpoint size must be a non-negative integer');
  }
  if (checkpoint.root.length !== HASH_SIZE)
    throw new CountersignError('USAGE', 'checkpoint root must be 32 bytes');
  for (const ext of checkpoint.extensions) {
    if (ext.length === 0 || ext.includes('\n')) {
      throw new CountersignError('USAGE', 'checkpoint extension lines must be non-empty single lines');
    }
  }
  const root = Buffer.from(checkpoint.root).toString('base64');
  return [checkpoint.origin, String(checkpoint.size), root, ...checkpoint.extensions]
    .map((l) => `${l}\n`)
    .join('');
}

/** Parses a checkpoint body (the note text, not the signed note). */
export function parseCheckpoint(text: string): Checkpoint {
  const bad = (why: string): CountersignError =>
    new CountersignError('PAYLOAD_INVALID', `checkpoint: ${why}`);
  if (!text.endsWith('\n')) throw bad('text must end in a newline');
  const lines = text.slice(0, -1).split('\n');
  const [origin, sizeText, rootText, ...extensions] = lines;
  if (origin === undefined || origin.length === 0) throw bad('origin line is empty');
  // No leading zeros, except the empty tree's "0" (tlog-checkpoint §Note text, item 2).
  if (sizeText === undefined || !/^(0|[1-9][0-9]*)$/.test(sizeText))
    throw bad('size is not a decimal number');
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) throw bad('size is too large');
  const root = rootText === undefined ? undefined : decodeBase64Strict(rootText);
  if (root?.length !== HASH_SIZE) throw bad('root hash is not 32 bytes of base64');
  if (extensions.some((e) => e.length === 0)) throw bad('extension lines must be non-empty');
  return { origin, size, root, extensions };
}

export function signCheckpoint(checkpoint: Checkpoint, signer: NoteSigner): string {
  return signNote(formatCheckpoint(checkpoint), [signer]);
}

/**
 * Verifies a signed checkpoint and returns its body. With `origin`, the checkpoint must be from that
 * log; the key name is the origin (tlog-checkpoint §Signatures: the name SHOULD match the origin).
 */
export function openCheckpoint(
  note: string,
  publicKey: KeyObject | Uint8Array,
  options: { origin?: string } = {},
): Checkpoint {
  const { text: unverifiedText } = parseNote(note);
  const claimed = parseCheckpoint(unverifiedText);
  if (options.origin !== undefined && claimed.origin !== options.origin) {
    throw new CountersignError(
      'SIGNATURE_INVALID',
      `checkpoint is from ${JSON.stringify(claimed.origin)}, expected ${JSON.stringify(options.origin)}`,
    );
  }
  if (!isValidKeyName(claimed.origin)) {
    throw new CountersignError('SIGNATURE_INVALID', 'checkpoint origin cannot be a note key name');
  }
  const opened = openNote(note, [ed25519NoteVerifier(claimed.origin, publicKey)]);
  return parseCheckpoint(opened.text);
}
