/**
 * Audit entries as data: canonical JSON, the exact bytes an entry's Merkle leaf hashes, and the
 * salted hashing of identifiers that must never appear in clear. Pure.
 */
import { createHmac } from 'node:crypto';
import { CountersignError } from '../errors.ts';
import { hashLeaf } from './merkle.ts';

export type JsonValue =
  null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };
export type JsonObject = { readonly [key: string]: JsonValue };

/**
 * What an entry records. `decision`: one verification answer; `config-change`: policy, key, trust
 * root or token changes; `auth-refused`: refused logins and callers; `system`: start, upgrade,
 * retention; `review` and `signature`: Part 11 reviews and e-signatures; `export`: an export made.
 */
export const AUDIT_KINDS = [
  'decision',
  'config-change',
  'auth-refused',
  'system',
  'review',
  'signature',
  'export',
] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

export function isAuditKind(value: string): value is AuditKind {
  return (AUDIT_KINDS as readonly string[]).includes(value);
}

/** One row of `audit_entries`, as stored. */
export interface AuditEntry {
  readonly index: number;
  /** Server UTC time, ISO 8601 with milliseconds. */
  readonly ts: string;
  readonly kind: AuditKind;
  readonly actor: string;
  /** The payload exactly as stored: canonical JSON text. */
  readonly payloadText: string;
  readonly softwareVersion: string;
  /** The server clock was earlier than the previous entry's time when this entry was written. */
  readonly clockSteppedBack: boolean;
  /** The previous entry's `ts`, null for the first entry. */
  readonly prevTs: string | null;
  /** The RFC 6962 leaf hash of `entryLeafData(entry)`. */
  readonly entryHash: Uint8Array;
}

/** Entry leaf format version, inside the hashed bytes so that a later format cannot be confused with it. */
export const ENTRY_FORMAT_VERSION = 1;

function canonicalString(s: string): string {
  // JSON.stringify escapes exactly what RFC 8785 §3.2.2.2 requires and nothing else.
  return JSON.stringify(s);
}

/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace, numbers in ECMAScript
 * form (the RFC 8785 rules for the values countersign writes). Undefined object members are dropped.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value))
        throw new CountersignError('REQUEST_INVALID', 'canonical JSON has no NaN or Infinity');
      return JSON.stringify(value);
    case 'string':
      return canonicalString(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v: unknown) => canonicalJson(v)).join(',')}]`;
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new CountersignError('REQUEST_INVALID', 'canonical JSON takes plain objects only');
      }
      const record = value as Record<string, unknown>;
      const members = Object.keys(record)
        .filter((k) => record[k] !== undefined)
        .sort()
        .map((k) => `${canonicalString(k)}:${canonicalJson(record[k])}`);
      return `{${members.join(',')}}`;
    }
    default:
      throw new CountersignError('REQUEST_INVALID', `canonical JSON cannot hold a ${typeof value}`);
  }
}

/**
 * The bytes an entry's leaf hash covers: every column but `entry_hash`, in canonical JSON. The payload
 * goes in as its stored text, so any byte changed in any column changes the hash.
 */
export function entryLeafData(entry: Omit<AuditEntry, 'entryHash'>): Uint8Array {
  return new TextEncoder().encode(
    canonicalJson({
      actor: entry.actor,
      clockSteppedBack: entry.clockSteppedBack ? 1 : 0,
      idx: entry.index,
      kind: entry.kind,
      payload: entry.payloadText,
      prevTs: entry.prevTs,
      softwareVersion: entry.softwareVersion,
      ts: entry.ts,
      v: ENTRY_FORMAT_VERSION,
    }),
  );
}

export function computeEntryHash(entry: Omit<AuditEntry, 'entryHash'>): Uint8Array {
  return hashLeaf(entryLeafData(entry));
}

/**
 * A salted, keyed hash of an identifier (a DICOM series UID, say) so that callers can correlate
 * entries without a patient identifier ever being stored: `hmac-sha256:<hex>`. The salt is a
 * per-appliance secret; without it the hash cannot be brute-forced from the small UID space.
 */
export function hashIdentifier(salt: Uint8Array | string, value: string): string {
  const key = typeof salt === 'string' ? Buffer.from(salt, 'utf8') : salt;
  if (key.length < 16)
    throw new CountersignError('CONFIG_INVALID', 'identifier salt must be at least 16 bytes');
  return `hmac-sha256:${createHmac('sha256', key).update(value, 'utf8').digest('hex')}`;
}
