/**
 * Sigstore trust roots: one validating parser for `trusted_root.json` and the bridge to
 * `@sigstore/verify` trust material. Pure: no fs, no network.
 *
 * Format: sigstore protobuf-specs `dev.sigstore.trustroot.v1.TrustedRoot`, protobuf-JSON encoding
 * (media type `application/vnd.dev.sigstore.trustedroot+json;version=0.1`).
 */
import { createHash, createPublicKey } from 'node:crypto';
import { X509Certificate } from '@sigstore/core';
import { PublicKeyDetails, TrustedRoot } from '@sigstore/protobuf-specs';
import type { TrustMaterial } from '@sigstore/verify';
import { toTrustMaterial as sigstoreTrustMaterial } from '@sigstore/verify';
import { CountersignError } from '../errors.ts';
import type { PublicKeyMaterial } from '../verify/types.ts';

export const TRUSTED_ROOT_MEDIA_TYPE = 'application/vnd.dev.sigstore.trustedroot+json;version=0.1';
/** The newer spelling used by protobuf-specs >= 0.4 for the same message. */
export const TRUSTED_ROOT_MEDIA_TYPE_V02 = 'application/vnd.dev.sigstore.trustedroot.v0.2+json';

/** A validated trusted root. Immutable; build trust material from it with `toTrustMaterial`. */
export interface TrustRoot {
  /** Name the operator gave it (directory name, file name). */
  readonly name: string;
  /** The protobuf-JSON document as validated (deep-frozen). */
  readonly json: Readonly<Record<string, unknown>>;
  /** sha256 hex over the canonical JSON text of `json`: the trust version for caches and audit. */
  readonly fingerprint: string;
  readonly hasCertificateAuthorities: boolean;
  readonly hasTlogs: boolean;
  readonly hasCtlogs: boolean;
  readonly hasTimestampAuthorities: boolean;
  /** Certificate authorities but no tlog, CT log or TSA: a corporate CA (verify at current time). */
  readonly caOnly: boolean;
}

const KEY_DETAILS = new Set(Object.keys(PublicKeyDetails).filter((k) => Number.isNaN(Number(k))));
const PKCS1_DETAILS = new Set(['PKCS1_RSA_PKCS1V5', 'PKCS1_RSA_PSS']);
const HASH_ALGORITHMS = new Set(['SHA2_256', 'SHA2_384', 'SHA2_512', 'SHA3_256', 'SHA3_384']);
// RFC 3339 as protobuf-JSON Timestamp writes it (google/protobuf/timestamp.proto, JSON mapping).
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

type JsonObject = Record<string, unknown>;

class RootValidator {
  readonly sourceName: string;
  constructor(sourceName: string) {
    this.sourceName = sourceName;
  }

  fail(path: string, message: string): never {
    throw new CountersignError(
      'TRUST_ROOT_INVALID',
      `trusted root "${this.sourceName}": ${path}: ${message}`,
    );
  }

  object(value: unknown, path: string): JsonObject {
    if (value === undefined) this.fail(path, 'missing');
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(path, 'not an object');
    return value as JsonObject;
  }

  array(value: unknown, path: string): readonly unknown[] {
    if (value === undefined) return [];
    if (!Array.isArray(value)) this.fail(path, 'not an array');
    return value;
  }

  string(value: unknown, path: string): string {
    if (value === undefined) this.fail(path, 'missing');
    if (typeof value !== 'string') this.fail(path, 'not a string');
    return value;
  }

  optionalString(value: unknown, path: string): void {
    if (value !== undefined) this.string(value, path);
  }

  bytes(value: unknown, path: string): Buffer {
    const s = this.string(value, path);
    // protobuf-JSON bytes: standard or URL-safe base64, padding optional.
    if (!BASE64.test(s) && !BASE64URL.test(s)) this.fail(path, 'not base64');
    const b = Buffer.from(s, 'base64');
    if (b.length === 0) this.fail(path, 'empty');
    return b;
  }

  time(value: unknown, path: string): number {
    const s = this.string(value, path);
    const t = Date.parse(s);
    if (!RFC3339.test(s) || Number.isNaN(t)) this.fail(path, `not an RFC 3339 time: ${JSON.stringify(s)}`);
    return t;
  }

  /** A TimeRange whose start is required: a missing start must not read as "since forever". */
  validFor(value: unknown, path: string): void {
    const range = this.object(value, path);
    const start = this.time(range['start'], `${path}.start`);
    if (range['end'] !== undefined) {
      const end = this.time(range['end'], `${path}.end`);
      if (end < start) this.fail(`${path}.end`, 'before start');
    }
  }

  publicKey(value: unknown, path: string): void {
    const pk = this.object(value, path);
    const details = this.string(pk['keyDetails'], `${path}.keyDetails`);
    if (!KEY_DETAILS.has(details) || details === 'PUBLIC_KEY_DETAILS_UNSPECIFIED') {
      this.fail(`${path}.keyDetails`, `unknown key type ${JSON.stringify(details)}`);
    }
    const raw = this.bytes(pk['rawBytes'], `${path}.rawBytes`);
    try {
      createPublicKey({ key: raw, format: 'der', type: PKCS1_DETAILS.has(details) ? 'pkcs1' : 'spki' });
    } catch {
      this.fail(`${path}.rawBytes`, `does not decode as a ${details} public key`);
    }
    this.validFor(pk['validFor'], `${path}.validFor`);
  }

  logId(value: unknown, path: string): void {
    const id = this.object(value, path);
    this.bytes(id['keyId'], `${path}.keyId`);
  }

  transparencyLog(value: unknown, path: string): void {
    const log = this.object(value, path);
    this.optionalString(log['baseUrl'], `${path}.baseUrl`);
    if (log['hashAlgorithm'] !== undefined) {
      const h = this.string(log['hashAlgorithm'], `${path}.hashAlgorithm`);
      if (!HASH_ALGORITHMS.has(h)) this.fail(`${path}.hashAlgorithm`, `unknown ${JSON.stringify(h)}`);
    }
    this.publicKey(log['publicKey'], `${path}.publicKey`);
    this.logId(log['logId'], `${path}.logId`);
    if (log['checkpointKeyId'] !== undefined) this.logId(log['checkpointKeyId'], `${path}.checkpointKeyId`);
  }

  certificateAuthority(value: unknown, path: string): void {
    const ca = this.object(value, path);
    this.optionalString(ca['uri'], `${path}.uri`);
    const chain = this.object(ca['certChain'], `${path}.certChain`);
    const certs = this.array(chain['certificates'], `${path}.certChain.certificates`);
    if (certs.length === 0) this.fail(`${path}.certChain.certificates`, 'empty');
    certs.forEach((c, i) => {
      const p = `${path}.certChain.certificates[${i}]`;
      const der = this.bytes(this.object(c, p)['rawBytes'], `${p}.rawBytes`);
      try {
        X509Certificate.parse(Buffer.from(der));
      } catch {
        this.fail(`${p}.rawBytes`, 'not a DER X.509 certificate');
      }
    });
    this.validFor(ca['validFor'], `${path}.validFor`);
  }
}

/**
 * Validates a `trusted_root.json` document. Every key must decode, every certificate must parse and
 * every validity window must have a start (a tlog without one is invalid: sigstore-conformance
 * `trust-root-tlog-missing-validity-start_fail`). Throws CountersignError TRUST_ROOT_INVALID naming
 * the offending field.
 */
export function parseTrustedRoot(json: unknown, sourceName: string): TrustRoot {
  const v = new RootValidator(sourceName);
  const doc = v.object(withoutNulls(json), '(document)');
  const mediaType = v.string(doc['mediaType'], 'mediaType');
  if (mediaType !== TRUSTED_ROOT_MEDIA_TYPE && mediaType !== TRUSTED_ROOT_MEDIA_TYPE_V02) {
    v.fail('mediaType', `unsupported ${JSON.stringify(mediaType)}`);
  }
  const tlogs = v.array(doc['tlogs'], 'tlogs');
  const ctlogs = v.array(doc['ctlogs'], 'ctlogs');
  const cas = v.array(doc['certificateAuthorities'], 'certificateAuthorities');
  const tsas = v.array(doc['timestampAuthorities'], 'timestampAuthorities');
  tlogs.forEach((t, i) => {
    v.transparencyLog(t, `tlogs[${i}]`);
  });
  ctlogs.forEach((t, i) => {
    v.transparencyLog(t, `ctlogs[${i}]`);
  });
  cas.forEach((c, i) => {
    v.certificateAuthority(c, `certificateAuthorities[${i}]`);
  });
  tsas.forEach((c, i) => {
    v.certificateAuthority(c, `timestampAuthorities[${i}]`);
  });
  if (tlogs.length + ctlogs.length + cas.length + tsas.length === 0) {
    v.fail('(document)', 'trusts nothing: no tlogs, ctlogs, certificateAuthorities or timestampAuthorities');
  }

  const copy = deepFreeze(doc);
  const hasCertificateAuthorities = cas.length > 0;
  const hasTlogs = tlogs.length > 0;
  const hasCtlogs = ctlogs.length > 0;
  const hasTimestampAuthorities = tsas.length > 0;
  return Object.freeze({
    name: sourceName,
    json: copy,
    fingerprint: createHash('sha256').update(canonicalJson(copy)).digest('hex'),
    hasCertificateAuthorities,
    hasTlogs,
    hasCtlogs,
    hasTimestampAuthorities,
    caOnly: hasCertificateAuthorities && !hasTlogs && !hasCtlogs && !hasTimestampAuthorities,
  });
}

const MATERIAL_CACHE = new WeakMap<TrustRoot, TrustMaterial>();

/**
 * The `@sigstore/verify` trust material for a root, built once per root. With `key`, bundles that
 * name a public key (`publicKey.hint`) verify against that key whatever their hint says: the
 * caller chose the key, the bundle only labels it.
 */
export function toTrustMaterial(root: TrustRoot, key?: PublicKeyMaterial): TrustMaterial {
  let material = MATERIAL_CACHE.get(root);
  if (material === undefined) {
    material = sigstoreTrustMaterial(TrustedRoot.fromJSON(root.json));
    MATERIAL_CACHE.set(root, material);
  }
  if (key === undefined) return material;
  const publicKey = key.key;
  return { ...material, publicKey: () => ({ publicKey, validFor: () => true }) };
}

/** JSON text with object keys sorted, so equal documents hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as JsonObject)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * A copy without null-valued fields: protobuf-JSON reads `null` as "field absent"
 * (protobuf JSON mapping, "null is accepted for all field types and treated as the default").
 */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (typeof value === 'object' && value !== null) {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value as JsonObject)) {
      if (v !== null) out[k] = withoutNulls(v);
    }
    return out;
  }
  return value;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
