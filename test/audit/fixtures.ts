/** Shared fixtures for the audit tests: a temporary store with an in-process key and clock. */
import { generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ed25519NoteSigner } from '../../src/audit/checkpoint.ts';
import { openSqlite } from '../../src/audit/sqlite.ts';
import type { SqliteDatabase } from '../../src/audit/sqlite.ts';
import { openAuditStore } from '../../src/audit/store.ts';
import type { AuditStore, AuditStoreOptions } from '../../src/audit/store.ts';

export const ORIGIN = 'countersign.test/audit';

export function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'countersign-audit-'));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** A clock the test moves by hand. */
export class TestClock {
  ms: number;
  constructor(start = '2025-03-01T08:00:00.000Z') {
    this.ms = Date.parse(start);
  }
  now = (): Date => new Date(this.ms);
  advance(ms: number): void {
    this.ms += ms;
  }
}

export interface TestLog {
  readonly dbPath: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly publicKeyPem: string;
  readonly clock: TestClock;
  open(overrides?: Partial<AuditStoreOptions>): AuditStore;
}

export function testLog(dir: string, keys = generateKeyPairSync('ed25519')): TestLog {
  const clock = new TestClock();
  const dbPath = path.join(dir, 'audit.db');
  return {
    dbPath,
    privateKey: keys.privateKey,
    publicKey: keys.publicKey,
    publicKeyPem: keys.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    clock,
    open: (overrides = {}) =>
      openAuditStore({
        path: dbPath,
        origin: ORIGIN,
        signer: ed25519NoteSigner(ORIGIN, keys.privateKey),
        softwareVersion: '1.0.0',
        clock: clock.now,
        ...overrides,
      }),
  };
}

/** Appends `n` decision entries, one second apart; returns the signed checkpoint after each. */
export function appendDecisions(store: AuditStore, clock: TestClock, n: number): string[] {
  const notes: string[] = [];
  for (let i = 0; i < n; i++) {
    clock.advance(1000);
    const result = store.append({
      kind: 'decision',
      actor: i % 2 === 0 ? 'mercure' : 'ci-runner',
      payload: {
        decision: i % 3 === 0 ? 'deny' : 'allow',
        image: `registry.hospital.example/vendor/algo:${i}`,
        digest: `sha256:${String(i).padStart(64, '0')}`,
        policies: [{ name: i % 2 === 0 ? 'radiology-prod' : 'research', hash: 'sha256:abc' }],
      },
    });
    notes.push(result.checkpoint);
  }
  return notes;
}

/** Runs raw SQL on the database with the append-only triggers dropped, as an attacker with file access would. */
export function tamper(dbPath: string, fn: (db: SqliteDatabase) => void): void {
  const db = openSqlite(dbPath);
  try {
    for (const name of [
      'audit_entries_no_update',
      'audit_entries_no_delete',
      'audit_entries_in_order',
      'audit_checkpoints_no_update',
      'audit_checkpoints_no_delete',
      'audit_checkpoints_in_order',
    ]) {
      db.exec(`DROP TRIGGER IF EXISTS ${name}`);
    }
    fn(db);
  } finally {
    db.close();
  }
}
