/**
 * N-of-M evaluation end to end over real cryptography: policies go through the real parser and
 * load-time checks, are bound to real keys and a real CA-only trust root, and every candidate is
 * checked by the real checkSignature. Keys are node:crypto ECDSA P-256; certificates come from an
 * in-process CA (test/support/virtual-sigstore.ts). Signatures are legacy cosign ones: a
 * simple-signing payload naming a digest, signed over its exact bytes.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { bindPolicy, policyResolver } from '../../src/config/load.ts';
import { CountersignError } from '../../src/errors.ts';
import { evaluatePolicies, parsePolicy } from '../../src/policy/index.ts';
import type { BoundPolicy, Decision, Policy } from '../../src/policy/index.ts';
import { createTrustedRoot, parseTrustedRoot } from '../../src/trust/index.ts';
import type { TrustRoot } from '../../src/trust/index.ts';
import { trustAnchorsFromRoot } from '../../src/verify/anchors.ts';
import { checkSignature } from '../../src/verify/check-signature.ts';
import { publicKeyMaterial } from '../../src/verify/keys.ts';
import type {
  LegacyCosignSignature,
  PublicKeyMaterial,
  SignatureCandidate,
  TrustAnchors,
} from '../../src/verify/types.ts';
import { IMAGE_DIGEST, OTHER_DIGEST, makeKey, payloadBytes, signWith } from '../verify/fixtures.ts';
import type { TestKey } from '../verify/fixtures.ts';
import { VirtualSigstore, createCertificateAuthority, derOf, pem } from '../support/virtual-sigstore.ts';
import type { Leaf } from '../support/virtual-sigstore.ts';

const IMAGE = 'registry.example/vendor/algo';
const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

// ---------------------------------------------------------------------------------------------
// Fixtures: three keys, a CA-only trust root, certificates for two identities and a stranger's.

const keys = new Map<string, PublicKeyMaterial>();
const roots = new Map<string, TrustRoot>();
const anchors = new Map<string, TrustAnchors>();
const signers: Record<'alice' | 'bob' | 'carol', TestKey> = {} as Record<'alice' | 'bob' | 'carol', TestKey>;
let qaLeaf: Leaf;
let vendorQaLeaf: Leaf;
let untrustedLeaf: Leaf;

before(async () => {
  for (const name of ['alice', 'bob', 'carol'] as const) {
    const key = makeKey('p256');
    signers[name] = key;
    keys.set(`${name}.pub`, publicKeyMaterial(key.publicKey, `${name}.pub`));
  }
  // The same key under a second file name: a policy naming both must be refused at load time.
  keys.set('alice-copy.pub', publicKeyMaterial(signers.alice.publicKey, 'alice-copy.pub'));

  const sigstore = await VirtualSigstore.create();
  const chain = [sigstore.ca.intermediate, sigstore.ca.root].map((c) => pem('CERTIFICATE', derOf(c)));
  const root = parseTrustedRoot(createTrustedRoot({ caChainPem: chain.join('') }), 'hospital-ca');
  assert.equal(root.caOnly, true);
  roots.set('hospital-ca', root);
  anchors.set('hospital-ca', trustAnchorsFromRoot(root));
  const corporate = { issuer: null, sct: false } as const;
  qaLeaf = await sigstore.issueLeaf({ ...corporate, email: 'qa@hospital.example' });
  vendorQaLeaf = await sigstore.issueLeaf({ ...corporate, email: 'qa@vendor.example' });
  const stranger = await createCertificateAuthority('stranger');
  untrustedLeaf = await sigstore.issueLeaf({ ...corporate, email: 'qa@hospital.example', ca: stranger });
});

/** A legacy cosign signature by a key over a payload naming `digest`. */
function keySig(
  id: string,
  key: TestKey,
  opts: { digest?: string; optional?: Record<string, string> | null } = {},
): LegacyCosignSignature {
  const payload = payloadBytes(opts.digest ?? IMAGE_DIGEST, opts.optional ?? null);
  const signature = signWith(key, payload, 'sha256');
  return {
    format: 'cosign-legacy',
    id,
    payload,
    signature,
    annotations: { [SIGNATURE_ANNOTATION]: Buffer.from(signature).toString('base64') },
  };
}

/** A legacy cosign keyless-style signature: the certificate annotation holds the leaf. */
function certSig(id: string, leaf: Leaf, digest: string = IMAGE_DIGEST): LegacyCosignSignature {
  const payload = payloadBytes(digest);
  const signature = new Uint8Array(sign('sha256', payload, leaf.keys.privateKey));
  const certificatePem = pem('CERTIFICATE', leaf.der);
  return {
    format: 'cosign-legacy',
    id,
    payload,
    signature,
    certificatePem,
    annotations: {
      [SIGNATURE_ANNOTATION]: Buffer.from(signature).toString('base64'),
      'dev.sigstore.cosign/certificate': certificatePem,
      'dev.sigstore.cosign/chain': '',
    },
  };
}

/** A policy file through the real parser and load-time checks, bound to the loaded trust. */
function policy(yaml: string, file = 'policy.yaml'): BoundPolicy {
  const p: Policy = parsePolicy(file, new TextEncoder().encode(yaml), policyResolver(keys, roots));
  return bindPolicy(p, keys, anchors);
}

function evaluate(policies: readonly BoundPolicy[], candidates: readonly SignatureCandidate[]): Decision {
  return evaluatePolicies({
    image: IMAGE,
    digest: IMAGE_DIGEST,
    candidates,
    policies,
    check: (candidate, signer) =>
      checkSignature(candidate, signer, { digest: IMAGE_DIGEST, repository: IMAGE }, { now: new Date() }),
  });
}

const TWO_OF_THREE = `name: two-of-three
images: ["registry.example/vendor/**"]
signers:
  - { name: alice, key: alice.pub }
  - { name: bob, key: bob.pub }
  - { name: carol, key: carol.pub }
threshold: 2
`;

/** Every reason code recorded for a signer of the first policy. */
function reasonCodes(d: Decision, signer: string): string[] {
  const s = d.policies[0]?.signers.find((x) => x.name === signer);
  return (s?.reasons ?? []).map((r) => r.code);
}

function satisfiedSigners(d: Decision): string[] {
  return (d.policies[0]?.signers ?? []).filter((s) => s.satisfied).map((s) => s.name);
}

function assertPolicyInvalid(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CountersignError);
    assert.equal(e.code, 'POLICY_INVALID');
    assert.match(e.message, message);
    return true;
  });
}

describe('evaluatePolicies with real signatures', () => {
  describe('when a 2-of-3 key policy is signed by two of its signers', () => {
    const pairs = [
      ['alice', 'bob'],
      ['alice', 'carol'],
      ['bob', 'carol'],
    ] as const;
    for (const pair of pairs) {
      it(`allows ${pair.join(' + ')} and names exactly them`, () => {
        const d = evaluate(
          [policy(TWO_OF_THREE)],
          pair.map((name, i) => keySig(`sig#${i}`, signers[name])),
        );
        assert.equal(d.allowed, true);
        assert.equal(d.code, null);
        assert.equal(d.explanation, `allowed: 2 of 3 signers, 2 needed (${pair.join(', ')})`);
        assert.deepEqual(satisfiedSigners(d), [...pair]);
        const p = d.policies[0];
        assert.ok(p);
        assert.equal(p.satisfied, 2);
        for (const s of p.signers) {
          if (!s.satisfied) continue;
          const material = keys.get(`${s.name}.pub`);
          assert.equal(s.by?.identityKey, `key:${material?.fingerprint ?? ''}`);
        }
      });
    }

    it('allows all three as 3 of 3, whatever order the signatures come in', () => {
      const sigs = [
        keySig('sig#0', signers.alice),
        keySig('sig#1', signers.bob),
        keySig('sig#2', signers.carol),
      ];
      const first = evaluate([policy(TWO_OF_THREE)], sigs);
      assert.equal(first.explanation, 'allowed: 3 of 3 signers, 2 needed (alice, bob, carol)');
      const reversed = evaluate([policy(TWO_OF_THREE)], [...sigs].reverse());
      assert.deepEqual(reversed, first);
    });
  });

  describe('when only one of three signers has signed', () => {
    for (const name of ['alice', 'bob', 'carol'] as const) {
      it(`denies ${name} alone with THRESHOLD_NOT_MET`, () => {
        const d = evaluate([policy(TWO_OF_THREE)], [keySig('sig#0', signers[name])]);
        assert.equal(d.allowed, false);
        assert.equal(d.code, 'THRESHOLD_NOT_MET');
        const others = (['alice', 'bob', 'carol'] as const).filter((n) => n !== name);
        assert.equal(
          d.explanation,
          `denied: 1 of 2 signers needed (satisfied: ${name}; not satisfied: ${others.join(', ')})`,
        );
        // The others' checks ran and failed for a cryptographic reason.
        for (const other of others) assert.deepEqual(reasonCodes(d, other), ['SIGNATURE_INVALID']);
      });
    }

    it('denies an image with no signatures at all with NO_SIGNATURES', () => {
      const d = evaluate([policy(TWO_OF_THREE)], []);
      assert.equal(d.allowed, false);
      assert.equal(d.code, 'NO_SIGNATURES');
      assert.equal(d.explanation, 'denied: no signatures found (0 of 2 signers needed)');
    });
  });

  describe('when a required signer is missing but the threshold is met', () => {
    it('denies bob + carol under required: [alice] with REQUIRED_SIGNER_MISSING', () => {
      const d = evaluate(
        [policy(`${TWO_OF_THREE}required: [alice]\n`)],
        [keySig('sig#0', signers.bob), keySig('sig#1', signers.carol)],
      );
      assert.equal(d.allowed, false);
      assert.equal(d.code, 'REQUIRED_SIGNER_MISSING');
      assert.equal(d.explanation, 'denied: 0 of 1 required signers (missing: alice)');
      assert.equal(d.policies[0]?.satisfied, 2);
    });

    it('allows alice + bob under the same policy', () => {
      const d = evaluate(
        [policy(`${TWO_OF_THREE}required: [alice]\n`)],
        [keySig('sig#0', signers.alice), keySig('sig#1', signers.bob)],
      );
      assert.equal(d.allowed, true);
      assert.equal(d.explanation, 'allowed: 2 of 3 signers, 2 needed (alice, bob)');
    });
  });

  describe('when the same key signed twice', () => {
    it('counts it once: two alice signatures do not meet a threshold of 2', () => {
      const d = evaluate(
        [policy(TWO_OF_THREE)],
        [keySig('sig#0', signers.alice), keySig('sig#1', signers.alice, { optional: { again: 'yes' } })],
      );
      assert.equal(d.allowed, false);
      assert.equal(d.code, 'THRESHOLD_NOT_MET');
      assert.equal(
        d.explanation,
        'denied: 1 of 2 signers needed (satisfied: alice; not satisfied: bob, carol)',
      );
      assert.equal(d.policies[0]?.signers[0]?.by?.signatureId, 'sig#0');
    });

    it('refuses at load time a policy naming one key under two file names (POLICY_INVALID)', () => {
      assertPolicyInvalid(
        () =>
          policy(
            'name: p\nimages: ["registry.example/**"]\nsigners:\n  - { name: a, key: alice.pub }\n  - { name: b, key: alice-copy.pub }\nthreshold: 2\n',
          ),
        /policy\.yaml:5: signers\[1\]: signers "a" and "b" could be satisfied by one identity \(keys alice\.pub and alice-copy\.pub are the same key\)/,
      );
    });
  });

  describe('when one certificate identity matches two signers’ patterns', () => {
    const overlapping = (unsafe: boolean): string =>
      `name: qa-overlap
images: ["registry.example/**"]
signers:
  - name: hospital
    certificate: { trustRoot: hospital-ca, identityRegexp: '.*@hospital\\.example' }
  - name: any-qa
    certificate: { trustRoot: hospital-ca, identityRegexp: 'qa@.*' }
threshold: 2
${unsafe ? 'allowUnsafeOverlappingSigners: true\n' : ''}`;

    it('refuses the policy at load time (POLICY_INVALID naming both signers)', () => {
      assertPolicyInvalid(
        () => policy(overlapping(false)),
        /policy\.yaml:6: signers\[1\]: signers "hospital" and "any-qa" could be satisfied by one identity/,
      );
    });

    it('with allowUnsafeOverlappingSigners, still counts the identity once (THRESHOLD_NOT_MET)', () => {
      const bound = policy(overlapping(true));
      const d = evaluate([bound], [certSig('sig#0', qaLeaf), certSig('sig#1', qaLeaf)]);
      assert.equal(d.allowed, false);
      assert.equal(d.code, 'THRESHOLD_NOT_MET');
      const outcome = d.policies[0];
      assert.ok(outcome);
      assert.equal(outcome.satisfied, 1);
      // Ties go to the first signer by name, so the answer never depends on discovery order.
      const [hospital, anyQa] = outcome.signers;
      assert.ok(hospital && anyQa);
      assert.equal(anyQa.by?.identityKey, 'cert:["qa@hospital.example",null]');
      assert.equal(hospital.satisfied, false);
      assert.ok(
        hospital.reasons.some(
          (r) => r.code === 'NOT_APPLICABLE' && /already counts for signer any-qa/.test(r.detail),
        ),
      );
      assert.equal(
        d.explanation,
        'denied: 1 of 2 signers needed (satisfied: any-qa; not satisfied: hospital)',
      );
    });

    it('with allowUnsafeOverlappingSigners, a second identity fills the other signer (maximum matching)', () => {
      // qa@vendor matches only any-qa, so qa@hospital must go to hospital: order must not matter.
      const sigs = [certSig('a', vendorQaLeaf), certSig('b', qaLeaf)];
      for (const candidates of [sigs, [...sigs].reverse()]) {
        const d = evaluate([policy(overlapping(true))], candidates);
        assert.equal(d.allowed, true, d.explanation);
        assert.equal(d.explanation, 'allowed: 2 of 2 signers (hospital, any-qa)');
      }
    });
  });

  describe('when a certificate signer and a key signer share a policy', () => {
    const mixed = `name: mixed
images: ["registry.example/**"]
signers:
  - { name: vendor, key: alice.pub }
  - name: qa
    certificate: { trustRoot: hospital-ca, identity: qa@hospital.example }
`;

    it('allows a key signature and a certificate from the trusted CA', () => {
      const d = evaluate([policy(mixed)], [keySig('k', signers.alice), certSig('c', qaLeaf)]);
      assert.equal(d.allowed, true, d.explanation);
      assert.equal(d.explanation, 'allowed: 2 of 2 signers (vendor, qa)');
    });

    it('denies a certificate for the right identity from an untrusted CA (CERTIFICATE_CHAIN_INVALID)', () => {
      const d = evaluate([policy(mixed)], [keySig('k', signers.alice), certSig('c', untrustedLeaf)]);
      assert.equal(d.allowed, false);
      assert.equal(d.code, 'THRESHOLD_NOT_MET');
      assert.ok(reasonCodes(d, 'qa').includes('CERTIFICATE_CHAIN_INVALID'), reasonCodes(d, 'qa').join());
    });

    it('denies a trusted certificate for another identity (IDENTITY_MISMATCH)', () => {
      const d = evaluate([policy(mixed)], [keySig('k', signers.alice), certSig('c', vendorQaLeaf)]);
      assert.equal(d.allowed, false);
      assert.ok(reasonCodes(d, 'qa').includes('IDENTITY_MISMATCH'), reasonCodes(d, 'qa').join());
    });
  });

  describe('when a signature names another digest', () => {
    it('does not count it (PAYLOAD_DIGEST_MISMATCH) and denies with THRESHOLD_NOT_MET', () => {
      const d = evaluate(
        [policy(TWO_OF_THREE)],
        [keySig('sig#0', signers.alice, { digest: OTHER_DIGEST }), keySig('sig#1', signers.bob)],
      );
      assert.equal(d.allowed, false);
      assert.equal(d.code, 'THRESHOLD_NOT_MET');
      assert.equal(
        d.explanation,
        'denied: 1 of 2 signers needed (satisfied: bob; not satisfied: alice, carol)',
      );
      assert.ok(reasonCodes(d, 'alice').includes('PAYLOAD_DIGEST_MISMATCH'));
    });

    it('does not count a transplanted certificate signature either', () => {
      const d = evaluate(
        [
          policy(
            'name: qa\nimages: ["registry.example/**"]\nsigners:\n  - name: qa\n    certificate: { trustRoot: hospital-ca, identity: qa@hospital.example }\n',
          ),
        ],
        [certSig('c', qaLeaf, OTHER_DIGEST)],
      );
      assert.equal(d.allowed, false);
      assert.deepEqual(reasonCodes(d, 'qa'), ['PAYLOAD_DIGEST_MISMATCH']);
    });
  });

  describe('when a key signer requires an annotation', () => {
    const annotated = `name: annotated
images: ["registry.example/**"]
signers:
  - name: alice
    key: alice.pub
    annotations: { release: approved }
  - { name: bob, key: bob.pub }
threshold: 2
`;

    it('denies when alice’s only signature lacks it (ANNOTATION_MISMATCH in the reasons)', () => {
      const d = evaluate(
        [policy(annotated)],
        [keySig('sig#0', signers.alice, { optional: { release: 'draft' } }), keySig('sig#1', signers.bob)],
      );
      assert.equal(d.allowed, false);
      assert.equal(d.code, 'THRESHOLD_NOT_MET');
      assert.equal(d.explanation, 'denied: 1 of 2 signers needed (satisfied: bob; not satisfied: alice)');
      assert.ok(reasonCodes(d, 'alice').includes('ANNOTATION_MISMATCH'), reasonCodes(d, 'alice').join());
    });

    it('allows once alice signs with the annotation', () => {
      const d = evaluate(
        [policy(annotated)],
        [keySig('sig#0', signers.alice, { optional: { release: 'approved' } }), keySig('sig#1', signers.bob)],
      );
      assert.equal(d.allowed, true, d.explanation);
      assert.equal(d.explanation, 'allowed: 2 of 2 signers (alice, bob)');
    });
  });

  describe('when the policy is in warn mode', () => {
    it('allows a failing image but reports what would have been denied', () => {
      const d = evaluate([policy(`${TWO_OF_THREE}mode: warn\n`)], [keySig('sig#0', signers.carol)]);
      assert.equal(d.allowed, true);
      assert.equal(d.code, 'THRESHOLD_NOT_MET');
      assert.equal(
        d.explanation,
        'allowed (warn mode, would be denied: 1 of 2 signers needed (satisfied: carol; not satisfied: alice, bob))',
      );
      assert.deepEqual(d.warnings, [
        'policy two-of-three (warn mode) would deny: denied: 1 of 2 signers needed (satisfied: carol; not satisfied: alice, bob)',
      ]);
    });

    it('allows cleanly (code null, no warnings) when the warn policy passes', () => {
      const d = evaluate(
        [policy(`${TWO_OF_THREE}mode: warn\n`)],
        [keySig('sig#0', signers.carol), keySig('sig#1', signers.bob)],
      );
      assert.equal(d.allowed, true);
      assert.equal(d.code, null);
      assert.deepEqual(d.warnings, []);
    });
  });

  describe('when no policy pattern matches the image', () => {
    const other =
      'name: other\nimages: ["registry.example/other/**"]\nsigners:\n  - { name: bob, key: bob.pub }\n';
    const fallback = 'name: fallback\ndefault: true\nsigners:\n  - { name: alice, key: alice.pub }\n';

    it('applies the default policy and allows what it allows', () => {
      const d = evaluate([policy(other), policy(fallback)], [keySig('sig#0', signers.alice)]);
      assert.equal(d.allowed, true);
      assert.equal(d.usedDefaultPolicy, true);
      assert.deepEqual(
        d.policies.map((p) => p.name),
        ['fallback'],
      );
      assert.equal(d.explanation, 'allowed: 1 of 1 signers (alice)');
    });

    it('denies through the default policy what it does not allow (bob is not its signer)', () => {
      const d = evaluate([policy(other), policy(fallback)], [keySig('sig#0', signers.bob)]);
      assert.equal(d.allowed, false);
      assert.equal(d.usedDefaultPolicy, true);
      assert.equal(d.code, 'THRESHOLD_NOT_MET');
      assert.deepEqual(reasonCodes(d, 'alice'), ['SIGNATURE_INVALID']);
    });

    it('denies with NO_MATCHING_POLICY when there is no default policy', () => {
      const d = evaluate([policy(other)], [keySig('sig#0', signers.bob)]);
      assert.equal(d.allowed, false);
      assert.equal(d.code, 'NO_MATCHING_POLICY');
      assert.equal(d.explanation, `denied: no policy matches ${IMAGE} and there is no default policy`);
      assert.equal(d.checksRun, 0);
    });
  });

  describe('when two policies match and one of them fails', () => {
    const vendor =
      'name: vendor\nimages: ["registry.example/vendor/**"]\nsigners:\n  - { name: alice, key: alice.pub }\n';
    const hospital = `name: hospital
images: ["registry.example/**"]
signers:
  - { name: bob, key: bob.pub }
  - { name: carol, key: carol.pub }
threshold: 1
required: [carol]
`;

    it('denies: every matching policy must pass', () => {
      const d = evaluate(
        [policy(vendor, 'vendor.yaml'), policy(hospital, 'hospital.yaml')],
        [keySig('sig#0', signers.alice), keySig('sig#1', signers.bob)],
      );
      assert.equal(d.allowed, false);
      assert.equal(d.code, 'REQUIRED_SIGNER_MISSING');
      assert.equal(
        d.explanation,
        'denied by 2 policies (hospital: denied: 0 of 1 required signers (missing: carol); vendor: allowed: 1 of 1 signers (alice))',
      );
      assert.deepEqual(
        d.policies.map((p) => [p.name, p.passed]),
        [
          ['hospital', false],
          ['vendor', true],
        ],
      );
    });

    it('allows once both pass', () => {
      const d = evaluate(
        [policy(vendor, 'vendor.yaml'), policy(hospital, 'hospital.yaml')],
        [keySig('sig#0', signers.alice), keySig('sig#1', signers.carol)],
      );
      assert.equal(d.allowed, true, d.explanation);
      assert.equal(
        d.explanation,
        'allowed by 2 policies (hospital: allowed: 1 of 2 signers, 1 needed (carol); vendor: allowed: 1 of 1 signers (alice))',
      );
    });
  });
});
