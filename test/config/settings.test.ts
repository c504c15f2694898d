/**
 * countersign.yaml `cache`: defaults, explicit values, 0 turning the cache off, and every invalid
 * value refused with CONFIG_INVALID naming the field.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_CACHE_MAX_ENTRIES,
  DEFAULT_CACHE_TTL_SECONDS,
  parseSettings,
} from '../../src/config/settings.ts';
import { isCountersignError } from '../../src/errors.ts';

function refusal(doc: unknown): string {
  try {
    parseSettings(doc, 'countersign.yaml');
  } catch (e: unknown) {
    assert.ok(isCountersignError(e), String(e));
    assert.equal(e.code, 'CONFIG_INVALID');
    return e.message;
  }
  assert.fail('expected CONFIG_INVALID');
}

describe('parseSettings', () => {
  describe('when cache is absent', () => {
    it('caches allows for 300 s, at most 10,000 of them', () => {
      const s = parseSettings({}, 'countersign.yaml');
      assert.deepEqual(s.cache, {
        ttlSeconds: DEFAULT_CACHE_TTL_SECONDS,
        maxEntries: DEFAULT_CACHE_MAX_ENTRIES,
      });
      assert.equal(DEFAULT_CACHE_TTL_SECONDS, 300);
      assert.equal(DEFAULT_CACHE_MAX_ENTRIES, 10_000);
    });
  });

  describe('when cache is given', () => {
    it('takes ttlSeconds and maxEntries', () => {
      const s = parseSettings({ cache: { ttlSeconds: 60, maxEntries: 5 } }, 'countersign.yaml');
      assert.deepEqual(s.cache, { ttlSeconds: 60, maxEntries: 5 });
    });

    it('takes ttlSeconds 0 (cache off) and keeps the default size', () => {
      const s = parseSettings({ cache: { ttlSeconds: 0 } }, 'countersign.yaml');
      assert.deepEqual(s.cache, { ttlSeconds: 0, maxEntries: DEFAULT_CACHE_MAX_ENTRIES });
    });
  });

  describe('when cache is invalid', () => {
    it('refuses a negative, fractional, string or over-long ttlSeconds', () => {
      for (const ttlSeconds of [-1, 1.5, '300', 86_401]) {
        assert.match(
          refusal({ cache: { ttlSeconds } }),
          /cache\.ttlSeconds: must be an integer in \[0, 86400\]/,
        );
      }
    });

    it('refuses maxEntries of 0 or above a million', () => {
      for (const maxEntries of [0, 1_000_001]) {
        assert.match(refusal({ cache: { maxEntries } }), /cache\.maxEntries: must be an integer/);
      }
    });

    it('refuses unknown fields and a cache that is not a mapping', () => {
      assert.match(refusal({ cache: { ttl: 5 } }), /cache\.ttl: unknown field/);
      assert.match(refusal({ cache: [300] }), /cache: must be a mapping/);
    });
  });
});
