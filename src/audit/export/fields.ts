/**
 * The summary columns of an entry, read from its payload for reports (pure). The payload itself
 * always travels with the export too; these are conveniences for people and spreadsheets, so a
 * field a payload does not have is simply empty.
 */
import type { AuditEntry, JsonValue } from '../entry.ts';

export interface EntryFields {
  /** `allow` or `deny` for decisions. */
  readonly decision: string;
  readonly image: string;
  readonly digest: string;
  /** Policy names (`policy` or `policies`, as plain names or `{ name }`), with `@hash` when known. */
  readonly policies: readonly string[];
  /** Reason codes and texts (`reason`, `reasons`, `code`, and signer outcomes' `code`s). */
  readonly reasons: readonly string[];
  /** Configuration changes: what changed (`target`, `path`, `name` or `event`). */
  readonly subject: string;
  readonly oldHash: string;
  readonly newHash: string;
}

type Obj = { readonly [key: string]: JsonValue };

export function isJsonObject(v: JsonValue | undefined): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function text(v: JsonValue | undefined): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return '';
}

function firstText(o: Obj, keys: readonly string[]): string {
  for (const k of keys) {
    const t = text(o[k]);
    if (t !== '') return t;
  }
  return '';
}

function policyName(v: JsonValue): string {
  if (typeof v === 'string') return v;
  if (isJsonObject(v)) {
    const name = text(v['name']);
    const version = firstText(v, ['hash', 'contentHash', 'version']);
    return version === '' ? name : `${name}@${version}`;
  }
  return '';
}

function reasonText(v: JsonValue): string {
  if (typeof v === 'string') return v;
  if (isJsonObject(v)) {
    const code = text(v['code']);
    const message = firstText(v, ['message', 'reason']);
    const who = firstText(v, ['signer', 'name']);
    const head = who === '' ? code : `${who}: ${code}`;
    return message === '' ? head : `${head} ${message}`.trim();
  }
  return '';
}

function hashOf(o: Obj, flat: readonly string[], nested: string): string {
  const direct = firstText(o, flat);
  if (direct !== '') return direct;
  const n = o[nested];
  return isJsonObject(n) ? firstText(n, ['hash', 'contentHash']) : '';
}

export function parsePayload(entry: AuditEntry): Obj {
  try {
    const value = JSON.parse(entry.payloadText) as JsonValue;
    return isJsonObject(value) ? value : {};
  } catch {
    return {};
  }
}

export function entryFields(entry: AuditEntry, payload: Obj = parsePayload(entry)): EntryFields {
  const policies: string[] = [];
  const single = payload['policy'];
  if (single !== undefined) policies.push(policyName(single));
  const many = payload['policies'];
  if (Array.isArray(many)) for (const p of many as JsonValue[]) policies.push(policyName(p));

  const reasons: string[] = [];
  for (const key of ['reason', 'code']) {
    const t = text(payload[key]);
    if (t !== '') reasons.push(t);
  }
  for (const key of ['reasons', 'signers']) {
    const list = payload[key];
    if (!Array.isArray(list)) continue;
    for (const r of list as JsonValue[]) {
      // Signer outcomes that passed are not reasons for anything.
      if (key === 'signers' && isJsonObject(r) && (r['satisfied'] === true || r['ok'] === true)) continue;
      const t = reasonText(r);
      if (t !== '') reasons.push(t);
    }
  }
  return {
    decision: text(payload['decision']),
    image: text(payload['image']),
    digest: text(payload['digest']),
    policies: policies.filter((p) => p !== ''),
    reasons,
    subject: firstText(payload, ['target', 'path', 'name', 'event']),
    oldHash: hashOf(payload, ['oldHash', 'previousHash', 'oldContentHash'], 'old'),
    newHash: hashOf(payload, ['newHash', 'contentHash', 'newContentHash'], 'new'),
  };
}
