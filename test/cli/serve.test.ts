/**
 * `countersign serve`, the real command in a child process (the one test that binds a port): it
 * starts on the embedded demo configuration with data in ./data, answers /healthz, and on
 * SIGTERM closes gracefully, recording start and stop in an audit trail that verifies.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { verifyAuditDatabase } from '../../src/audit/index.ts';
import { softwareVersion } from '../../src/cli/io.ts';
import { openApplianceData } from '../../src/server/data.ts';

const SERVE = path.resolve(import.meta.dirname, '..', '..', 'src', 'cli', 'serve.ts');

describe('countersign serve', () => {
  let dir = '';
  let child: ChildProcess | undefined;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'countersign-serve-'));
  });
  after(() => {
    if (child?.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  describe('when started without --config and stopped with SIGTERM', () => {
    it('serves /healthz on 127.0.0.1, then closes gracefully and records start and stop', async () => {
      const proc = spawn(process.execPath, [SERVE, '--port', '0', '--log-level', 'warn'], {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = proc;
      let stdout = '';
      let stderr = '';
      proc.stdout.on('data', (c: Buffer) => {
        stdout += c.toString('utf8');
      });
      proc.stderr.on('data', (c: Buffer) => {
        stderr += c.toString('utf8');
      });
      const exited = new Promise<number | null>((resolve) => {
        proc.on('exit', (code) => {
          resolve(code);
        });
      });
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`no listening line: ${stdout} ${stderr}`));
        }, 20_000);
        const check = (): void => {
          const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
          if (m?.[1] !== undefined) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        };
        proc.stdout.on('data', check);
        void exited.then(() => {
          reject(new Error(`exited early: ${stderr}`));
        });
      });
      const health = await request(`${url}/healthz`);
      assert.equal(health.statusCode, 200);
      assert.deepEqual(await health.body.json(), { status: 'ok' });
      const ready = await request(`${url}/readyz`);
      assert.equal(ready.statusCode, 200);
      await ready.body.dump();

      proc.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
      assert.match(stdout, /countersign: SIGTERM, closing\ncountersign: stopped\n/);

      const dataDir = path.join(dir, 'data');
      const trail = verifyAuditDatabase(
        path.join(dataDir, 'audit.db'),
        readFileSync(path.join(dataDir, 'appliance.pub'), 'utf8'),
      );
      assert.equal(trail.ok, true, JSON.stringify(trail.problems));
      const data = openApplianceData({ dataDir, softwareVersion: softwareVersion() });
      try {
        const events = data.audit
          .listEntries({ kind: 'system' })
          .entries.map((e) => (JSON.parse(e.payloadText) as { event: string }).event);
        assert.deepEqual(events.slice(-2), ['start', 'stop']);
      } finally {
        data.close();
      }
    });
  });
});
