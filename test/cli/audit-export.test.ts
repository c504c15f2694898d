import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { verifyAuditDatabase } from '../../src/audit/verify.ts';
import { run } from '../../src/cli/audit.ts';
import type { CliIO } from '../../src/cli/io.ts';
import { isCountersignError } from '../../src/errors.ts';
import { bulkLoad } from '../audit/export/bulk-load.ts';
import { exportFixture, fillTrail } from '../audit/export/fixtures.ts';

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

describe('countersign audit export / verify-export', () => {
  describe('when exporting each format from a configuration directory', () => {
    it('writes FILE and FILE.sig, and verify-export exits 0, then 1 after a changed byte', async (t) => {
      const fx = exportFixture(t);
      const store = fx.open();
      fillTrail(store, 40);
      store.close();
      writeFileSync(path.join(fx.dir, 'countersign.yaml'), 'site: St. Example Hospital\n');
      for (const format of ['csv', 'jsonl', 'pdf']) {
        const io = captureIO(fx.dir);
        const file = `out.${format}`;
        assert.equal(
          await run(
            ['export', '--config', '.', '--format', format, '--out', file, '--actor', 'Jane Auditor'],
            io,
          ),
          0,
        );
        assert.match(io.out, new RegExp(`entries: ${40 + 2}\\n`));
        assert.match(io.out, /signature: .*out\.\w+\.sig/);
        const ok = captureIO(fx.dir);
        assert.equal(await run(['verify-export', file, '--config', '.'], ok), 0, ok.out);
        assert.match(ok.out, /result: OK/);
        const withKey = captureIO(fx.dir);
        assert.equal(
          await run(
            ['verify-export', file, '--key', 'data/export-signing.pub', '--sig', `${file}.sig`, '--json'],
            withKey,
          ),
          0,
        );
        assert.equal((JSON.parse(withKey.out) as { ok: boolean }).ok, true);
        const bytes = readFileSync(path.join(fx.dir, file));
        bytes[bytes.length - 20] = bytes[bytes.length - 20]! ^ 0x04;
        writeFileSync(path.join(fx.dir, file), bytes);
        const bad = captureIO(fx.dir);
        assert.equal(await run(['verify-export', file, '--config', '.'], bad), 1);
        assert.match(bad.out, /SIGNATURE_INVALID/);
      }
      assert.match(readFileSync(path.join(fx.dir, 'out.jsonl'), 'utf8'), /"site":"St\. Example Hospital"/);
    });
  });

  describe('when a long export runs', () => {
    it('shows progress on stderr and exports every entry', async (t) => {
      const dir = mkdtempSync(path.join(tmpdir(), 'countersign-cli-export-'));
      t.after(() => {
        rmSync(dir, { recursive: true, force: true });
      });
      mkdirSync(path.join(dir, 'data'));
      bulkLoad(path.join(dir, 'data'), 12_000);
      const verified = verifyAuditDatabase(
        path.join(dir, 'data', 'audit.db'),
        readFileSync(path.join(dir, 'data', 'appliance.pub'), 'utf8'),
      );
      assert.equal(verified.ok, true);
      const io = captureIO(dir);
      assert.equal(await run(['export', '--config', '.', '--format', 'jsonl', '--out', 'big.jsonl'], io), 0);
      assert.match(io.out, /entries: 12000\n/);
      assert.match(io.err, /50% \(\d+ of 12000 entries scanned\)/);
      assert.match(io.err, /100% \(12000 of 12000 entries scanned\)/);
      const ok = captureIO(dir);
      assert.equal(await run(['verify-export', 'big.jsonl', '--config', '.'], ok), 0, ok.out);
    });
  });

  describe('when arguments are missing', () => {
    it('throws USAGE without --format, and verify-export without a key', async (t) => {
      const fx = exportFixture(t);
      const isUsage = (e: unknown): boolean => isCountersignError(e) && e.code === 'USAGE';
      await assert.rejects(run(['export', '--config', '.'], captureIO(fx.dir)), isUsage);
      await assert.rejects(run(['export', '--config', '.', '--format', 'xml'], captureIO(fx.dir)), isUsage);
      await assert.rejects(run(['verify-export', 'x.csv'], captureIO(fx.dir)), isUsage);
    });
  });
});
