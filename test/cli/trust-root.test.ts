import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CliIO } from '../../src/cli/io.ts';
import { run } from '../../src/cli/trust-root.ts';
import { parseTrustedRoot } from '../../src/trust/index.ts';
import { VirtualSigstore, derOf, pem } from '../support/virtual-sigstore.ts';

function captureIO(cwd: string): { io: CliIO; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: (t) => out.push(t), stderr: (t) => err.push(t), env: {}, cwd, version: 'test' },
    out,
    err,
  };
}

describe('countersign trust-root', () => {
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'countersign-trust-root-'));
    const sigstore = await VirtualSigstore.create();
    writeFileSync(
      join(dir, 'ca.pem'),
      pem('CERTIFICATE', derOf(sigstore.ca.intermediate)) + pem('CERTIFICATE', derOf(sigstore.ca.root)),
    );
    writeFileSync(join(dir, 'rekor.pub'), pem('PUBLIC KEY', sigstore.rekorKeys.spki));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  describe('create', () => {
    it('writes a trusted root that check accepts', async () => {
      const c = captureIO(dir);
      const code = await run(
        [
          'create',
          '--ca-chain',
          'ca.pem',
          '--rekor-key',
          'rekor.pub',
          '--valid-from',
          '2024-01-01T00:00:00Z',
          '--out',
          'root.json',
        ],
        c.io,
      );
      assert.equal(code, 0, c.err.join(''));
      const root = parseTrustedRoot(JSON.parse(readFileSync(join(dir, 'root.json'), 'utf8')), 'root.json');
      assert.equal(root.hasTlogs, true);
      const k = captureIO(dir);
      assert.equal(await run(['check', 'root.json'], k.io), 0);
      assert.match(k.out.join(''), /valid trusted root/);
    });

    it('exits 2 with USAGE without --out', async () => {
      const c = captureIO(dir);
      assert.equal(await run(['create', '--ca-chain', 'ca.pem'], c.io), 2);
      assert.match(c.err.join(''), /\[USAGE\]/);
    });

    it('exits 2 with TRUST_ROOT_INVALID for a chain without certificates', async () => {
      writeFileSync(join(dir, 'empty.pem'), 'no certificates\n');
      const c = captureIO(dir);
      assert.equal(await run(['create', '--ca-chain', 'empty.pem', '--out', 'x.json'], c.io), 2);
      assert.match(c.err.join(''), /\[TRUST_ROOT_INVALID\]/);
    });
  });

  describe('check', () => {
    it('exits 2 naming the bad field', async () => {
      const bad = {
        mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
        tlogs: [{ publicKey: {} }],
      };
      writeFileSync(join(dir, 'bad.json'), JSON.stringify(bad));
      const c = captureIO(dir);
      assert.equal(await run(['check', 'bad.json'], c.io), 2);
      assert.match(c.err.join(''), /tlogs\[0\]\.publicKey\.keyDetails: missing \[TRUST_ROOT_INVALID\]/);
    });
  });
});
