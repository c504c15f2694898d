/** API tokens: format, roles, and the token table (hash only, revocation, names never reused). */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { CountersignError } from '../../src/errors.ts';
import type { ErrorCode } from '../../src/errors.ts';
import { ROLES, generateToken, parseToken, roleAllows, secretMatches } from '../../src/auth/index.ts';
import { openTokenStore } from '../../src/auth/index.ts';
import type { TokenStore } from '../../src/auth/index.ts';

function throwsCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (e: unknown) => e instanceof CountersignError && e.code === code);
}

describe('tokens', () => {
  describe('when generated', () => {
    it('has the form cs_<16 hex>_<64 hex> and parses back', () => {
      const t = generateToken();
      assert.match(t.token, /^cs_[0-9a-f]{16}_[0-9a-f]{64}$/);
      const parsed = parseToken(t.token);
      assert.equal(parsed?.id, t.id);
      assert.ok(secretMatches(parsed.secret, t.secretHash));
    });

    it('rejects near misses', () => {
      const t = generateToken().token;
      for (const bad of [`${t}0`, t.slice(0, -1), t.toUpperCase(), ` ${t}`, t.replace('cs_', 'cx_'), '']) {
        assert.equal(parseToken(bad), undefined, bad);
      }
    });
  });

  describe('when roles are checked', () => {
    it('lets only verifiers verify, auditors and admins read, admins change', () => {
      const table = ROLES.map((r) => [
        r,
        ['verify', 'read', 'admin', 'open'].map((a) => roleAllows(r, a as 'verify')),
      ]);
      assert.deepEqual(table, [
        ['verifier', [true, false, false, true]],
        ['auditor', [false, true, false, true]],
        ['admin', [false, true, true, true]],
      ]);
    });
  });
});

describe('openTokenStore', () => {
  let dir = '';
  let store: TokenStore;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'countersign-tokens-'));
    store = openTokenStore(path.join(dir, 'audit.db'));
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('when a token is created', () => {
    it('stores only the hash of the secret', () => {
      const { token, record } = store.create({ name: 'mercure', role: 'verifier', createdBy: 'test' });
      const secret = token.split('_')[2] ?? '';
      const db = new Database(path.join(dir, 'audit.db'), { readonly: true });
      try {
        const row = db.prepare('SELECT * FROM tokens WHERE id = ?').get(record.id) as Record<string, unknown>;
        assert.ok(row);
        assert.ok(!JSON.stringify(row).includes(secret));
        assert.ok(
          !Buffer.from(row['secret_hash'] as Buffer)
            .toString('hex')
            .includes(secret),
        );
      } finally {
        db.close();
      }
      const auth = store.authenticate(token);
      assert.ok(auth.ok);
      assert.equal(auth.record.name, 'mercure');
    });

    it('never reuses a name, revoked or not', () => {
      store.create({ name: 'a', role: 'auditor', createdBy: 'test' });
      throwsCode(() => store.create({ name: 'a', role: 'admin', createdBy: 'test' }), 'USAGE');
      store.revoke('a', 'test');
      throwsCode(() => store.create({ name: 'a', role: 'admin', createdBy: 'test' }), 'USAGE');
    });

    it('refuses names with spaces or odd characters', () => {
      throwsCode(() => store.create({ name: 'a b', role: 'auditor', createdBy: 'test' }), 'USAGE');
      throwsCode(() => store.create({ name: '', role: 'auditor', createdBy: 'test' }), 'USAGE');
    });
  });

  describe('when a token is presented', () => {
    it('names why it is refused: malformed, unknown, mismatch, revoked', () => {
      const { token } = store.create({ name: 'x', role: 'admin', createdBy: 'test' });
      const [, id] = token.split('_');
      assert.deepEqual(store.authenticate('nope'), { ok: false, reason: 'malformed' });
      const unknown = generateToken();
      assert.deepEqual(store.authenticate(unknown.token), {
        ok: false,
        reason: 'unknown',
        tokenId: unknown.id,
      });
      assert.deepEqual(store.authenticate(`cs_${id ?? ''}_${'1'.repeat(64)}`), {
        ok: false,
        reason: 'mismatch',
        tokenId: id,
        name: 'x',
      });
      store.revoke('x', 'test');
      assert.deepEqual(store.authenticate(token), { ok: false, reason: 'revoked', tokenId: id, name: 'x' });
    });
  });

  describe('when the table is edited behind the store', () => {
    it('refuses DELETE, un-revoking and role changes', () => {
      store.create({ name: 'x', role: 'verifier', createdBy: 'test' });
      const db = new Database(path.join(dir, 'audit.db'));
      try {
        assert.throws(() => db.prepare("DELETE FROM tokens WHERE name = 'x'").run(), /never deleted/);
        assert.throws(
          () => db.prepare("UPDATE tokens SET role = 'admin' WHERE name = 'x'").run(),
          /only be revoked/,
        );
        store.revoke('x', 'test');
        assert.throws(
          () => db.prepare("UPDATE tokens SET revoked_at = NULL WHERE name = 'x'").run(),
          /only be revoked/,
        );
      } finally {
        db.close();
      }
    });
  });

  describe('when readiness is probed', () => {
    it('passes on a writable database and fails once closed', () => {
      store.probeWritable();
      const other = openTokenStore(path.join(dir, 'audit.db'));
      other.close();
      assert.throws(() => {
        other.probeWritable();
      });
    });
  });
});
