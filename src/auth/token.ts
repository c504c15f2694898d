/**
 * API tokens and roles (Part 11 §11.10(d), (g)): pure. A token is `cs_<id>_<secret>`: the id (16 hex
 * digits) finds the row in O(1), the secret (32 random bytes, 64 hex digits) is stored only as its
 * SHA-256. A 256-bit secret needs no slow hash: it cannot be guessed, only stolen.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const ROLES = ['verifier', 'auditor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/**
 * What a route needs. `verify`: ask for a decision; `read`: audit trail, metrics, configuration;
 * `admin`: change the configuration. `open` routes need no credential at all.
 */
export type Access = 'open' | 'verify' | 'read' | 'admin';

/**
 * verifier: /v1/verify only (the orchestrator's credential can only verify, §11.10(d));
 * auditor: reads; admin: configuration changes and every read. Nobody but a verifier decides.
 */
export function roleAllows(role: Role, access: Access): boolean {
  switch (access) {
    case 'open':
      return true;
    case 'verify':
      return role === 'verifier';
    case 'read':
      return role === 'auditor' || role === 'admin';
    case 'admin':
      return role === 'admin';
  }
}

export const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const TOKEN_FORMAT = /^cs_([0-9a-f]{16})_([0-9a-f]{64})$/;
/** Looser than TOKEN_FORMAT: enough to name the token id a refused caller presented. */
const TOKEN_ID_PREFIX = /^cs_([0-9a-f]{16})_/;

export interface ParsedToken {
  readonly id: string;
  readonly secret: Uint8Array;
}

export function parseToken(text: string): ParsedToken | undefined {
  const m = TOKEN_FORMAT.exec(text);
  if (m === null) return undefined;
  const [, id, secret] = m;
  if (id === undefined || secret === undefined) return undefined;
  return { id, secret: Buffer.from(secret, 'hex') };
}

/** The token id a malformed token seems to carry, for the refusal record; never the secret. */
export function presentedTokenId(text: string): string | undefined {
  return TOKEN_ID_PREFIX.exec(text)?.[1];
}

export interface NewToken {
  readonly id: string;
  /** The whole token, shown once. */
  readonly token: string;
  readonly secretHash: Uint8Array;
}

export function hashSecret(secret: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(secret).digest());
}

export function generateToken(): NewToken {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32);
  return { id, token: `cs_${id}_${secret.toString('hex')}`, secretHash: hashSecret(secret) };
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function secretMatches(secret: Uint8Array, storedHash: Uint8Array): boolean {
  const presented = hashSecret(secret);
  return presented.length === storedHash.length && timingSafeEqual(presented, storedHash);
}
