/** `countersign token`: create prints the token once on its last line; every change is audited. */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../../src/cli/token.ts';
import type { CliIO } from '../../src/cli/io.ts';
import { CountersignError } from '../../src/errors.ts';
import { verifyAuditDatabase } from '../../src/audit/index.ts';
import { readFileSync } from 'node:fs';
import { openApplianceData } from '../../src/server/data.ts';

let dir = '';

async function token(...args: string[]): Promise<{ exit: number; stdout: string }> {
  let stdout = '';
  const io: CliIO = {
    stdout: (t) => {
      stdout += t;
    },
    stderr: () => undefined,
    env: { USER: 'alice' },
    cwd: dir,
    version: '0.0.0-test',
  };
  const exit = await run(args, io);
  return { exit, stdout };
}

describe('countersign token', () => {
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'countersign-token-cli-'));
    mkdirSync(path.join(dir, 'config'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  describe('when a token is created', () => {
    it('prints it alone on the last line and records a config-change entry before it exists', async () => {
      const r = await token('create', '--config', 'config', '--name', 'mercure', '--role', 'verifier');
      assert.equal(r.exit, 0);
      const lines = r.stdout.trimEnd().split('\n');
      const last = lines.at(-1) ?? '';
      assert.match(last, /^cs_[0-9a-f]{16}_[0-9a-f]{64}$/);
      const data = openApplianceData({
        dataDir: path.join(dir, 'config', 'data'),
        softwareVersion: '0.0.0-test',
      });
      try {
        const auth = data.tokens.authenticate(last);
        assert.ok(auth.ok);
        assert.equal(auth.record.role, 'verifier');
        const [entry] = data.audit.listEntries({ kind: 'config-change' }).entries;
        assert.ok(entry);
        assert.equal(entry.actor, 'cli:alice');
        const payload = JSON.parse(entry.payloadText) as Record<string, unknown>;
        assert.equal(payload['target'], 'token');
        assert.equal(payload['action'], 'create');
        assert.equal(payload['tokenId'], auth.record.id);
        assert.ok(!entry.payloadText.includes(last.split('_')[2] ?? 'x'));
      } finally {
        data.close();
      }
      const trail = verifyAuditDatabase(
        path.join(dir, 'config', 'data', 'audit.db'),
        readFileSync(path.join(dir, 'config', 'data', 'appliance.pub'), 'utf8'),
      );
      assert.equal(trail.ok, true);
    });

    it('refuses an unknown role with USAGE', async () => {
      await assert.rejects(
        token('create', '--config', 'config', '--name', 'x', '--role', 'root'),
        (e: unknown) => e instanceof CountersignError && e.code === 'USAGE',
      );
    });
  });

  describe('when tokens are listed and revoked', () => {
    it('shows the revocation and records it', async () => {
      await token('create', '--config', 'config', '--name', 'quality', '--role', 'auditor');
      const revoked = await token(
        'revoke',
        '--config',
        'config',
        '--name',
        'quality',
        '--reason',
        'left the team',
      );
      assert.equal(revoked.exit, 0);
      const list = await token('list', '--config', 'config', '--json');
      const records = JSON.parse(list.stdout) as {
        name: string;
        revokedAt: string | null;
        revokedBy: string;
      }[];
      assert.equal(records[0]?.name, 'quality');
      assert.notEqual(records[0].revokedAt, null);
      assert.equal(records[0].revokedBy, 'cli:alice');
      await assert.rejects(
        token('revoke', '--config', 'config', '--name', 'quality'),
        (e: unknown) => e instanceof CountersignError && e.code === 'USAGE',
      );
      const data = openApplianceData({
        dataDir: path.join(dir, 'config', 'data'),
        softwareVersion: '0.0.0-test',
      });
      try {
        const entries = data.audit.listEntries({ kind: 'config-change' }).entries;
        const last = JSON.parse(entries.at(-1)?.payloadText ?? '{}') as Record<string, unknown>;
        assert.equal(last['action'], 'revoke');
        assert.equal(last['reason'], 'left the team');
      } finally {
        data.close();
      }
    });
  });

  describe('when no --config is given', () => {
    it('uses ./data, as serve does with the demo configuration', async () => {
      const r = await token('create', '--name', 'demo', '--role', 'admin');
      assert.equal(r.exit, 0);
      const list = await token('list');
      assert.match(list.stdout, /^demo +admin /m);
    });
  });
});
