import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applianceNoteSigner, loadOrCreateApplianceKey } from '../../src/audit/appliance-key.ts';
import { openSqlite } from '../../src/audit/sqlite.ts';
import { openAuditStore } from '../../src/audit/store.ts';
import { run } from '../../src/cli/audit.ts';
import type { CliIO } from '../../src/cli/io.ts';
import { CountersignError } from '../../src/errors.ts';

const ORIGIN = 'countersign.test/audit';

interface Captured extends CliIO {
  out: string;
  err: string;
}

function captureIO(cwd: string): Captured {
  const io: Captured = {
    out: '',
    err: '',
    stdout: (t) => {
      io.out += t;
    },
    stderr: (t) => {
      io.err += t;
    },
    env: {},
    cwd,
    version: '0.0.0-test',
  };
  return io;
}

/** A config directory with data/audit.db holding `n` entries and data/appliance.pub; returns the checkpoints. */
function configDir(t: { after(fn: () => void): void }, n: number): { dir: string; notes: string[] } {
  const dir = mkdtempSync(path.join(tmpdir(), 'countersign-cli-audit-'));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const dataDir = path.join(dir, 'data');
  mkdirSync(dataDir);
  const key = loadOrCreateApplianceKey(dataDir);
  const store = openAuditStore({
    path: path.join(dataDir, 'audit.db'),
    origin: ORIGIN,
    signer: applianceNoteSigner(key, ORIGIN),
    softwareVersion: '1.0.0',
  });
  const notes: string[] = [];
  for (let i = 0; i < n; i++) {
    notes.push(
      store.append({ kind: 'decision', actor: 'mercure', payload: { decision: 'allow', i } }).checkpoint,
    );
  }
  store.close();
  return { dir, notes };
}

function tamperPayload(dbPath: string, index: number): void {
  const db = openSqlite(dbPath);
  try {
    db.exec('DROP TRIGGER audit_entries_no_update');
    db.exec(`UPDATE audit_entries SET payload = replace(payload, 'allow', 'deny!') WHERE idx = ${index}`);
  } finally {
    db.close();
  }
}

describe('countersign audit', () => {
  describe('when verifying an untouched trail', () => {
    it('exits 0 and reports OK', async (t) => {
      const { dir } = configDir(t, 4);
      const io = captureIO(dir);
      assert.equal(await run(['verify', '--config', '.'], io), 0);
      assert.match(io.out, /entries: 4, checkpoints: 5/);
      assert.match(io.out, /result: OK/);
    });

    it('accepts --db and --key, and a checkpoint kept outside', async (t) => {
      const { dir, notes } = configDir(t, 4);
      const kept = path.join(dir, 'kept.checkpoint');
      writeFileSync(kept, notes[1]!);
      const io = captureIO(dir);
      const code = await run(
        ['verify', '--db', 'data/audit.db', '--key', 'data/appliance.pub', '--checkpoint', kept, '--json'],
        io,
      );
      assert.equal(code, 0);
      const report = JSON.parse(io.out) as {
        ok: boolean;
        entries: number;
        latestCheckpoint: { size: number };
      };
      assert.equal(report.ok, true);
      assert.equal(report.latestCheckpoint.size, 4);
    });
  });

  describe('when a row was edited', () => {
    it('exits 1 and names the first bad entry', async (t) => {
      const { dir } = configDir(t, 6);
      tamperPayload(path.join(dir, 'data', 'audit.db'), 2);
      const io = captureIO(dir);
      assert.equal(await run(['verify', '--config', dir], io), 1);
      assert.match(io.out, /result: FAILED, first bad entry: 2/);
      assert.match(io.out, /\[2\] ENTRY_HASH_MISMATCH/);
    });
  });

  describe('when the tail was cut below a checkpoint kept outside', () => {
    it('exits 1 naming the first missing entry', async (t) => {
      const { dir, notes } = configDir(t, 5);
      const kept = path.join(dir, 'kept.checkpoint');
      writeFileSync(kept, notes[4]!);
      const db = openSqlite(path.join(dir, 'data', 'audit.db'));
      db.exec('DROP TRIGGER audit_entries_no_delete; DROP TRIGGER audit_checkpoints_no_delete');
      db.exec('DELETE FROM audit_entries WHERE idx >= 3; DELETE FROM audit_checkpoints WHERE size > 3');
      db.close();
      const io = captureIO(dir);
      assert.equal(await run(['verify', '--config', dir, '--checkpoint', kept], io), 1);
      assert.match(io.out, /first bad entry: 3/);
      assert.match(io.out, /TAIL_MISSING/);
    });
  });

  describe('when printing the checkpoint', () => {
    it('prints the latest signed checkpoint', async (t) => {
      const { dir, notes } = configDir(t, 3);
      const io = captureIO(dir);
      assert.equal(await run(['checkpoint', '--config', dir], io), 0);
      assert.equal(io.out, notes[2]);
    });
  });

  describe('when the arguments are wrong', () => {
    const usage = (e: unknown): boolean => e instanceof CountersignError && e.code === 'USAGE';

    it('throws USAGE for a missing or unknown subcommand, unknown flags and missing paths', async (t) => {
      const { dir } = configDir(t, 1);
      const io = captureIO(dir);
      await assert.rejects(run([], io), usage);
      await assert.rejects(run(['erase'], io), usage);
      await assert.rejects(run(['verify', '--config', dir, '--force'], io), usage);
      await assert.rejects(run(['verify'], io), usage);
      await assert.rejects(run(['verify', '--db', 'data/audit.db'], io), usage);
      await assert.rejects(run(['verify', '--config', dir, '--db', 'x'], io), usage);
    });

    it('throws CONFIG_INVALID for a directory without an audit trail', async (t) => {
      const { dir } = configDir(t, 1);
      const io = captureIO(dir);
      await assert.rejects(
        run(['verify', '--config', path.join(dir, 'elsewhere')], io),
        (e: unknown) => e instanceof CountersignError && e.code === 'CONFIG_INVALID',
      );
    });
  });
});
