import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportAudit, verifyExport } from '../../../src/audit/export/index.ts';
import type { ExportFormat, ExportOptions, ExportProblemCode } from '../../../src/audit/export/index.ts';
import { openSqlite } from '../../../src/audit/sqlite.ts';
import { isCountersignError } from '../../../src/errors.ts';
import { projectRoot, requireTool } from '../../support/tools.ts';
import { bulkLoad } from './bulk-load.ts';
import { addInventory, exportFixture, fillTrail } from './fixtures.ts';
import type { ExportFixture } from './fixtures.ts';

function options(fx: ExportFixture, format: ExportFormat, extra: Partial<ExportOptions> = {}): ExportOptions {
  return {
    dbPath: fx.dbPath,
    dataDir: fx.dataDir,
    configDir: fx.dir,
    format,
    out: path.join(fx.dir, `export.${format}`),
    filter: {},
    site: 'St. Example Hospital, Radiology',
    appliance: 'appliance-1',
    softwareVersion: '9.9.9',
    generatedBy: 'Jane Auditor',
    clock: () => new Date('2025-04-01T12:00:00.000Z'),
    chunkSize: 16,
    ...extra,
  };
}

async function check(
  fx: ExportFixture,
  file: string,
  extra: { key?: string; appliance?: string; previous?: string } = {},
) {
  return verifyExport(file, {
    signature: readFileSync(`${file}.sig`, 'utf8'),
    publicKeyPem: extra.key ?? readFileSync(path.join(fx.dataDir, 'export-signing.pub'), 'utf8'),
    ...(extra.appliance === undefined ? {} : { appliancePublicKeyPem: extra.appliance }),
    ...(extra.previous === undefined ? {} : { previousCheckpoint: extra.previous }),
  });
}

function codes(problems: readonly { code: ExportProblemCode }[]): ExportProblemCode[] {
  return [...new Set(problems.map((p) => p.code))].sort();
}

/** Changes one byte at `offset` (or in the middle). */
function flipByte(file: string, offset?: number): void {
  const bytes = readFileSync(file);
  const at = offset ?? Math.floor(bytes.length / 2);
  bytes[at] = bytes[at]! ^ 0x01;
  writeFileSync(file, bytes);
}

function dbCount(dbPath: string, where = '1 = 1'): number {
  const db = openSqlite(dbPath, { readonly: true });
  try {
    return (db.prepare(`SELECT COUNT(*) AS n FROM audit_entries WHERE ${where}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

function trail(t: { after(fn: () => void): void }, n = 60): ExportFixture {
  const fx = exportFixture(t);
  const store = fx.open();
  fillTrail(store, n);
  store.close();
  return fx;
}

describe('exportAudit and verifyExport', () => {
  describe('when exporting CSV', () => {
    it('writes one row per entry with BOM, CRLF, ISO times and neutralised formulas, and verifies', async (t) => {
      const fx = trail(t);
      const result = await exportAudit(options(fx, 'csv'));
      const text = readFileSync(result.file, 'utf8');
      assert.ok(text.startsWith('\uFEFFindex,time_utc,kind,actor,'));
      assert.ok(text.endsWith('\r\n'));
      assert.equal(text.split('\r\n').length - 2, dbCount(fx.dbPath));
      assert.equal(result.entries, dbCount(fx.dbPath));
      assert.match(
        text,
        /\r\n0,2025-03-01T08:00:\d\d\.000Z,config-change,"'=HYPERLINK\(""http:\/\/evil\.example""\)"/,
      );
      assert.match(text, /,'\+cmd\|calc,/);
      assert.match(text, /Zürich – 東京/);
      const verified = await check(fx, result.file);
      assert.deepEqual(codes(verified.problems), []);
      assert.equal(verified.ok, true);
      assert.equal(verified.entries, result.entries);
    });

    it('fails with SIGNATURE_INVALID when one byte changes', async (t) => {
      const fx = trail(t);
      const result = await exportAudit(options(fx, 'csv'));
      flipByte(result.file);
      const verified = await check(fx, result.file);
      assert.equal(verified.ok, false);
      assert.deepEqual(codes(verified.problems), ['SIGNATURE_INVALID']);
    });
  });

  describe('when exporting JSON Lines', () => {
    it('proves every entry against the signed checkpoint and verifies', async (t) => {
      const fx = trail(t);
      const result = await exportAudit(options(fx, 'jsonl'));
      const lines = readFileSync(result.file, 'utf8').trimEnd().split('\n');
      assert.equal(lines.length, 3 + dbCount(fx.dbPath) + 1);
      const verified = await check(fx, result.file, {
        appliance: readFileSync(path.join(fx.dataDir, 'appliance.pub'), 'utf8'),
      });
      assert.deepEqual(verified.problems, []);
      assert.equal(verified.entries, dbCount(fx.dbPath));
      assert.equal(verified.checkpoint?.size, dbCount(fx.dbPath));
      assert.equal(verified.header?.generatedBy, 'Jane Auditor');
    });

    it('names the edited entry when one byte of it changes', async (t) => {
      const fx = trail(t);
      const result = await exportAudit(options(fx, 'jsonl'));
      // A byte offset (the file holds multi-byte UTF-8): ci-runner becomes ci-sunner.
      flipByte(result.file, readFileSync(result.file).indexOf('"actor":"ci-runner"') + 12);
      const verified = await check(fx, result.file);
      assert.deepEqual(codes(verified.problems), [
        'ENTRY_HASH_MISMATCH',
        'INCLUSION_PROOF_INVALID',
        'SIGNATURE_INVALID',
      ]);
    });

    it('reports COUNT_MISMATCH when an entry line is removed', async (t) => {
      const fx = trail(t);
      const result = await exportAudit(options(fx, 'jsonl'));
      const lines = readFileSync(result.file, 'utf8').split('\n');
      lines.splice(10, 1);
      writeFileSync(result.file, lines.join('\n'));
      const verified = await check(fx, result.file);
      assert.deepEqual(codes(verified.problems), ['COUNT_MISMATCH', 'SIGNATURE_INVALID']);
    });

    it('reports only SIGNATURE_INVALID for another key', async (t) => {
      const fx = trail(t);
      const result = await exportAudit(options(fx, 'jsonl'));
      const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
        type: 'spki',
        format: 'pem',
      });
      const verified = await check(fx, result.file, { key: other.toString() });
      assert.deepEqual(codes(verified.problems), ['SIGNATURE_INVALID']);
    });

    it('reports KEY_MISMATCH when the pinned appliance key is another', async (t) => {
      const fx = trail(t);
      const result = await exportAudit(options(fx, 'jsonl'));
      const other = generateKeyPairSync('ed25519')
        .publicKey.export({ type: 'spki', format: 'pem' })
        .toString();
      const verified = await check(fx, result.file, { appliance: other });
      assert.ok(codes(verified.problems).includes('KEY_MISMATCH'));
      assert.ok(codes(verified.problems).includes('CHECKPOINT_SIGNATURE_INVALID'));
    });

    it('proves that a later export extends an earlier checkpoint', async (t) => {
      const fx = trail(t, 20);
      const first = await exportAudit(options(fx, 'jsonl', { out: path.join(fx.dir, 'first.jsonl') }));
      const firstCheckpoint = JSON.parse(readFileSync(first.file, 'utf8').split('\n')[1]!) as {
        note: string;
      };
      const store = fx.open();
      fillTrail(store, 37);
      store.close();
      const second = await exportAudit(options(fx, 'jsonl', { previousCheckpoint: firstCheckpoint.note }));
      assert.equal(second.consistencyFrom, first.checkpoint.size);
      const verified = await check(fx, second.file, { previous: firstCheckpoint.note });
      assert.deepEqual(verified.problems, []);
      assert.equal(verified.consistencyFrom, first.checkpoint.size);
    });

    it('exports only the entries of a policy, with proofs against the whole log', async (t) => {
      const fx = trail(t);
      const result = await exportAudit(options(fx, 'jsonl', { filter: { policy: 'research' } }));
      const expected = dbCount(fx.dbPath, 'payload LIKE \'%"name":"research"%\'');
      assert.equal(result.entries, expected);
      const verified = await check(fx, result.file);
      assert.deepEqual(verified.problems, []);
      assert.equal(verified.entries, expected);
    });
  });

  describe('when exporting PDF', () => {
    it('writes an A4 report that poppler renders page by page, and verifies', async (t) => {
      const fx = trail(t, 120);
      addInventory(fx.dir);
      const result = await exportAudit(
        options(fx, 'pdf', {
          reportLimits: { decisionRows: 80, denialRows: 20, changeRows: 3, distinctKeys: 50 },
        }),
      );
      assert.equal((await check(fx, result.file)).ok, true);
      const artifacts = path.join(projectRoot, 'test-artifacts', 'audit-export');
      rmSync(artifacts, { recursive: true, force: true });
      mkdirSync(artifacts, { recursive: true });
      execFileSync('pdftoppm', ['-r', '72', '-png', result.file, path.join(artifacts, 'report')]);
      const pngs = readdirSync(artifacts).filter((f) => f.endsWith('.png'));
      assert.ok(result.pages !== undefined && result.pages >= 6);
      assert.equal(pngs.length, result.pages);
      const info = execFileSync('pdfinfo', [result.file]).toString();
      assert.match(info, /Page size:\s+595\.28 x 841\.89 pts \(A4\)/);
      const text = execFileSync('pdftotext', ['-layout', result.file, '-']).toString();
      for (const expected of [
        'Signature manifestation (21 CFR 11.50)',
        'Jane Auditor',
        '2025-04-01T12:00:00.000Z',
        'first 80 of 120 decisions',
        'keys/vendor-release.pub',
        'trust-root/hospital-private/trusted_root.json',
        `Tree size`,
        'THRESHOLD_NOT_MET',
      ]) {
        assert.ok(text.includes(expected), `PDF text lacks ${expected}`);
      }
    });

    it('fails with SIGNATURE_INVALID when one byte changes', async (t) => {
      const fx = trail(t, 10);
      const result = await exportAudit(options(fx, 'pdf'));
      flipByte(result.file, 200);
      assert.deepEqual(codes((await check(fx, result.file)).problems), ['SIGNATURE_INVALID']);
    });
  });

  describe('when the database was edited behind the log', () => {
    it('refuses to export with AUDIT_UNAVAILABLE and leaves no file', async (t) => {
      const fx = trail(t, 10);
      const db = openSqlite(fx.dbPath);
      db.exec('DROP TRIGGER audit_entries_no_update');
      db.exec("UPDATE audit_entries SET payload = replace(payload, 'deny', 'allow') WHERE idx = 1");
      db.close();
      const out = path.join(fx.dir, 'x.csv');
      await assert.rejects(
        exportAudit(options(fx, 'csv', { out })),
        (e: unknown) => isCountersignError(e) && e.code === 'AUDIT_UNAVAILABLE',
      );
      assert.equal(existsSync(out), false);
      assert.equal(existsSync(`${out}.partial`), false);
    });
  });

  describe('when the previous checkpoint is not one this log extends', () => {
    it('refuses with SIGNATURE_INVALID for a checkpoint of another key', async (t) => {
      const fx = trail(t, 5);
      const other = trail(t, 5);
      const first = await exportAudit(options(other, 'jsonl'));
      const note = (JSON.parse(readFileSync(first.file, 'utf8').split('\n')[1]!) as { note: string }).note;
      await assert.rejects(
        exportAudit(options(fx, 'jsonl', { previousCheckpoint: note })),
        (e: unknown) => isCountersignError(e) && e.code === 'SIGNATURE_INVALID',
      );
    });
  });

  describe('when cosign checks the signature', () => {
    it('verifies every format with cosign verify-blob and the export key', async (t) => {
      const cosign = requireTool('cosign');
      const fx = trail(t, 30);
      const home = mkdtempSync(path.join(tmpdir(), 'countersign-cosign-home-'));
      t.after(() => {
        rmSync(home, { recursive: true, force: true });
      });
      const env = { ...process.env, HOME: home, TUF_ROOT: path.join(home, 'tuf'), SIGSTORE_NO_CACHE: '1' };
      const pub = path.join(fx.dataDir, 'export-signing.pub');
      for (const format of ['csv', 'jsonl', 'pdf'] as const) {
        const result = await exportAudit(options(fx, format));
        const args = [
          'verify-blob',
          '--key',
          pub,
          '--signature',
          result.signatureFile,
          '--insecure-ignore-tlog=true',
          result.file,
        ];
        const good = spawnSync(cosign, args, { env, encoding: 'utf8' });
        assert.equal(good.status, 0, `${format}: ${good.stderr}`);
        assert.match(good.stderr, /Verified OK/, format);
        flipByte(result.file);
        const bad = spawnSync(cosign, args, { env, encoding: 'utf8' });
        assert.notEqual(bad.status, 0, format);
        assert.match(bad.stderr, /invalid signature/i, format);
      }
    });
  });
});

describe('exportAudit beside live work', () => {
  for (const format of ['csv', 'jsonl', 'pdf'] as const) {
    it(`gives the event loop turns while it writes a ${format} export`, async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'cs-export-breath-'));
      const dataDir = path.join(dir, 'data');
      mkdirSync(dataDir);
      bulkLoad(dataDir, 5000);
      let turns = 0;
      const timer = setInterval(() => {
        turns++;
      }, 0);
      try {
        await exportAudit({
          dbPath: path.join(dataDir, 'audit.db'),
          dataDir,
          format,
          out: path.join(dir, `export.${format}`),
          filter: {},
          site: 'site',
          appliance: 'appliance',
          softwareVersion: '1.0.0',
          generatedBy: 'test',
        });
      } finally {
        clearInterval(timer);
      }
      // A verification waiting meanwhile would have had these turns; without them it waits it out.
      assert.ok(turns >= 5, `only ${turns} event-loop turns during the export`);
    });
  }
});
