/**
 * Registered callers (edge: SQLite). The `tokens` table lives in the audit database file but apart
 * from the append-only audit table: a token row can be revoked (marked, never deleted), and the
 * audit trail records each creation and revocation as a `config-change` entry (the CLI does that).
 * Names are never reused, revoked or not (Part 11 §11.300(a): identities stay unique).
 */
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';
import { CountersignError } from '../errors.ts';
import { TOKEN_NAME, generateToken, isRole, parseToken, presentedTokenId, secretMatches } from './token.ts';
import type { NewToken, Role } from './token.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL CHECK (role IN ('verifier', 'auditor', 'admin')),
  secret_hash BLOB NOT NULL CHECK (length(secret_hash) = 32),
  created_at TEXT NOT NULL,
  created_by TEXT NOT NULL,
  revoked_at TEXT,
  revoked_by TEXT
) STRICT;
CREATE TRIGGER IF NOT EXISTS tokens_no_delete BEFORE DELETE ON tokens
BEGIN SELECT RAISE(ABORT, 'tokens are revoked, never deleted'); END;
CREATE TRIGGER IF NOT EXISTS tokens_revoke_only BEFORE UPDATE ON tokens
WHEN OLD.revoked_at IS NOT NULL OR NEW.revoked_at IS NULL OR NEW.id IS NOT OLD.id
  OR NEW.name IS NOT OLD.name OR NEW.role IS NOT OLD.role OR NEW.secret_hash IS NOT OLD.secret_hash
  OR NEW.created_at IS NOT OLD.created_at OR NEW.created_by IS NOT OLD.created_by
BEGIN SELECT RAISE(ABORT, 'a token can only be revoked, once'); END;
CREATE TABLE IF NOT EXISTS readiness_probe (x INTEGER) STRICT;
`;

export interface TokenRecord {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly createdAt: string;
  readonly createdBy: string;
  readonly revokedAt: string | null;
  readonly revokedBy: string | null;
}

export type RefusalReason = 'missing' | 'malformed' | 'unknown' | 'revoked' | 'mismatch';

export type Authentication =
  | { readonly ok: true; readonly record: TokenRecord }
  | {
      readonly ok: false;
      readonly reason: RefusalReason;
      /** The principal presented, as far as it could be read: token id and, if known, its name. */
      readonly tokenId?: string;
      readonly name?: string;
    };

export interface TokenStore {
  /**
   * Registers a caller; the returned token is the only copy of its secret. `fresh` lets the caller
   * generate the token first (to record its id in the audit trail before it exists).
   */
  create(
    input: { name: string; role: Role; createdBy: string },
    fresh?: NewToken,
  ): { record: TokenRecord; token: string };
  list(): readonly TokenRecord[];
  byName(name: string): TokenRecord | undefined;
  revoke(name: string, by: string): TokenRecord;
  authenticate(token: string): Authentication;
  /** Throws unless the database file takes a write lock (for /readyz). Writes nothing. */
  probeWritable(): void;
  close(): void;
}

interface Row {
  id: string;
  name: string;
  role: string;
  secret_hash: Buffer;
  created_at: string;
  created_by: string;
  revoked_at: string | null;
  revoked_by: string | null;
}

function recordFromRow(row: Row): TokenRecord {
  if (!isRole(row.role)) throw new CountersignError('INTERNAL', `token ${row.id} has unknown role`);
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    createdAt: row.created_at,
    createdBy: row.created_by,
    revokedAt: row.revoked_at,
    revokedBy: row.revoked_by,
  };
}

export function checkTokenName(name: string): void {
  if (!TOKEN_NAME.test(name)) {
    throw new CountersignError(
      'USAGE',
      `token name ${JSON.stringify(name)}: 1-64 characters, letters, digits, '.', '_', '@', '-'`,
    );
  }
}

export interface TokenStoreOptions {
  readonly clock?: () => Date;
}

/** Opens the token table in `path` (the audit database), creating it on first use. */
export function openTokenStore(path: string, options: TokenStoreOptions = {}): TokenStore {
  const clock = options.clock ?? (() => new Date());
  let db: SqliteDatabase;
  try {
    db = new Database(path);
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = FULL');
    db.exec('PRAGMA busy_timeout = 5000');
    db.exec(SCHEMA);
  } catch (e: unknown) {
    throw new CountersignError('AUDIT_UNAVAILABLE', `cannot open token table in ${path}`, { cause: e });
  }
  const byId: Statement<[string], Row> = db.prepare('SELECT * FROM tokens WHERE id = ?');
  const byName: Statement<[string], Row> = db.prepare('SELECT * FROM tokens WHERE name = ?');
  const all: Statement<[], Row> = db.prepare('SELECT * FROM tokens ORDER BY created_at, name');
  const insert = db.prepare(
    `INSERT INTO tokens (id, name, role, secret_hash, created_at, created_by)
     VALUES (@id, @name, @role, @secret_hash, @created_at, @created_by)`,
  );
  const probe = db.prepare('INSERT INTO readiness_probe (x) VALUES (1)');
  const revoke = db.prepare(
    'UPDATE tokens SET revoked_at = ?, revoked_by = ? WHERE name = ? AND revoked_at IS NULL',
  );

  return {
    create({ name, role, createdBy }, fresh = generateToken()) {
      checkTokenName(name);
      if (byName.get(name) !== undefined) {
        throw new CountersignError(
          'USAGE',
          `a token named ${name} exists or existed: names are never reused`,
        );
      }
      insert.run({
        id: fresh.id,
        name,
        role,
        secret_hash: Buffer.from(fresh.secretHash),
        created_at: clock().toISOString(),
        created_by: createdBy,
      });
      const row = byId.get(fresh.id);
      if (row === undefined) throw new CountersignError('INTERNAL', 'token was not stored');
      return { record: recordFromRow(row), token: fresh.token };
    },
    list: () => all.all().map(recordFromRow),
    byName(name) {
      const row = byName.get(name);
      return row === undefined ? undefined : recordFromRow(row);
    },
    revoke(name, by) {
      const row = byName.get(name);
      if (row === undefined) throw new CountersignError('NOT_FOUND', `no token named ${name}`);
      if (row.revoked_at !== null) throw new CountersignError('USAGE', `token ${name} is already revoked`);
      revoke.run(clock().toISOString(), by, name);
      const after = byName.get(name);
      if (after === undefined) throw new CountersignError('INTERNAL', 'token vanished');
      return recordFromRow(after);
    },
    authenticate(token) {
      const parsed = parseToken(token);
      if (parsed === undefined) {
        const tokenId = presentedTokenId(token);
        return tokenId === undefined
          ? { ok: false, reason: 'malformed' }
          : { ok: false, reason: 'malformed', tokenId };
      }
      const row = byId.get(parsed.id);
      if (row === undefined) return { ok: false, reason: 'unknown', tokenId: parsed.id };
      if (!secretMatches(parsed.secret, row.secret_hash)) {
        return { ok: false, reason: 'mismatch', tokenId: parsed.id, name: row.name };
      }
      if (row.revoked_at !== null)
        return { ok: false, reason: 'revoked', tokenId: parsed.id, name: row.name };
      return { ok: true, record: recordFromRow(row) };
    },
    probeWritable() {
      // A real write, rolled back: a read-only file or a full lock fails here, not at the next decision.
      db.exec('BEGIN IMMEDIATE');
      try {
        probe.run();
      } finally {
        db.exec('ROLLBACK');
      }
    },
    close() {
      db.close();
    },
  };
}
