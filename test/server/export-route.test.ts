/**
 * The HTTP export route: roles, each format with its content type and file name, the detached
 * signature in the response header (checked with verifyExport and the export key the appliance
 * serves), the retrievable copy and its .sig, and the `export` audit entry each export writes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { verifyExport } from '../../src/audit/export/index.ts';
import { createApp } from '../../src/server/app.ts';
import type { Appliance } from '../../src/server/appliance.ts';
import { CountersignError } from '../../src/errors.ts';
import { EXPORTS_DIR } from '../../src/server/routes/export.ts';
import { bearer, startTestApp, writeSignedLayout } from './fixtures.ts';
import type { TestEnv } from './fixtures.ts';

interface EntryJson {
  index: number;
  kind: string;
  actor: string;
  payload: Record<string, unknown>;
}

describe('audit export route', () => {
  let env: TestEnv;
  let scratch: string;
  let signedDir: string;
  let exportKey: string;

  before(async () => {
    env = await startTestApp();
    scratch = mkdtempSync(path.join(tmpdir(), 'countersign-export-route-'));
    signedDir = path.join(env.layouts, 'signed');
    const unsigned = path.join(env.layouts, 'unsigned');
    writeSignedLayout(signedDir, env.key);
    writeSignedLayout(unsigned, null);
    for (const dir of [signedDir, unsigned, signedDir]) {
      const res = await env.app.inject({
        method: 'POST',
        url: '/v1/verify',
        headers: bearer(env.tokens.verifier),
        payload: { image: `oci:${dir}` },
      });
      assert.equal(res.statusCode, 200);
    }
    const key = await env.app.inject({
      method: 'GET',
      url: '/v1/audit/export-key',
      headers: bearer(env.tokens.auditor),
    });
    assert.equal(key.statusCode, 200);
    exportKey = key.body;
  });
  after(async () => {
    await env.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  const get = (url: string, token: string | null = env.tokens.auditor) =>
    env.app.inject({ method: 'GET', url, headers: token === null ? {} : bearer(token) });

  let n = 0;
  /** Writes a response body to a file, as a download would, and verifies it with the header's signature. */
  async function verifyBody(body: Buffer, signature: string) {
    const file = path.join(scratch, `export-${n++}`);
    writeFileSync(file, body);
    return verifyExport(file, { signature, publicKeyPem: exportKey });
  }

  describe('when the caller has no auditor or admin role', () => {
    it('answers 401 without a token', async () => {
      const res = await get('/v1/audit/export?format=csv', null);
      assert.equal(res.statusCode, 401);
      assert.equal(res.json<{ code: string }>().code, 'UNAUTHENTICATED');
    });

    it('answers 403 to a verifier', async () => {
      const res = await get('/v1/audit/export?format=csv', env.tokens.verifier);
      assert.equal(res.statusCode, 403);
      assert.equal(res.json<{ code: string }>().code, 'FORBIDDEN');
    });

    it('refuses the retrieval routes and the key to a verifier', async () => {
      for (const url of ['/v1/audit/exports/20250101T000000Z-0123456789ab', '/v1/audit/export-key']) {
        assert.equal((await get(url, env.tokens.verifier)).statusCode, 403);
      }
    });
  });

  describe('when an auditor or an admin exports', () => {
    for (const [format, type, magic] of [
      ['csv', 'text/csv; charset=utf-8; header=present', '\uFEFFindex,'],
      ['jsonl', 'application/x-ndjson; charset=utf-8', '{"type":"header"'],
      ['pdf', 'application/pdf', '%PDF-'],
    ] as const) {
      it(`streams a signed ${format} export that verifies`, async () => {
        const res = await get(`/v1/audit/export?format=${format}`);
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(res.headers['content-type'], type);
        assert.match(
          String(res.headers['content-disposition']),
          new RegExp(`^attachment; filename="countersign-audit-\\d{8}T\\d{6}Z-[0-9a-f]{12}\\.${format}"$`),
        );
        assert.equal(Number(res.headers['content-length']), res.rawPayload.length);
        assert.ok(res.rawPayload.toString('utf8').startsWith(magic));
        const signature = String(res.headers['x-countersign-signature']);
        const checked = await verifyBody(res.rawPayload, signature);
        assert.equal(checked.ok, true, JSON.stringify(checked.problems));
        assert.equal(checked.format, format);
        assert.equal(checked.signatureValid, true);
      });
    }

    it('answers an admin too', async () => {
      const res = await get('/v1/audit/export?format=csv', env.tokens.admin);
      assert.equal(res.statusCode, 200);
    });

    it('signs exactly the bytes sent: one changed byte fails verification', async () => {
      const res = await get('/v1/audit/export?format=jsonl');
      const body = Buffer.from(res.rawPayload);
      body[body.length - 3] = (body[body.length - 3] ?? 0) ^ 1;
      const checked = await verifyBody(body, String(res.headers['x-countersign-signature']));
      assert.equal(checked.ok, false);
      assert.equal(checked.signatureValid, false);
      assert.ok(checked.problems.some((p) => p.code === 'SIGNATURE_INVALID'));
    });

    it('applies the filter: an image and a time range', async () => {
      const imageRes = await get(
        `/v1/audit/export?format=jsonl&image=${encodeURIComponent(`oci:${signedDir}`)}`,
      );
      assert.equal(imageRes.statusCode, 200);
      const checked = await verifyBody(
        imageRes.rawPayload,
        String(imageRes.headers['x-countersign-signature']),
      );
      assert.equal(checked.ok, true, JSON.stringify(checked.problems));
      assert.equal(checked.entries, 2);
      assert.deepEqual(checked.header?.filter, { image: `oci:${signedDir}` });

      const empty = await get(
        '/v1/audit/export?format=csv&from=2001-01-01T00:00:00Z&to=2001-01-02T00:00:00Z',
      );
      assert.equal(empty.statusCode, 200);
      const emptyChecked = await verifyBody(
        empty.rawPayload,
        String(empty.headers['x-countersign-signature']),
      );
      assert.equal(emptyChecked.ok, true);
      assert.equal(emptyChecked.entries, 0);
    });

    it('records each export as an audit entry with actor, filter, checkpoint and signature', async () => {
      const res = await get('/v1/audit/export?format=csv&policy=default', env.tokens.admin);
      assert.equal(res.statusCode, 200);
      const index = Number(res.headers['x-countersign-audit-index']);
      const found = (await get(`/v1/audit/entries/${index}`)).json<{ entry: EntryJson }>().entry;
      assert.equal(found.kind, 'export');
      assert.equal(found.actor, 'it-admin');
      assert.equal(found.payload['format'], 'csv');
      assert.equal(found.payload['exportId'], res.headers['x-countersign-export-id']);
      assert.deepEqual(found.payload['filter'], { policy: 'default' });
      assert.equal(found.payload['signature'], res.headers['x-countersign-signature']);
      const checkpoint = found.payload['checkpoint'] as { size: number; origin: string; root: string };
      // The export covers the log as it was just before its own entry.
      assert.equal(checkpoint.size, index);
      assert.equal(checkpoint.origin, env.data.origin);
      const exports = (await get('/v1/audit?kind=export')).json<{ entries: EntryJson[] }>().entries;
      assert.ok(exports.length >= 5);
      assert.ok(exports.every((e) => typeof e.payload['signature'] === 'string'));
    });
  });

  describe('when a finished export is fetched again by id', () => {
    it('returns the same bytes and its signature file', async () => {
      const res = await get('/v1/audit/export?format=pdf');
      const id = String(res.headers['x-countersign-export-id']);
      const again = await get(`/v1/audit/exports/${id}`);
      assert.equal(again.statusCode, 200);
      assert.equal(again.headers['content-type'], 'application/pdf');
      assert.ok(again.rawPayload.equals(res.rawPayload));
      const sig = await get(`/v1/audit/exports/${id}.sig`);
      assert.equal(sig.statusCode, 200);
      assert.equal(sig.body, res.headers['x-countersign-signature']);
      assert.match(String(sig.headers['content-disposition']), /\.pdf\.sig"$/);
      const checked = await verifyBody(again.rawPayload, sig.body);
      assert.equal(checked.ok, true);
    });

    it('answers 404 NOT_FOUND for an unknown id and 400 for a malformed one', async () => {
      const unknown = await get('/v1/audit/exports/20010101T000000Z-0123456789ab');
      assert.equal(unknown.statusCode, 404);
      assert.equal(unknown.json<{ code: string }>().code, 'NOT_FOUND');
      const malformed = await get('/v1/audit/exports/..%2Faudit.db');
      assert.equal(malformed.statusCode, 400);
      assert.equal(malformed.json<{ code: string }>().code, 'REQUEST_INVALID');
    });
  });

  describe('when the request is invalid', () => {
    it('refuses an unknown format, a missing format and an unknown parameter with REQUEST_INVALID', async () => {
      for (const q of ['format=xml', '', 'format=csv&decision=deny', 'format=csv&from=yesterday']) {
        const res = await get(`/v1/audit/export?${q}`);
        assert.equal(res.statusCode, 400, q);
        assert.equal(res.json<{ code: string }>().code, 'REQUEST_INVALID');
      }
    });
  });

  describe('when the export cannot be recorded', () => {
    it('answers 503 AUDIT_UNAVAILABLE and leaves no export behind', async () => {
      // A separate appliance: closing an app may close the appliance it serves.
      const own = await startTestApp();
      const failing: Appliance = {
        ...own.appliance,
        record: (input) => {
          if (input.kind === 'export') throw new CountersignError('AUDIT_UNAVAILABLE', 'disk full');
          return own.appliance.record(input);
        },
      };
      const app = await createApp({ appliance: failing });
      try {
        const res = await app.inject({
          method: 'GET',
          url: '/v1/audit/export?format=csv',
          headers: bearer(own.tokens.auditor),
        });
        assert.equal(res.statusCode, 503);
        assert.equal(res.json<{ code: string }>().code, 'AUDIT_UNAVAILABLE');
        assert.deepEqual(readdirSync(path.join(own.data.dataDir, EXPORTS_DIR)), []);
      } finally {
        await app.close();
        await own.close();
      }
    });
  });
});
