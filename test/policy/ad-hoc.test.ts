import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CountersignError } from '../../src/errors.ts';
import { adHocPolicy, evaluatePolicies } from '../../src/policy/index.ts';
import { DIGEST, bind, fakeCheck, keySig } from './fakes.ts';

const isPolicyInvalid = (pattern: RegExp) => (e: unknown) =>
  e instanceof CountersignError && e.code === 'POLICY_INVALID' && pattern.test(e.message);

describe('adHocPolicy', () => {
  describe('when given keys', () => {
    it('builds one key signer per key, all required by default', () => {
      const p = adHocPolicy({
        keys: [
          { name: 'a.pub', fingerprint: 'a' },
          { name: 'b.pub', fingerprint: 'b' },
        ],
        annotations: { stage: 'prod' },
      });
      assert.deepEqual(
        p.signers.map((s) => [s.kind, s.name, s.tlog, s.annotations]),
        [
          ['key', 'a.pub', 'optional', { stage: 'prod' }],
          ['key', 'b.pub', 'optional', { stage: 'prod' }],
        ],
      );
      assert.equal(p.threshold, 2);
      assert.equal(p.source, 'ad-hoc');
      assert.match(p.contentHash, /^sha256:[0-9a-f]{64}$/u);
    });
    it('records the same content hash for the same flags', () => {
      const a = adHocPolicy({ keys: [{ name: 'a.pub', fingerprint: 'a' }], annotations: { x: '1', y: '2' } });
      const b = adHocPolicy({ keys: [{ name: 'a.pub', fingerprint: 'a' }], annotations: { y: '2', x: '1' } });
      const c = adHocPolicy({ keys: [{ name: 'a.pub', fingerprint: 'a' }], annotations: { x: '1' } });
      assert.equal(a.contentHash, b.contentHash);
      assert.notEqual(a.contentHash, c.contentHash);
    });
    it('is evaluated by the same path as policy files', () => {
      const p = adHocPolicy({
        keys: [
          { name: 'a', fingerprint: 'a' },
          { name: 'b', fingerprint: 'b' },
        ],
        threshold: 1,
      });
      const d = evaluatePolicies({
        image: 'any.example/thing',
        digest: DIGEST,
        candidates: [keySig('s1', 'b')],
        policies: [bind(p)],
        check: fakeCheck,
      });
      assert.equal(d.allowed, true);
      assert.equal(d.explanation, 'allowed: 1 of 2 signers, 1 needed (b)');
    });
  });

  describe('when the flags make a bad policy', () => {
    it('rejects the same key given twice under two names', () => {
      assert.throws(
        () =>
          adHocPolicy({
            keys: [
              { name: 'a.pub', fingerprint: 'f' },
              { name: 'copy.pub', fingerprint: 'f' },
            ],
          }),
        isPolicyInvalid(/are the same key/u),
      );
    });
    it('rejects a threshold above the number of keys', () => {
      assert.throws(
        () => adHocPolicy({ keys: [{ name: 'a.pub', fingerprint: 'f' }], threshold: 2 }),
        isPolicyInvalid(/^ad-hoc: threshold: must be between 1 and/u),
      );
    });
    it('rejects no signer at all', () => {
      assert.throws(() => adHocPolicy({}), isPolicyInvalid(/no key or certificate given/u));
    });
    it('rejects tlog required without a trust root for the keys', () => {
      assert.throws(
        () => adHocPolicy({ keys: [{ name: 'a.pub', fingerprint: 'f' }], tlog: 'required' }),
        isPolicyInvalid(/needs trustRoot/u),
      );
    });
  });

  describe('when given certificate identities', () => {
    it('makes keyless signers with an issuer and certificate signers without', () => {
      const p = adHocPolicy({
        certificates: [
          { trustRoot: 'public', identity: { exact: 'qa@h.example' }, issuer: { exact: 'https://sso' } },
          { name: 'corp', trustRoot: 'corp', identity: { regexp: '.*@corp\\.example' } },
        ],
        trustRoot: (n) =>
          n === 'corp' ? { caOnly: true, hasTlogs: false } : { caOnly: false, hasTlogs: true },
      });
      assert.deepEqual(
        p.signers.map((s) => [s.kind, s.name, s.tlog]),
        [
          ['keyless', 'certificate-1', 'required'],
          ['certificate', 'corp', 'optional'],
        ],
      );
    });
    it('rejects an unknown trust root', () => {
      assert.throws(
        () =>
          adHocPolicy({
            certificates: [{ trustRoot: 'nowhere', identity: { exact: 'x' }, issuer: { exact: 'y' } }],
          }),
        isPolicyInvalid(/unknown trust root "nowhere"/u),
      );
    });
  });
});
