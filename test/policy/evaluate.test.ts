import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CountersignError } from '../../src/errors.ts';
import { evaluatePolicies } from '../../src/policy/index.ts';
import type { BoundPolicy, Decision, EvaluationInput, Policy, PolicySigner } from '../../src/policy/index.ts';
import type { SignatureCandidate, SignerTrust } from '../../src/verify/types.ts';
import { DIGEST, badSig, bind, certSig, certTrust, fakeCheck, keyPolicy, keySig, keyTrust } from './fakes.ts';

const IMAGE = 'registry.example/vendor/algo';

function evaluate(
  policies: readonly BoundPolicy[],
  candidates: readonly SignatureCandidate[],
  extra: Partial<EvaluationInput> = {},
): Decision {
  return evaluatePolicies({ image: IMAGE, digest: DIGEST, candidates, policies, check: fakeCheck, ...extra });
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((x, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [x, ...rest]),
  );
}

/** Two keyless signers whose identity matchers both accept qa@h.example (accepted as unsafe). */
function overlappingCertPolicy(): BoundPolicy {
  const signer = (name: string): PolicySigner => ({
    kind: 'keyless',
    name,
    trustRoot: 'priv',
    identity: { regexp: '.*@h\\.example' },
    issuer: { exact: 'sso' },
    tlog: 'required',
    annotations: {},
  });
  const policy: Policy = {
    ...keyPolicy('overlap', []),
    signers: [signer('qa'), signer('release')],
    threshold: 2,
    allowUnsafeOverlappingSigners: true,
  };
  const trust = certTrust({ subjectRegExp: '.*@h\\.example' }, 'sso');
  return bind(policy, { qa: trust, release: trust });
}

describe('evaluatePolicies', () => {
  describe('when every signer has signed', () => {
    it('allows and names the signers and their signatures', () => {
      const d = evaluate(
        [bind(keyPolicy('p', ['vendor-release', 'hospital-qa']))],
        [keySig('s1', 'vendor-release'), keySig('s2', 'hospital-qa')],
      );
      assert.equal(d.allowed, true);
      assert.equal(d.code, null);
      assert.equal(d.explanation, 'allowed: 2 of 2 signers (vendor-release, hospital-qa)');
      const outcome = d.policies[0]!;
      assert.equal(outcome.passed, true);
      assert.equal(outcome.contentHash, 'sha256:p');
      assert.equal(outcome.satisfied, 2);
      assert.deepEqual(outcome.signers[0]!.by, {
        signatureId: 's1',
        identity: { kind: 'key', fingerprint: 'vendor-release' },
        identityKey: 'key:vendor-release',
      });
      // The other key's signature failed against this signer: recorded with its code.
      assert.deepEqual(outcome.signers[0]!.reasons, [
        { signatureId: 's2', code: 'SIGNATURE_INVALID', detail: 'signed by hospital-qa' },
      ]);
    });
  });

  describe('when the same key signed twice', () => {
    it('counts it once toward the threshold', () => {
      const d = evaluate([bind(keyPolicy('p', ['a', 'b']))], [keySig('s1', 'a'), keySig('s2', 'a')]);
      assert.equal(d.allowed, false);
      assert.equal(d.code, 'THRESHOLD_NOT_MET');
      assert.equal(d.policies[0]?.satisfied, 1);
      assert.equal(d.explanation, 'denied: 1 of 2 signers needed (satisfied: a; not satisfied: b)');
    });
    it('satisfies only one of two signers naming the same key', () => {
      const policy = keyPolicy('p', ['a', 'a2'], { allowUnsafeOverlappingSigners: true });
      const d = evaluate([bind(policy, { a2: keyTrust('a') })], [keySig('s1', 'a'), keySig('s2', 'a')]);
      assert.equal(d.allowed, false);
      assert.equal(d.policies[0]?.satisfied, 1);
      const loser = d.policies[0].signers.find((s) => !s.satisfied)!;
      assert.equal(loser.reasons[0]!.code, 'NOT_APPLICABLE');
      assert.match(loser.reasons[0]!.detail, /already counts for signer/u);
    });
  });

  describe('when one certificate identity matches two signers', () => {
    it('satisfies only one of them, however many signatures it made', () => {
      const d = evaluate(
        [overlappingCertPolicy()],
        [certSig('s1', 'qa@h.example', 'sso'), certSig('s2', 'qa@h.example', 'sso')],
      );
      assert.equal(d.allowed, false);
      assert.equal(d.policies[0]?.satisfied, 1);
    });
    it('is satisfied by two distinct identities', () => {
      const d = evaluate(
        [overlappingCertPolicy()],
        [certSig('s1', 'qa@h.example', 'sso'), certSig('s2', 'rel@h.example', 'sso')],
      );
      assert.equal(d.allowed, true);
      assert.equal(d.policies[0]?.satisfied, 2);
    });
  });

  describe('when candidates and signers come in another order', () => {
    it('gives the same decision', () => {
      const fps = ['a', 'b', 'c'];
      const candidates = [keySig('s1', 'a'), keySig('s2', 'a'), keySig('s3', 'c'), badSig('s4')];
      const decide = (signerOrder: readonly string[], candOrder: readonly SignatureCandidate[]): Decision => {
        const policy = keyPolicy('p', signerOrder, { threshold: 2, required: ['c'] });
        return evaluate([bind(policy)], candOrder);
      };
      const reference = decide(fps, candidates);
      assert.equal(reference.allowed, true);
      // Only the listing order of signers (policy file order) may differ.
      const normalise = (d: Decision): unknown => ({
        ...d,
        explanation: '',
        policies: d.policies.map((p) => ({
          ...p,
          explanation: '',
          signers: [...p.signers].sort((x, y) => x.name.localeCompare(y.name)),
        })),
      });
      for (const so of permutations(fps)) {
        for (const co of permutations(candidates)) {
          assert.deepEqual(normalise(decide(so, co)), normalise(reference));
        }
      }
    });
    it('finds the matching that covers a required signer where a greedy pass would not', () => {
      // Identity qa@h.example verifies for both signers; only "release" is required.
      const base = overlappingCertPolicy();
      for (const signers of permutations(base.policy.signers)) {
        const policy: Policy = { ...base.policy, signers, threshold: 1, required: ['release'] };
        const d = evaluate([{ policy, trust: base.trust }], [certSig('s1', 'qa@h.example', 'sso')]);
        assert.equal(d.allowed, true, `order ${signers.map((s) => s.name).join(',')}`);
        assert.equal(d.policies[0]?.signers.find((s) => s.name === 'release')?.satisfied, true);
      }
    });
  });

  describe('when a required signer is missing', () => {
    it('denies with REQUIRED_SIGNER_MISSING even above the threshold', () => {
      const policy = keyPolicy('p', ['vendor-release', 'hospital-qa', 'security'], {
        threshold: 2,
        required: ['vendor-release', 'hospital-qa'],
      });
      const d = evaluate([bind(policy)], [keySig('s1', 'vendor-release'), keySig('s2', 'security')]);
      assert.equal(d.allowed, false);
      assert.equal(d.code, 'REQUIRED_SIGNER_MISSING');
      assert.equal(d.explanation, 'denied: 1 of 2 required signers (missing: hospital-qa)');
    });
  });

  describe('when the threshold is below the number of signers', () => {
    it('allows with enough signers and says how many were needed', () => {
      const policy = keyPolicy('p', ['a', 'b', 'c'], { threshold: 2 });
      const d = evaluate([bind(policy)], [keySig('s1', 'a'), keySig('s2', 'c')]);
      assert.equal(d.allowed, true);
      assert.equal(d.explanation, 'allowed: 2 of 3 signers, 2 needed (a, c)');
    });
  });

  describe('when there are no signatures', () => {
    it('denies with NO_SIGNATURES', () => {
      const d = evaluate([bind(keyPolicy('p', ['a']))], []);
      assert.equal(d.allowed, false);
      assert.equal(d.code, 'NO_SIGNATURES');
      assert.equal(d.explanation, 'denied: no signatures found (0 of 1 signers needed)');
      assert.deepEqual(d.policies[0]?.signers[0]?.reasons, [
        { signatureId: null, code: 'NO_SIGNATURES', detail: 'no signatures found for the image' },
      ]);
    });
  });

  describe('when a policy is in warn mode', () => {
    it('allows but reports what would have been denied', () => {
      const d = evaluate([bind(keyPolicy('p', ['a', 'b'], { mode: 'warn' }))], [keySig('s1', 'a')]);
      assert.equal(d.allowed, true);
      assert.equal(d.code, 'THRESHOLD_NOT_MET');
      assert.equal(d.policies[0]?.passed, false);
      assert.equal(
        d.explanation,
        'allowed (warn mode, would be denied: 1 of 2 signers needed (satisfied: a; not satisfied: b))',
      );
      assert.deepEqual(d.warnings, [
        'policy p (warn mode) would deny: denied: 1 of 2 signers needed (satisfied: a; not satisfied: b)',
      ]);
    });
    it('does not soften an enforcing policy that also matches', () => {
      const d = evaluate(
        [bind(keyPolicy('warned', ['a', 'b'], { mode: 'warn' })), bind(keyPolicy('enforced', ['b']))],
        [keySig('s1', 'a')],
      );
      assert.equal(d.allowed, false);
      assert.equal(d.code, 'THRESHOLD_NOT_MET');
      assert.equal(
        d.explanation,
        'denied by 2 policies (enforced: denied: 0 of 1 signers needed (not satisfied: b); ' +
          'warned: warn mode, would be denied: 1 of 2 signers needed (satisfied: a; not satisfied: b))',
      );
    });
  });

  describe('when several policies match', () => {
    it('requires every one of them to pass', () => {
      const d = evaluate([bind(keyPolicy('one', ['a'])), bind(keyPolicy('two', ['b']))], [keySig('s1', 'a')]);
      assert.equal(d.allowed, false);
      assert.deepEqual(
        d.policies.map((p) => [p.name, p.passed]),
        [
          ['one', true],
          ['two', false],
        ],
      );
    });
    it('checks each candidate once per trust shared between policies', () => {
      const trust = keyTrust('a');
      const d = evaluate(
        [bind(keyPolicy('one', ['a']), { a: trust }), bind(keyPolicy('two', ['a']), { a: trust })],
        [keySig('s1', 'a'), keySig('s2', 'x')],
      );
      assert.equal(d.allowed, true);
      assert.equal(d.checksRun, 2);
    });
  });

  describe('when no policy matches the image', () => {
    it('denies with NO_MATCHING_POLICY', () => {
      const d = evaluate(
        [bind(keyPolicy('p', ['a'], { images: ['other.example/**'] }))],
        [keySig('s1', 'a')],
      );
      assert.equal(d.allowed, false);
      assert.equal(d.code, 'NO_MATCHING_POLICY');
      assert.deepEqual(d.policies, []);
      assert.equal(d.explanation, `denied: no policy matches ${IMAGE} and there is no default policy`);
    });
    it('falls back to the default policy when there is one', () => {
      const d = evaluate(
        [
          bind(keyPolicy('p', ['a'], { images: ['other.example/**'] })),
          bind(keyPolicy('fallback', ['b'], { images: [], isDefault: true })),
        ],
        [keySig('s1', 'b')],
      );
      assert.equal(d.allowed, true);
      assert.equal(d.usedDefaultPolicy, true);
      assert.deepEqual(
        d.policies.map((p) => p.name),
        ['fallback'],
      );
    });
    it('does not use the default policy when another policy matches', () => {
      const d = evaluate(
        [bind(keyPolicy('p', ['a'])), bind(keyPolicy('fallback', ['b'], { images: [], isDefault: true }))],
        [keySig('s1', 'b')],
      );
      assert.equal(d.allowed, false);
      assert.equal(d.usedDefaultPolicy, false);
      assert.deepEqual(
        d.policies.map((p) => p.name),
        ['p'],
      );
    });
  });

  describe('when a prefilter says a candidate cannot belong to a signer', () => {
    it('skips the check and says so when nothing was left', () => {
      const mayBelong = (c: SignatureCandidate, t: SignerTrust): boolean =>
        t.kind === 'key' &&
        c.format === 'cosign-legacy' &&
        c.annotations['test/fingerprint'] === t.key.fingerprint;
      const candidates = [keySig('s1', 'a'), keySig('s2', 'b'), keySig('s3', 'c')];
      const d = evaluate([bind(keyPolicy('p', ['a', 'b', 'z'], { threshold: 2 }))], candidates, {
        mayBelong,
      });
      assert.equal(d.allowed, true);
      assert.equal(d.checksRun, 2);
      assert.deepEqual(d.policies[0]?.signers[2]?.reasons, [
        {
          signatureId: null,
          code: 'NOT_APPLICABLE',
          detail: 'none of the 3 signatures can belong to this signer',
        },
      ]);
    });
  });

  describe('when the check throws', () => {
    it('counts the signature as failed with the thrown code', () => {
      const check = (): never => {
        throw new CountersignError('TLOG_INVALID', 'boom');
      };
      const d = evaluate([bind(keyPolicy('p', ['a']))], [keySig('s1', 'a')], { check });
      assert.equal(d.allowed, false);
      assert.deepEqual(d.policies[0]?.signers[0]?.reasons, [
        { signatureId: 's1', code: 'TLOG_INVALID', detail: 'boom' },
      ]);
    });
  });

  describe('when a signer has no trust material bound', () => {
    it('throws INTERNAL rather than guess', () => {
      const policy = keyPolicy('p', ['a']);
      assert.throws(
        () => evaluate([{ policy, trust: new Map() }], [keySig('s1', 'a')]),
        (e: unknown) => e instanceof CountersignError && e.code === 'INTERNAL',
      );
    });
  });
});
