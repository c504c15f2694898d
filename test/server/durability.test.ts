/**
 * Durability under a crash (issue 5): a burst of verify requests against a real `serve` process,
 * SIGKILL mid-burst, restart. Every decision that was answered is in the trail (same index,
 * same entry hash, same outcome), its receipt's proof verifies against its signed checkpoint, the
 * restarted appliance appends after it, and `countersign audit verify --config DIR` exits 0.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Pool } from 'undici';
import { openCheckpoint, verifyInclusion } from '../../src/audit/index.ts';
import { openApplianceData } from '../../src/server/data.ts';
import { writeSignedLayout } from './fixtures.ts';
import { MAIN, prepareServeConfig, spawnServe } from './serve-process.ts';
import type { ServeProcess } from './serve-process.ts';

interface Ack {
  readonly image: string;
  readonly allowed: boolean;
  readonly digest: string | null;
  readonly receipt: {
    index: number;
    entryHash: string;
    checkpoint: string;
    inclusionProof: { leafIndex: number; treeSize: number; hashes: string[] };
  };
}

const BURST = 4000;
const KILL_AFTER_ACKS = 300;

describe('audit durability', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'countersign-durability-'));
  const running: ServeProcess[] = [];
  after(() => {
    for (const s of running) if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });

  describe('when the server is killed with SIGKILL in the middle of a burst', () => {
    it('keeps every answered decision, and the trail verifies after a restart', async () => {
      const cfg = prepareServeConfig(root);
      const images: string[] = [];
      for (let i = 0; i < 12; i++) {
        const dir = path.join(cfg.layouts, `image-${String(i)}`);
        // Two of them unsigned: denials are recorded and acknowledged the same way.
        writeSignedLayout(dir, i < 10 ? cfg.key : null);
        images.push(`oci:${dir}`);
      }
      const first = await spawnServe(cfg.configDir, ['--layout-root', cfg.layouts]);
      running.push(first);

      const pool = new Pool(first.url, { connections: 32 });
      const acks: Ack[] = [];
      let failures = 0;
      let killed = false;
      await Promise.all(
        Array.from({ length: BURST }, async (_, i) => {
          const image = images[i % images.length] ?? '';
          try {
            const res = await pool.request({
              method: 'POST',
              path: '/v1/verify',
              headers: { authorization: `Bearer ${cfg.token}`, 'content-type': 'application/json' },
              body: JSON.stringify({ image, context: { taskId: `burst-${String(i)}` } }),
            });
            const text = await res.body.text();
            assert.equal(res.statusCode, 200, text);
            acks.push({ image, ...(JSON.parse(text) as Omit<Ack, 'image'>) });
            if (!killed && acks.length >= KILL_AFTER_ACKS) {
              killed = true;
              first.proc.kill('SIGKILL');
            }
          } catch (e: unknown) {
            if (e instanceof assert.AssertionError) throw e;
            failures++;
          }
        }),
      );
      await pool.destroy();
      assert.equal(await first.exited, null);
      assert.equal(first.proc.signalCode, 'SIGKILL');
      // The kill really came mid-burst: some requests were never answered.
      assert.ok(failures > 0, `all ${BURST} requests were answered before the kill`);
      assert.ok(acks.length >= KILL_AFTER_ACKS);

      // Restart: the trail opens (its tree matches its latest checkpoint) and takes new entries.
      const second = await spawnServe(cfg.configDir, ['--layout-root', cfg.layouts]);
      running.push(second);
      const res = await fetch(`${second.url}/v1/verify`, {
        method: 'POST',
        headers: { authorization: `Bearer ${cfg.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ image: images[0] }),
      });
      assert.equal(res.status, 200);
      const fresh = (await res.json()) as Ack;
      const lastAcked = Math.max(...acks.map((a) => a.receipt.index));
      assert.ok(fresh.receipt.index > lastAcked, `${fresh.receipt.index} <= ${lastAcked}`);
      second.proc.kill('SIGTERM');
      assert.equal(await second.exited, 0, second.stderr());

      const verify = await promisify(execFile)(process.execPath, [
        MAIN,
        'audit',
        'verify',
        '--config',
        cfg.configDir,
      ]).then(
        (r) => ({ code: 0, out: r.stdout }),
        (e: unknown) => {
          const failed = e as { code?: number; stdout?: string };
          return { code: failed.code ?? -1, out: failed.stdout ?? '' };
        },
      );
      assert.equal(verify.code, 0, verify.out);

      const data = openApplianceData({ dataDir: path.join(cfg.configDir, 'data'), softwareVersion: 'check' });
      try {
        const indexes = new Set<number>();
        for (const ack of acks) {
          const { index, entryHash, checkpoint, inclusionProof } = ack.receipt;
          assert.ok(!indexes.has(index), `index ${index} acknowledged twice`);
          indexes.add(index);
          const stored = data.audit.getEntry(index).entry;
          assert.equal(Buffer.from(stored.entryHash).toString('base64'), entryHash, `entry ${index}`);
          assert.equal(stored.kind, 'decision');
          const payload = JSON.parse(stored.payloadText) as Record<string, unknown>;
          assert.equal(payload['decision'], ack.allowed ? 'allow' : 'deny');
          assert.equal(payload['digest'], ack.digest);
          assert.equal(payload['image'], ack.image);
          const cp = openCheckpoint(checkpoint, data.key.publicKey, { origin: data.origin });
          assert.equal(inclusionProof.treeSize, cp.size);
          const hashes = inclusionProof.hashes.map((h) => new Uint8Array(Buffer.from(h, 'base64')));
          assert.equal(verifyInclusion(index, cp.size, stored.entryHash, hashes, cp.root), true);
        }
      } finally {
        data.close();
      }
    });
  });
});
