import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { bindPolicy } from '../../src/config/load.ts';
import { DecisionCache } from '../../src/decision/cache.ts';
import { verifyImage } from '../../src/decision/verify-image.ts';
import type { VerificationOutcome } from '../../src/decision/verify-image.ts';
import { adHocPolicy } from '../../src/policy/index.ts';
import { parsePublicKeyPem } from '../../src/verify/keys.ts';
import { projectRoot } from '../support/tools.ts';

const fixtures = path.resolve(projectRoot, '../shared/fixtures/cosign-images');

function policyFor(keyFile: string, threshold = 1) {
  const key = parsePublicKeyPem(readFileSync(path.join(fixtures, 'keys', keyFile), 'utf8'), keyFile);
  const policy = adHocPolicy({ keys: [{ name: keyFile, fingerprint: key.fingerprint }], threshold });
  return bindPolicy(policy, new Map([[keyFile, key]]), new Map());
}

const request = { registry: {}, discovery: { maxSignatureBlobBytes: 1 << 20, maxAttachments: 64 } };

describe('DecisionCache', () => {
  describe('when an allow is repeated', () => {
    it('answers from the cache, marked as cached, for the same digest, policy and trust version', async () => {
      const store = new DecisionCache<VerificationOutcome>({ ttlMs: 60_000, maxEntries: 10 });
      const policies = [policyFor('cosign.pub')];
      const image = `oci:${fixtures}/valid:latest`;
      const first = await verifyImage({ ...request, image, policies, cache: { store, trustVersion: 't1' } });
      const second = await verifyImage({ ...request, image, policies, cache: { store, trustVersion: 't1' } });
      assert.equal(first.allowed, true);
      assert.equal(first.cached, undefined);
      assert.equal(second.allowed, true);
      assert.equal(second.cached, true);
      assert.equal(second.digest, first.digest);
      assert.deepEqual(store.stats, { hits: 1, misses: 1 });
    });
  });

  describe('when the reference is pinned by digest', () => {
    it('answers a cached allow without reading the source at all', async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'cs-cache-'));
      await cp(path.join(fixtures, 'valid'), dir, { recursive: true });
      const store = new DecisionCache<VerificationOutcome>({ ttlMs: 60_000, maxEntries: 10 });
      const policies = [policyFor('cosign.pub')];
      const image = `oci:${dir}@sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00`;
      const first = await verifyImage({ ...request, image, policies, cache: { store, trustVersion: 't1' } });
      assert.equal(first.allowed, true);
      // The layout's blobs are gone: only the cache can answer now.
      await rm(path.join(dir, 'blobs'), { recursive: true });
      const second = await verifyImage({ ...request, image, policies, cache: { store, trustVersion: 't1' } });
      assert.equal(second.allowed, true);
      assert.equal(second.cached, true);
      const uncached = await verifyImage({ ...request, image, policies });
      assert.equal(uncached.allowed, false);
    });
  });

  describe('when the trust version or the policy changes', () => {
    it('misses', async () => {
      const store = new DecisionCache<VerificationOutcome>({ ttlMs: 60_000, maxEntries: 10 });
      const image = `oci:${fixtures}/valid:latest`;
      await verifyImage({
        ...request,
        image,
        policies: [policyFor('cosign.pub')],
        cache: { store, trustVersion: 't1' },
      });
      const other = await verifyImage({
        ...request,
        image,
        policies: [policyFor('cosign.pub')],
        cache: { store, trustVersion: 't2' },
      });
      assert.equal(other.cached, undefined);
    });
  });

  describe('when the decision is a denial', () => {
    it('is never cached', async () => {
      const store = new DecisionCache<VerificationOutcome>({ ttlMs: 60_000, maxEntries: 10 });
      const image = `oci:${fixtures}/valid:latest`;
      const policies = [policyFor('cosign2.pub')];
      const a = await verifyImage({ ...request, image, policies, cache: { store, trustVersion: 't1' } });
      const b = await verifyImage({ ...request, image, policies, cache: { store, trustVersion: 't1' } });
      assert.equal(a.allowed, false);
      assert.equal(b.cached, undefined);
      assert.equal(store.size, 0);
    });
  });

  describe('when the TTL has passed', () => {
    it('drops the entry', () => {
      let now = 0;
      const store = new DecisionCache<string>({ ttlMs: 100, maxEntries: 10, now: () => now });
      store.set('k', 'v');
      assert.equal(store.get('k'), 'v');
      now = 100;
      assert.equal(store.get('k'), undefined);
    });

    it('keeps at most maxEntries, dropping the oldest', () => {
      const store = new DecisionCache<string>({ ttlMs: 100, maxEntries: 2 });
      store.set('a', '1');
      store.set('b', '2');
      store.set('c', '3');
      assert.equal(store.get('a'), undefined);
      assert.equal(store.get('c'), '3');
    });
  });
});
