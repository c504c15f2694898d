/**
 * The appliance key chain as the audit trail records it (pure). A rotation is a `config-change`
 * entry `{target: 'appliance-key', action: 'rotate', oldKey, newKey, reason}`; the first checkpoint
 * covering it is signed by both keys (signed-note §Format allows several signature lines), later
 * checkpoints by the new key only. An auditor who holds any key of the chain can therefore follow
 * it offline: each key is announced inside a tree that the key before it signed.
 */
import { createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { CountersignError } from '../errors.ts';
import { appliancePublicKeyFingerprint, parseAppliancePublicKey } from './appliance-key.ts';
import { ed25519VerifierKeyString, rawEd25519PublicKey } from './checkpoint.ts';
import type { JsonObject } from './entry.ts';

export const KEY_ROTATION_TARGET = 'appliance-key';
export const KEY_ROTATION_ACTION = 'rotate';

/** A key as a rotation entry names it. */
export interface AnnouncedKey {
  readonly fingerprint: string;
  readonly verifierKey: string;
  readonly publicKeyPem: string;
}

/** A rotation entry, parsed (not yet verified: that takes the checkpoint covering it). */
export interface KeyRotation {
  readonly index: number;
  readonly oldKey: AnnouncedKey;
  readonly newKey: AnnouncedKey;
  readonly newPublicKey: KeyObject;
  readonly reason: string;
}

/** The key as a rotation entry records it, under the log's `origin`. */
export function describeKey(origin: string, key: KeyObject): AnnouncedKey {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return {
    fingerprint: appliancePublicKeyFingerprint(publicKey),
    verifierKey: ed25519VerifierKeyString(origin, rawEd25519PublicKey(publicKey)),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** The payload of the `config-change` entry that hands the trail from `oldKey` to `newKey`. */
export function keyRotationPayload(options: {
  readonly oldKey: AnnouncedKey;
  readonly newKey: AnnouncedKey;
  readonly reason: string;
}): JsonObject {
  return {
    target: KEY_ROTATION_TARGET,
    action: KEY_ROTATION_ACTION,
    oldKey: { ...options.oldKey },
    newKey: { ...options.newKey },
    reason: options.reason,
  };
}

function bad(index: number, why: string): CountersignError {
  return new CountersignError('PAYLOAD_INVALID', `key rotation entry ${index}: ${why}`);
}

function announcedKey(index: number, value: unknown, which: string): AnnouncedKey & { key: KeyObject } {
  const o = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  const { fingerprint, verifierKey, publicKeyPem } = o;
  if (
    typeof fingerprint !== 'string' ||
    typeof verifierKey !== 'string' ||
    typeof publicKeyPem !== 'string'
  ) {
    throw bad(index, `${which} needs fingerprint, verifierKey and publicKeyPem`);
  }
  let key: KeyObject;
  try {
    key = parseAppliancePublicKey(publicKeyPem);
  } catch (e: unknown) {
    throw bad(index, `${which}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (appliancePublicKeyFingerprint(key) !== fingerprint) {
    throw bad(index, `${which} fingerprint is not that of its key`);
  }
  return { fingerprint, verifierKey, publicKeyPem, key };
}

/** True when a `config-change` payload claims to be a key rotation (then it must parse). */
export function isKeyRotationPayload(payload: unknown): boolean {
  return (
    typeof payload === 'object' &&
    payload !== null &&
    (payload as Record<string, unknown>)['target'] === KEY_ROTATION_TARGET
  );
}

/** Parses a rotation entry's payload text; PAYLOAD_INVALID when it is not a well-formed rotation. */
export function parseKeyRotation(index: number, payloadText: string): KeyRotation {
  let payload: unknown;
  try {
    payload = JSON.parse(payloadText);
  } catch {
    throw bad(index, 'payload is not JSON');
  }
  if (!isKeyRotationPayload(payload)) throw bad(index, `target is not ${KEY_ROTATION_TARGET}`);
  const o = payload as Record<string, unknown>;
  if (o['action'] !== KEY_ROTATION_ACTION) throw bad(index, `action is not ${KEY_ROTATION_ACTION}`);
  const reason = o['reason'];
  if (typeof reason !== 'string') throw bad(index, 'no reason');
  const old = announcedKey(index, o['oldKey'], 'oldKey');
  const { key: newPublicKey, ...newKey } = announcedKey(index, o['newKey'], 'newKey');
  if (old.fingerprint === newKey.fingerprint) throw bad(index, 'the new key is the old key');
  const oldKey = {
    fingerprint: old.fingerprint,
    verifierKey: old.verifierKey,
    publicKeyPem: old.publicKeyPem,
  };
  return { index, oldKey, newKey, newPublicKey, reason };
}

/** Whether a rotation's verifier key strings are those of its keys under `origin`. */
export function verifierKeysMatch(rotation: KeyRotation, origin: string): boolean {
  return [rotation.oldKey, rotation.newKey].every(
    (k) =>
      k.verifierKey ===
      ed25519VerifierKeyString(origin, rawEd25519PublicKey(parseAppliancePublicKey(k.publicKeyPem))),
  );
}
