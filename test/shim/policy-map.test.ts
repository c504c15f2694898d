import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicyMap, selectPolicy } from '../../src/shim/policy-map.ts';
import { CountersignError } from '../../src/errors.ts';

const RULES = parsePolicyMap(
  {
    rules: [
      { certificateIdentity: 'a@x', certificateOidcIssuer: 'https://i', policy: 'pa', module: 'seg' },
      { key: '/k.pub', policy: 'pk' },
    ],
  },
  'map.json',
);

function invalid(doc: unknown, pattern: RegExp): void {
  assert.throws(
    () => parsePolicyMap(doc, 'map.json'),
    (e: unknown) => e instanceof CountersignError && e.code === 'CONFIG_INVALID' && pattern.test(e.message),
  );
}

describe('parsePolicyMap', () => {
  describe('when the document is malformed', () => {
    it('names the field', () => {
      invalid([], /must be an object/);
      invalid({ rules: {} }, /rules: must be a list/);
      invalid({ rules: [], extra: 1 }, /extra: unknown field/);
      invalid({ rules: [{ key: '/k', policy: 'p', colour: 'red' }] }, /rules\[0\]\.colour: unknown field/);
      invalid({ rules: [{ key: '/k' }] }, /rules\[0\]\.policy: required/);
      invalid({ rules: [{ policy: 'p' }] }, /rules\[0\]: needs key/);
      invalid({ rules: [{ key: '', policy: 'p' }] }, /rules\[0\]\.key: must be a non-empty string/);
    });

    it('refuses two rules for the same flags', () => {
      invalid(
        {
          rules: [
            { key: '/k', policy: 'p' },
            { key: '/k', policy: 'q' },
          ],
        },
        /rules\[1\]: the same flags/,
      );
    });
  });
});

describe('selectPolicy', () => {
  describe('when the flags equal a rule', () => {
    it('selects its policy and module', () => {
      assert.deepEqual(
        selectPolicy({
          rules: RULES,
          trust: { certificateIdentity: 'a@x', certificateOidcIssuer: 'https://i' },
        }),
        { policy: 'pa', source: 'map', module: 'seg' },
      );
      assert.deepEqual(selectPolicy({ rules: RULES, trust: { key: '/k.pub' } }), {
        policy: 'pk',
        source: 'map',
      });
    });
  });

  describe('when the flags only resemble a rule', () => {
    it('selects nothing: no subset, superset or regexp reading', () => {
      assert.equal(selectPolicy({ rules: RULES, trust: { certificateIdentity: 'a@x' } }), undefined);
      assert.equal(
        selectPolicy({
          rules: RULES,
          trust: { certificateIdentity: 'a@x', certificateOidcIssuer: 'https://i', key: '/k.pub' },
        }),
        undefined,
      );
      assert.equal(
        selectPolicy({
          rules: RULES,
          trust: { certificateIdentityRegexp: 'a@x', certificateOidcIssuer: 'https://i' },
        }),
        undefined,
      );
      assert.equal(selectPolicy({ rules: RULES, trust: {} }), undefined);
    });
  });

  describe('when a policy is named explicitly', () => {
    it('prefers --policy, then COUNTERSIGN_POLICY, over the map', () => {
      const trust = { key: '/k.pub' };
      assert.deepEqual(selectPolicy({ flag: 'f', environment: 'e', rules: RULES, trust }), {
        policy: 'f',
        source: 'flag',
      });
      assert.deepEqual(selectPolicy({ environment: 'e', rules: RULES, trust }), {
        policy: 'e',
        source: 'environment',
      });
      assert.deepEqual(selectPolicy({ environment: '', rules: RULES, trust }), {
        policy: 'pk',
        source: 'map',
      });
    });
  });
});
