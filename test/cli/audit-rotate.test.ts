import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { run } from '../../src/cli/audit.ts';
import type { CliIO } from '../../src/cli/io.ts';
import { isCountersignError } from '../../src/errors.ts';
import { openApplianceData } from '../../src/server/data.ts';

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

/** A configuration directory whose data/ holds a trail of `n` decisions, written by the appliance's data layer. */
function configDir(t: { after(fn: () => void): void }, n: number): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'countersign-cli-rotate-'));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  appendDecisions(dir, n);
  return dir;
}

function appendDecisions(dir: string, n: number): void {
  const data = openApplianceData({ dataDir: path.join(dir, 'data'), softwareVersion: '0.0.0-test' });
  try {
    for (let i = 0; i < n; i++) {
      data.audit.append({ kind: 'decision', actor: 'mercure', payload: { decision: 'allow', i } });
    }
  } finally {
    data.close();
  }
}

const isCode =
  (code: string) =>
  (e: unknown): boolean =>
    isCountersignError(e) && e.code === code;

describe('countersign audit rotate-key', () => {
  describe('when the appliance is stopped', () => {
    it('rotates, and verify, export and verify-export keep working across the rotation', async (t) => {
      const dir = configDir(t, 3);
      const oldPem = readFileSync(path.join(dir, 'data', 'appliance.pub'), 'utf8');
      const io = captureIO(dir);
      const code = await run(
        ['rotate-key', '--config', '.', '--reason', 'annual key change', '--actor', 'alice'],
        io,
      );
      assert.equal(code, 0);
      assert.match(
        io.out,
        /^rotated the appliance key of countersign\.local\/audit\/[0-9a-f]{16}; audit entry 3$/m,
      );
      assert.match(io.out, /^new key: sha256:[0-9a-f]{64} /m);
      const newPem = readFileSync(path.join(dir, 'data', 'appliance.pub'), 'utf8');
      assert.notEqual(newPem, oldPem);
      // The co-signed checkpoint printed last, for the archive.
      const note = io.out.slice(io.out.indexOf('countersign.local/audit/', io.out.indexOf('archive it')));
      writeFileSync(path.join(dir, 'rotation-checkpoint.txt'), note);

      appendDecisions(dir, 2);

      const verify = captureIO(dir);
      assert.equal(await run(['verify', '--config', '.'], verify), 0, verify.out);
      assert.match(
        verify.out,
        /appliance keys followed:\n {2}sha256:[0-9a-f]{64} from the start\n {2}sha256:[0-9a-f]{64} from rotation entry 3 \(checkpoints from size 4\)/,
      );

      // The archived first key, pinned, follows the chain; so does the co-signed checkpoint.
      writeFileSync(path.join(dir, 'first.pub'), oldPem);
      const pinned = captureIO(dir);
      assert.equal(
        await run(
          [
            'verify',
            '--db',
            'data/audit.db',
            '--key',
            'first.pub',
            '--checkpoint',
            'rotation-checkpoint.txt',
            '--json',
          ],
          pinned,
        ),
        0,
        pinned.out,
      );
      const json = JSON.parse(pinned.out) as {
        ok: boolean;
        entries: number;
        keys: { rotationEntry: number | null }[];
      };
      assert.equal(json.ok, true);
      assert.equal(json.entries, 6);
      assert.deepEqual(
        json.keys.map((k) => k.rotationEntry),
        [null, 3],
      );

      // The co-signed checkpoint links exports across the rotation: it verifies under the new key.
      const linked = captureIO(dir);
      assert.equal(
        await run(
          ['export', '--config', '.', '--format', 'jsonl', '--out', 'linked.jsonl', '--quiet'].concat([
            '--previous-checkpoint',
            'rotation-checkpoint.txt',
          ]),
          linked,
        ),
        0,
      );
      const linkedCheck = captureIO(dir);
      assert.equal(
        await run(
          [
            'verify-export',
            'linked.jsonl',
            '--config',
            '.',
            '--previous-checkpoint',
            'rotation-checkpoint.txt',
          ],
          linkedCheck,
        ),
        0,
        linkedCheck.out,
      );
      assert.match(linkedCheck.out, /consistency: proven from the checkpoint of size 4/);

      for (const format of ['jsonl', 'csv']) {
        const out = `after.${format}`;
        const exported = captureIO(dir);
        assert.equal(
          await run(['export', '--config', '.', '--format', format, '--out', out, '--quiet'], exported),
          0,
        );
        const checked = captureIO(dir);
        assert.equal(
          await run(
            ['verify-export', out, '--config', '.', '--appliance-key', 'data/appliance.pub'],
            checked,
          ),
          0,
          checked.out,
        );
      }
    });

    it('prints the result as JSON with --json', async (t) => {
      const dir = configDir(t, 1);
      const io = captureIO(dir);
      assert.equal(await run(['rotate-key', '--config', '.', '--reason', 'policy', '--json'], io), 0);
      const result = JSON.parse(io.out) as { index: number; resumed: boolean; keys: unknown[] };
      assert.equal(result.index, 1);
      assert.equal(result.resumed, false);
      assert.equal(result.keys.length, 2);
    });
  });

  describe('when the appliance still runs', () => {
    it('refuses with AUDIT_UNAVAILABLE and the trail keeps its key', async (t) => {
      const dir = configDir(t, 1);
      const before = readFileSync(path.join(dir, 'data', 'appliance.pub'), 'utf8');
      const running = openApplianceData({ dataDir: path.join(dir, 'data'), softwareVersion: '0.0.0-test' });
      try {
        await assert.rejects(
          run(['rotate-key', '--config', '.', '--reason', 'policy'], captureIO(dir)),
          isCode('AUDIT_UNAVAILABLE'),
        );
      } finally {
        running.close();
      }
      assert.equal(readFileSync(path.join(dir, 'data', 'appliance.pub'), 'utf8'), before);
      assert.equal(await run(['verify', '--config', '.'], captureIO(dir)), 0);
    });
  });

  describe('when arguments are missing', () => {
    it('throws USAGE without --config or --reason', async (t) => {
      const dir = configDir(t, 1);
      await assert.rejects(run(['rotate-key', '--reason', 'x'], captureIO(dir)), isCode('USAGE'));
      await assert.rejects(run(['rotate-key', '--config', '.'], captureIO(dir)), isCode('USAGE'));
      await assert.rejects(
        run(['rotate-key', '--config', '.', '--reason', ' '], captureIO(dir)),
        isCode('USAGE'),
      );
    });
  });

  describe('when there is no trail to rotate', () => {
    it('throws CONFIG_INVALID', async (t) => {
      const dir = mkdtempSync(path.join(tmpdir(), 'countersign-cli-rotate-'));
      t.after(() => {
        rmSync(dir, { recursive: true, force: true });
      });
      await assert.rejects(
        run(['rotate-key', '--config', '.', '--reason', 'policy'], captureIO(dir)),
        isCode('CONFIG_INVALID'),
      );
    });
  });
});
