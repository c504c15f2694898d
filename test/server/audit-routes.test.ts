/**
 * Audit trail routes: filters and cursor pagination, the signed checkpoint, an entry's inclusion
 * proof and consistency proofs, each checked with the offline Merkle functions.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  entryLeafData,
  hashLeaf,
  openCheckpoint,
  verifyConsistency,
  verifyInclusion,
} from '../../src/audit/index.ts';
import type { AuditEntry } from '../../src/audit/index.ts';
import { bearer, startTestApp, writeSignedLayout } from './fixtures.ts';
import type { TestEnv } from './fixtures.ts';

interface EntryJson {
  index: number;
  ts: string;
  kind: string;
  actor: string;
  payload: Record<string, unknown>;
  payloadText: string;
  softwareVersion: string;
  clockSteppedBack: boolean;
  prevTs: string | null;
  entryHash: string;
}

const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

describe('audit routes', () => {
  let env: TestEnv;
  let signed = '';
  let unsigned = '';
  let firstRoot: { size: number; root: Uint8Array };
  before(async () => {
    env = await startTestApp();
    signed = path.join(env.layouts, 'signed');
    unsigned = path.join(env.layouts, 'unsigned');
    writeSignedLayout(signed, env.key);
    writeSignedLayout(unsigned, null);
    for (const [i, dir] of [signed, unsigned, signed, unsigned, signed].entries()) {
      if (i === 3) {
        // An earlier checkpoint (size 3, not a power of two) for the consistency proof.
        const cp = env.data.audit.latestCheckpoint();
        firstRoot = { size: cp.size, root: cp.root };
      }
      await env.app.inject({
        method: 'POST',
        url: '/v1/verify',
        headers: bearer(env.tokens.verifier),
        payload: { image: `oci:${dir}`, context: { caller: 'node-7' } },
      });
    }
    await env.app.inject({ method: 'GET', url: '/v1/audit' });
  });
  after(async () => {
    await env.close();
  });

  const get = (url: string) => env.app.inject({ method: 'GET', url, headers: bearer(env.tokens.auditor) });

  describe('when entries are listed with filters', () => {
    it('filters by decision, kind and caller', async () => {
      const allows = (await get('/v1/audit?decision=allow')).json<{ entries: EntryJson[] }>().entries;
      assert.equal(allows.length, 3);
      assert.ok(allows.every((e) => e.payload['decision'] === 'allow'));
      const refused = (await get('/v1/audit?kind=auth-refused')).json<{ entries: EntryJson[] }>().entries;
      assert.equal(refused.length, 1);
      const byCaller = (await get('/v1/audit?caller=mercure')).json<{ entries: EntryJson[] }>().entries;
      assert.equal(byCaller.length, 5);
      const byPolicy = (await get('/v1/audit?policy=default&decision=deny')).json<{ entries: EntryJson[] }>()
        .entries;
      assert.equal(byPolicy.length, 2);
    });

    it('filters by image and time range', async () => {
      const image = (await get(`/v1/audit?image=${encodeURIComponent(`oci:${unsigned}`)}`)).json<{
        entries: EntryJson[];
      }>();
      assert.equal(image.entries.length, 2);
      const future = (await get('/v1/audit?from=2999-01-01T00:00:00Z')).json<{ entries: EntryJson[] }>();
      assert.equal(future.entries.length, 0);
      const bad = await get('/v1/audit?from=yesterday');
      assert.equal(bad.statusCode, 400);
      assert.equal(bad.json<{ code: string }>().code, 'REQUEST_INVALID');
    });

    it('pages with a cursor through every entry exactly once', async () => {
      const seen: number[] = [];
      let url = '/v1/audit?limit=2';
      for (;;) {
        const page = (await get(url)).json<{ entries: EntryJson[]; nextCursor?: string }>();
        seen.push(...page.entries.map((e) => e.index));
        if (page.nextCursor === undefined) break;
        url = `/v1/audit?limit=2&cursor=${page.nextCursor}`;
      }
      assert.deepEqual(seen, [...Array(env.data.audit.size()).keys()]);
    });

    it('returns each payload as stored, so its leaf hash can be recomputed', async () => {
      const [first] = (await get('/v1/audit?kind=decision&limit=1')).json<{ entries: EntryJson[] }>().entries;
      assert.ok(first);
      const entry: Omit<AuditEntry, 'entryHash'> = {
        index: first.index,
        ts: first.ts,
        kind: 'decision',
        actor: first.actor,
        payloadText: first.payloadText,
        softwareVersion: first.softwareVersion,
        clockSteppedBack: first.clockSteppedBack,
        prevTs: first.prevTs,
      };
      assert.equal(Buffer.from(hashLeaf(entryLeafData(entry))).toString('base64'), first.entryHash);
      assert.deepEqual(first.payload, JSON.parse(first.payloadText));
    });
  });

  describe('when proofs are asked for', () => {
    it('serves an entry with an inclusion proof that verifies against the signed checkpoint', async () => {
      const res = (await get('/v1/audit/entries/2')).json<{
        entry: EntryJson;
        checkpoint: { size: number; note: string };
        inclusionProof: { leafIndex: number; treeSize: number; hashes: string[] };
      }>();
      const cp = openCheckpoint(res.checkpoint.note, env.data.key.publicKey, { origin: env.data.origin });
      assert.equal(cp.size, res.inclusionProof.treeSize);
      assert.equal(
        verifyInclusion(2, cp.size, b64(res.entry.entryHash), res.inclusionProof.hashes.map(b64), cp.root),
        true,
      );
      assert.equal((await get('/v1/audit/entries/999')).statusCode, 404);
    });

    it('serves the checkpoint with the appliance public key', async () => {
      const res = (await get('/v1/audit/checkpoint')).json<{
        size: number;
        note: string;
        publicKey: string;
        origin: string;
      }>();
      assert.equal(res.size, env.data.audit.size());
      assert.equal(res.origin, env.data.origin);
      assert.equal(res.publicKey, env.data.key.publicKeyPem);
    });

    it('serves a consistency proof from an earlier checkpoint that verifies', async () => {
      const latest = env.data.audit.latestCheckpoint();
      const res = (await get(`/v1/audit/consistency?from=${firstRoot.size}&to=${latest.size}`)).json<{
        hashes: string[];
        checkpoint: string;
      }>();
      const cp = openCheckpoint(res.checkpoint, env.data.key.publicKey);
      assert.equal(firstRoot.size, 3);
      assert.ok(res.hashes.length > 0);
      assert.equal(
        verifyConsistency(firstRoot.size, latest.size, res.hashes.map(b64), firstRoot.root, cp.root),
        true,
      );
      const beyond = await get(`/v1/audit/consistency?from=1&to=${latest.size + 5}`);
      assert.equal(beyond.statusCode, 400);
    });
  });
});
